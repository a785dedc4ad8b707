r"""Two-layer transformer of Li, Huang, Han, Zhou, Suzuki, Zhu, Chen, "On the Optimization and
Generalization of Two-layer Transformers with Sign Gradient Descent" (ICLR 2025, arXiv
2410.04870, Sec. 3): a softmax attention layer with trainable query, key and value weights
followed by a fixed linear layer. For one run, on X = [x^{(1)}, ..., x^{(L)}] (L, d):

    F_j(X) = \frac{1}{m_v} \sum_{l=1}^{L} \mathbf 1^T W_{V,j}^T X^T
             softmax(X W_K W_Q^T x^{(l)}),        j in {+1, -1},
    f(X) = F_{+1}(X) - F_{-1}(X),

W_Q, W_K (d, m_k), W_{V,j} (d, m_v) (stored stacked as W_V (2, d, m_v), j = +1 first); the
softmax runs over the L keys for each query x^{(l)}. The readout (the averaging over m_v value
neurons and the sign j) is fixed, as in the paper (recalled, not verified against its text;
nor are its widths and initialization). Init: all entries i.i.d. N(0, \sigma_0^2) from each run's
"init" stream. Taps: ``{"softmax": S}`` (n, L, L) with S[i, l, a] = s^{(i)}_{l a}, the weight
query l puts on key a (the paper's s_{i,la}; its Fig. 1 follows s_{i,11} and s_{i,21}).

The paper's quantities, on two-token data [y \mu, \xi] (:mod:`featlab.data.sparse_tokens`), are
the probe ``signgd_stages`` (:func:`stage_probes`), with \bar w_V = (1/m_v) \sum_r
(w_{V,+1,r} - w_{V,-1,r}) (d,) the mean value direction:

- ``s11``, ``s21``: mean over training samples of s_{i,11} (signal query -> signal key) and
  s_{i,21} (noise query -> signal key); ``s21_test`` the same on the test split;
- ``value_signal`` = <\bar w_V, \mu>, ``value_noise`` = mean_i y_i <\bar w_V, \xi_i> (the
  paper's mean value signal / noise), ``value_ratio`` = value_noise / |value_signal|;
- ``qk_noise_agree``: the fraction of (i, r) with sign <w_{Q,r}, \xi_i> = sign <w_{K,r}, \xi_i>
  (their Stage II: query and key noise align in sign; 1/2 at a random init);
- ``score_noise`` = mean_i \xi_i^T W_Q W_K^T \xi_i and ``score_signal`` = \mu^T W_Q W_K^T \mu
  (the pre-softmax self-scores; a memorized noise token attends to itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch.func import vmap

from featlab.config import _check, _finite
from featlab.rng import generator

__all__ = ["SignGDTransformer", "FAMILY", "init", "apply", "param_groups", "n_params",
           "STAGE_NAMES", "stage_probes"]


@dataclass(frozen=True)
class SignGDTransformer:
    """Softmax attention (W_Q, W_K, W_V trained) + fixed mean readout F_{+1} - F_{-1}
    (:mod:`featlab.models.signgd_transformer`)."""

    width_qk: int = 8
    width_v: int = 8
    sigma_0: float = 0.01
    kind: Literal["signgd_transformer"] = "signgd_transformer"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"sigma_0"})
    INPUT: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        for key in ("width_qk", "width_v"):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                   f"model.{key}", value, "use an integer width >= 1")
        _check(_finite(self.sigma_0) and self.sigma_0 >= 0, "model.sigma_0", self.sigma_0,
               "use a finite init scale sigma_0 >= 0")


def init(cfg: SignGDTransformer, run_keys: list[int], input_shape: tuple[int, ...],
         dtype: torch.dtype, out_dim: int = 1) -> dict[str, torch.Tensor]:
    """W_Q, W_K (P, d, m_k), W_V (P, 2, d, m_v), all ~ N(0, sigma_0^2)."""
    d = input_shape[-1]
    shapes = {"W_Q": (d, cfg.width_qk), "W_K": (d, cfg.width_qk), "W_V": (2, d, cfg.width_v)}
    out: dict[str, list[torch.Tensor]] = {k: [] for k in shapes}
    for seed in run_keys:
        g = generator(seed, "init")
        for k, shape in shapes.items():
            out[k].append(cfg.sigma_0 * torch.randn(*shape, generator=g, dtype=torch.float64))
    return {k: torch.stack(v).to(dtype) for k, v in out.items()}


def apply(cfg: SignGDTransformer, params: dict[str, torch.Tensor], x: torch.Tensor,
          taps: bool = False):
    """f for one run: x (n, L, d) -> f (n,); taps: {"softmax": S (n, L, L)}."""
    q, k = x @ params["W_Q"], x @ params["W_K"]                              # (n, L, m_k)
    S = torch.softmax(q @ k.transpose(1, 2), dim=-1)                        # (n, L query, L key)
    w = (params["W_V"][0] - params["W_V"][1]).mean(-1)                      # (d,) mean value dir
    v = x @ w                                                               # (n, L)
    f = (S @ v[..., None])[..., 0].sum(-1)                                  # (n,)
    return (f, {"softmax": S}) if taps else f


def param_groups(cfg: SignGDTransformer) -> dict[str, str]:
    """Query, key and value weights are trained, each its own group."""
    return {"W_Q": "W_Q", "W_K": "W_K", "W_V": "W_V"}


def n_params(cfg: SignGDTransformer, input_shape: tuple[int, ...]) -> int:
    d = input_shape[-1]
    return 2 * d * cfg.width_qk + 2 * d * cfg.width_v


#: names logged by :func:`stage_probes`, in order
STAGE_NAMES = ("s11", "s21", "s21_test", "value_signal", "value_noise", "value_ratio",
               "qk_noise_agree", "score_noise", "score_signal")


def stage_probes(ctx) -> dict[str, torch.Tensor]:
    """The paper's stage quantities (module docstring) for the logged runs (L on axis 0)."""
    fam, cfg = ctx.family, ctx.setting.model
    P = ctx.params
    one = lambda p, x: fam.apply(cfg, p, x, taps=True)[1]["softmax"]   # noqa: E731
    S, St = vmap(one)(P, ctx.data["X"]), vmap(one)(P, ctx.data["Xt"])        # (L, n, 2, 2)
    X, y = ctx.data["X"], ctx.data["y"]                                      # (L, n, 2, d), (L, n)
    mu = (X[:, :, 0] * y[..., None]).mean(1)                                 # (L, d)
    xi = X[:, :, 1]                                                          # (L, n, d)
    w = (P["W_V"][:, 0] - P["W_V"][:, 1]).mean(-1)                           # (L, d)
    vs = (w * mu).sum(-1)                                                    # (L,)
    vn = (y * torch.einsum("lnd,ld->ln", xi, w)).mean(1)                     # (L,)
    qn, kn = xi @ P["W_Q"], xi @ P["W_K"]                                    # (L, n, m_k)
    qm, km = torch.einsum("ld,ldk->lk", mu, P["W_Q"]), torch.einsum("ld,ldk->lk", mu, P["W_K"])
    return {"s11": S[:, :, 0, 0].mean(1), "s21": S[:, :, 1, 0].mean(1),
            "s21_test": St[:, :, 1, 0].mean(1), "value_signal": vs, "value_noise": vn,
            "value_ratio": vn / vs.abs(),
            "qk_noise_agree": (torch.sign(qn) == torch.sign(kn)).to(vs.dtype).mean((1, 2)),
            "score_noise": (qn * kn).sum(-1).mean(1), "score_signal": (qm * km).sum(-1)}


def _family():
    from featlab.models.family import Family
    return Family(config=SignGDTransformer, init=init, apply=apply, param_groups=param_groups,
                  n_params=n_params, probes=("signgd_stages",))


FAMILY = _family()
