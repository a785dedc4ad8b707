r"""In-context linear regression prompts (Wu, Zou, Chen, Braverman, Gu, Bartlett, ICLR 2024,
arXiv 2310.08391, Sec. 2): each sample is one task's prompt of context length ``n_ctx``,

    \beta ~ N(0, \psi^2 I_d),  x_1..x_{n_ctx}, x_q ~ N(0, H),  y = <x, \beta> + N(0, \sigma^2),
    H = diag(i^{-decay}),

laid out as tokens (n_ctx + 1, d + 1): rows [x_i, y_i] for the context and [x_q, 0] for the query;
the label is y_q. A training set of n prompts is n pretraining tasks: one-pass SGD with batch
size 1 (``optim.batch_size=1``, steps <= n) sees each task once. Test prompts have context length
``test_ctx`` (0: the training length), so a context-length mismatch is one field.
Streams: (seed, "data_<split>").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from featlab.config import _check, _finite, register_data
from featlab.rng import generator

__all__ = ["ICLRegressionData", "sample_run", "context_length"]


@register_data
@dataclass(frozen=True)
class ICLRegressionData:
    """In-context linear regression prompts (:mod:`featlab.data.icl_regression`)."""

    n: int = 4000
    d: int = 8
    n_ctx: int = 16
    decay: float = 1.0
    psi: float = 1.0
    sigma: float = 0.5
    test_ctx: int = 0
    n_test: int = 2000
    kind: Literal["icl_regression"] = "icl_regression"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset()
    INPUT: ClassVar[str] = "tokens"
    task: ClassVar[str] = "regression"

    def __post_init__(self) -> None:
        for key, low in (("n", 1), ("d", 1), ("n_ctx", 1), ("n_test", 2), ("test_ctx", 0)):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
                   f"data.{key}", value, f"use an integer >= {low}")
        _check(_finite(self.decay) and self.decay >= 0, "data.decay", self.decay,
               "use a finite spectral decay >= 0 (lambda_i = i^-decay)")
        _check(_finite(self.psi) and self.psi > 0, "data.psi", self.psi, "use a task prior sd psi > 0")
        _check(_finite(self.sigma) and self.sigma >= 0, "data.sigma", self.sigma,
               "use a finite label-noise sd sigma >= 0")

    @property
    def input_shape(self) -> tuple[int, int]:
        """(n_ctx + 1, d + 1): context rows [x_i, y_i] and the query row [x_q, 0]."""
        return (self.n_ctx + 1, self.d + 1)

    @property
    def lam(self) -> np.ndarray:
        """The spectrum of H: lambda_i = i^{-decay}."""
        return np.arange(1, self.d + 1, dtype=np.float64) ** (-float(self.decay))


def context_length(cfg: ICLRegressionData, split: str) -> int:
    """Context length of a split's prompts: n_ctx (train), test_ctx or n_ctx (test)."""
    return cfg.test_ctx if split == "test" and cfg.test_ctx > 0 else cfg.n_ctx


def sample_run(cfg: ICLRegressionData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's prompts X (n, L + 1, d + 1) (L the split's context length) and labels y_q (n,)."""
    g = generator(seed, f"data_{split}")
    L, d = context_length(cfg, split), cfg.d
    sd = torch.tensor(cfg.lam).sqrt()
    beta = cfg.psi * torch.randn(n, d, generator=g, dtype=torch.float64)             # (n, d)
    x = torch.randn(n, L + 1, d, generator=g, dtype=torch.float64) * sd              # (n, L+1, d)
    y = (x * beta[:, None]).sum(-1) + cfg.sigma * torch.randn(n, L + 1, generator=g,
                                                               dtype=torch.float64)  # (n, L+1)
    X = torch.cat([x, y[..., None]], dim=-1)
    X[:, -1, -1] = 0.0                                                               # query row
    return {"X": X.to(dtype), "y": y[:, -1].to(dtype)}
