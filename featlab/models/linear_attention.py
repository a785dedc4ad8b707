r"""One-layer linear attention for in-context linear regression, in the single-matrix form of
Wu, Zou, Chen, Braverman, Gu, Bartlett (ICLR 2024, arXiv 2310.08391, Sec. 2): with the
query/key/value restricted as in their Eq. (2.2), the prediction on a prompt is linear in one
matrix \Gamma (d, d),

    \hat y = x_q^T \Gamma h,    h = (1/n) \sum_{i=1}^n y_i x_i,

for a prompt X (n + 1, d + 1) of context rows [x_i, y_i] and the query row [x_q, 0]
(:mod:`featlab.data.icl_regression`). \Gamma_0 = ``init_scale`` I (0 by default: it commutes
with H, as their analysis assumes). Exact risk: :func:`featlab.theory.icl.icl_risk`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _finite

__all__ = ["LinearAttentionICL", "FAMILY", "init", "apply", "param_groups", "n_params"]


@dataclass(frozen=True)
class LinearAttentionICL:
    """y_hat = x_q^T Gamma (1/n) sum_i y_i x_i, Gamma (d x d) trained
    (:mod:`featlab.models.linear_attention`)."""

    init_scale: float = 0.0
    kind: Literal["linear_attention_icl"] = "linear_attention_icl"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"init_scale"})
    INPUT: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        _check(_finite(self.init_scale), "model.init_scale", self.init_scale,
               "use a finite Gamma_0 = init_scale * I")


def init(cfg: LinearAttentionICL, run_keys: list[int], input_shape: tuple[int, ...],
         dtype: torch.dtype, out_dim: int = 1) -> dict[str, torch.Tensor]:
    """Gamma (P, d, d) = init_scale I (deterministic: no stream needed)."""
    d = input_shape[-1] - 1
    eye = torch.eye(d, dtype=dtype)
    return {"Gamma": torch.stack([cfg.init_scale * eye for _ in run_keys])}


def apply(cfg: LinearAttentionICL, params: dict[str, torch.Tensor], x: torch.Tensor,
          taps: bool = False):
    """y_hat for one run: prompts x (N, n + 1, d + 1) -> (N,)."""
    ctx, xq = x[:, :-1], x[:, -1, :-1]                                       # (N, n, d+1), (N, d)
    h = (ctx[..., :-1] * ctx[..., -1:]).mean(1)                              # (N, d)
    f = ((xq @ params["Gamma"]) * h).sum(-1)                                 # (N,)
    return (f, {}) if taps else f


def param_groups(cfg: LinearAttentionICL) -> dict[str, str]:
    """Gamma is the one trained matrix."""
    return {"Gamma": "Gamma"}


def n_params(cfg: LinearAttentionICL, input_shape: tuple[int, ...]) -> int:
    return (input_shape[-1] - 1) ** 2


def _family():
    from featlab.models.family import Family
    return Family(config=LinearAttentionICL, init=init, apply=apply, param_groups=param_groups,
                  n_params=n_params, probes=("icl",))


FAMILY = _family()
