r"""Token-selection attention (Sakamoto & Sato, "Benign Overfitting in Token Selection of
Attention Mechanism", ICML 2025, arXiv 2409.17625, Sec. 3), for one run (batched by vmap over P):

    s(X) = softmax(X W p) \in \Delta^{T-1},    f(X) = \sum_{t=1}^T s_t(X) <x_t, \nu>,

X (T, d) the tokens, W (d, d) the key-query matrix and p (d) the query (both trained), \nu (d) a
fixed linear head. As in the official code (``keitaroskmt/benign-attention``, ``main.py``):
W ~ U(-1/\sqrt d, 1/\sqrt d) (PyTorch's ``kaiming_uniform_(a=\sqrt 5)``; ``init="normal"`` draws
N(0, 1/d) instead), p = 0 (uniform attention at the start), \nu = \nu_norm (e_1 - e_2)/\sqrt 2,
which with the class signals \mu_{+1} = ||\mu|| e_1, \mu_{-1} = ||\mu|| e_2 of
:mod:`featlab.data.tokens` is (\mu_1 - \mu_2)/||\mu_1 - \mu_2|| \nu_norm; the paper and the code
take \nu_norm = 1/||\mu|| (<\mu_y, \nu> = y/\sqrt 2 at every ||\mu||). ``init_scale`` multiplies W.

\nu lives in the parameter dict (key ``nu``) but in no parameter group: the engine never trains
it. Taps: ``{"attn": s}`` (n, T), the softmax probabilities the attention probes read.

The batched gradient (:func:`vjp`, the generic engine's analytic path): with q = W p, logits
z_{i,t} = <x_{i,t}, q>, values v_{i,t} = <x_{i,t}, \nu>, s_i = softmax(z_i) and a cotangent
g_i = \partial L / \partial f_i (the task's, :mod:`featlab.train.analytic`),

    \partial L / \partial z_{i,t} = a_{i,t} = g_i s_{i,t} (v_{i,t} - f_i),
    u = \sum_{i,t} a_{i,t} x_{i,t} = \partial L / \partial q,
    \nabla_W L = u p^T,    \nabla_p L = W^T u,

two passes over X per step (z and v in one, u in the other) and two matrix-vector products with
W; X W is never formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite
from featlab.rng import generator

__all__ = ["TokenAttention", "FAMILY", "init", "apply", "vjp", "param_groups", "n_params"]


@dataclass(frozen=True)
class TokenAttention:
    """f(X) = sum_t softmax(X W p)_t <x_t, nu>: W (d x d) and p (d) trained, nu fixed
    (:mod:`featlab.models.token_attention`)."""

    init: Literal["torch_default", "normal"] = "torch_default"
    init_scale: float = 1.0
    nu_norm: float = 0.05
    kind: Literal["token_attention"] = "token_attention"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"init_scale", "nu_norm"})
    INPUT: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        _check_choice("model.init", self.init, ("torch_default", "normal"))
        _check(_finite(self.init_scale) and self.init_scale >= 0, "model.init_scale",
               self.init_scale, "use a finite init scale >= 0")
        _check(_finite(self.nu_norm) and self.nu_norm > 0, "model.nu_norm", self.nu_norm,
               "use a finite head norm > 0 (the paper: 1/||mu||)")


def init(cfg: TokenAttention, run_keys: list[int], input_shape: tuple[int, ...],
         dtype: torch.dtype, out_dim: int = 1) -> dict[str, torch.Tensor]:
    """W (P, d, d) from each run's "init" stream, p (P, d) = 0, nu (P, d) fixed (module docstring)."""
    d = input_shape[-1]
    Ws = []
    for seed in run_keys:
        g = generator(seed, "init")
        if cfg.init == "torch_default":
            W = (2 * torch.rand(d, d, generator=g, dtype=torch.float64) - 1) / math.sqrt(d)
        else:
            W = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
        Ws.append((cfg.init_scale * W).to(dtype))
    P = len(run_keys)
    nu = torch.zeros(P, d, dtype=torch.float64)
    nu[:, 0], nu[:, 1] = cfg.nu_norm / math.sqrt(2), -cfg.nu_norm / math.sqrt(2)
    return {"W": torch.stack(Ws), "p": torch.zeros(P, d, dtype=dtype), "nu": nu.to(dtype)}


def apply(cfg: TokenAttention, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """f for one run: x (n, T, d) -> f (n,); taps: {"attn": softmax scores (n, T)}."""
    q = params["W"] @ params["p"]                                            # (d,)
    s = torch.softmax(x @ q, dim=-1)                                         # (n, T)
    f = (s * (x @ params["nu"])).sum(-1)                                     # (n,)
    return (f, {"attn": s}) if taps else f


def vjp(cfg: TokenAttention, params: dict[str, torch.Tensor], X: torch.Tensor):
    """The population's f (P, n) on X (P, n, T, d) and its pullback g (P, n) -> {"W": (P, d, d),
    "p": (P, d)} (module docstring)."""
    W, p, nu = params["W"], params["p"], params["nu"]
    P, n, T, d = X.shape
    Xf = X.reshape(P, n * T, d)                                             # (P, nT, d)
    # row vectors times (transposed) matrices: CPU bmm is several times faster this way round
    q = torch.bmm(p.unsqueeze(1), W.transpose(1, 2))                        # (P, 1, d) (W p)^T
    z = torch.bmm(torch.cat([q, nu.unsqueeze(1)], dim=1), Xf.transpose(1, 2))  # (P, 2, nT)
    logits, v = z[:, 0].reshape(P, n, T), z[:, 1].reshape(P, n, T)
    s = torch.softmax(logits, dim=-1)                                       # (P, n, T)
    f = (s * v).sum(-1)                                                     # (P, n)

    def pullback(g: torch.Tensor) -> dict[str, torch.Tensor]:
        a = s * (v - f.unsqueeze(-1)) * g.unsqueeze(-1)                     # (P, n, T) dL/dz
        u = torch.bmm(a.reshape(P, 1, n * T), Xf)                           # (P, 1, d) dL/dq
        return {"W": u.transpose(1, 2) * p.unsqueeze(1),                    # (P, d, d) u p^T
                "p": torch.bmm(u, W).squeeze(1)}                            # (P, d) W^T u

    return f, pullback


def param_groups(cfg: TokenAttention) -> dict[str, str]:
    """W and p are trained, each its own group; nu is fixed (no group)."""
    return {"W": "W", "p": "p"}


def n_params(cfg: TokenAttention, input_shape: tuple[int, ...]) -> int:
    """Entries of W, p and nu (the memory estimate of one run)."""
    d = input_shape[-1]
    return d * d + 2 * d


def _family():
    from featlab.models.family import Family
    return Family(config=TokenAttention, init=init, apply=apply, param_groups=param_groups,
                  n_params=n_params, probes=("attention",), vjp=vjp)


FAMILY = _family()
