r"""One-layer softmax attention with average pooling (Jiang, Huang, Zhang, Suzuki, Nie, "Unveil
Benign Overfitting for Transformer in Vision", NeurIPS 2024, arXiv 2409.19345, Sec. 3), for one
run (batched by vmap over P):

    f(X) = \frac{1}{T} \sum_{l=1}^T softmax(x_l^T W_Q W_K^T X^T) X W_V w_O,

X (T, d) the tokens, W_Q, W_K (d, d_k), W_V (d, d_v), w_O (d_v), all four trained. The paper's
initialization and widths were not found in the paper's text: featlab draws W_Q, W_K, W_V with
i.i.d. N(0, \sigma_0^2) entries and w_O ~ N(0, 1/d_v) from each run's "init" stream, d_k = d_v = d
unless ``width_qk`` / ``width_v`` say otherwise. Taps: ``{"attn": a}`` (n, T) with a_t the
softmax mass on token t averaged over the T queries (what the attention probes read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _finite
from featlab.rng import generator

__all__ = ["SoftmaxAttention", "FAMILY", "init", "apply", "param_groups", "n_params"]


@dataclass(frozen=True)
class SoftmaxAttention:
    """f(X) = mean_l softmax(x_l^T W_Q W_K^T X^T) X W_V w_O, all trained
    (:mod:`featlab.models.softmax_attention`)."""

    width_qk: int = 0
    width_v: int = 0
    sigma_0: float = 0.01
    kind: Literal["softmax_attention"] = "softmax_attention"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"sigma_0"})
    INPUT: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        for key in ("width_qk", "width_v"):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                   f"model.{key}", value, "use an integer width >= 1 (0 = the token dimension d)")
        _check(_finite(self.sigma_0) and self.sigma_0 >= 0, "model.sigma_0", self.sigma_0,
               "use a finite init scale sigma_0 >= 0")


def _widths(cfg: SoftmaxAttention, d: int) -> tuple[int, int]:
    return cfg.width_qk or d, cfg.width_v or d


def init(cfg: SoftmaxAttention, run_keys: list[int], input_shape: tuple[int, ...],
         dtype: torch.dtype, out_dim: int = 1) -> dict[str, torch.Tensor]:
    """W_Q, W_K (P, d, d_k), W_V (P, d, d_v) ~ N(0, sigma_0^2); w_O (P, d_v) ~ N(0, 1/d_v)."""
    d = input_shape[-1]
    dk, dv = _widths(cfg, d)
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("W_Q", "W_K", "W_V", "w_O")}
    for seed in run_keys:
        g = generator(seed, "init")
        for k, shape in (("W_Q", (d, dk)), ("W_K", (d, dk)), ("W_V", (d, dv))):
            out[k].append(cfg.sigma_0 * torch.randn(*shape, generator=g, dtype=torch.float64))
        out["w_O"].append(torch.randn(dv, generator=g, dtype=torch.float64) / math.sqrt(dv))
    return {k: torch.stack(v).to(dtype) for k, v in out.items()}


def apply(cfg: SoftmaxAttention, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """f for one run: x (n, T, d) -> f (n,); taps: {"attn": query-averaged softmax mass (n, T)}."""
    q, k = x @ params["W_Q"], x @ params["W_K"]                              # (n, T, d_k)
    s = torch.softmax(q @ k.transpose(1, 2), dim=-1)                        # (n, T, T)
    v = x @ params["W_V"] @ params["w_O"]                                    # (n, T)
    f = (s @ v[..., None])[..., 0].mean(-1)                                  # (n,)
    return (f, {"attn": s.mean(1)}) if taps else f


def param_groups(cfg: SoftmaxAttention) -> dict[str, str]:
    """All four matrices are trained, each its own group."""
    return {"W_Q": "W_Q", "W_K": "W_K", "W_V": "W_V", "w_O": "w_O"}


def n_params(cfg: SoftmaxAttention, input_shape: tuple[int, ...]) -> int:
    d = input_shape[-1]
    dk, dv = _widths(cfg, d)
    return 2 * d * dk + d * dv + dv


def _family():
    from featlab.models.family import Family
    return Family(config=SoftmaxAttention, init=init, apply=apply, param_groups=param_groups,
                  n_params=n_params, probes=("attention",))


FAMILY = _family()
