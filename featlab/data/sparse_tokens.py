r"""Signal + sparse-noise token data (Li, Huang, Han, Zhou, Suzuki, Zhu, Chen, "On the Optimization
and Generalization of Two-layer Transformers with Sign Gradient Descent", ICLR 2025, arXiv
2410.04870, Sec. 3, as recalled; not verified against the paper's text): a sequence of two
tokens in R^d and a label y in {+1, -1},

    X = [x^{(1)}, x^{(2)}] = [y \mu, \xi],   \mu = ||\mu|| e_1,
    \xi = \zeta \odot s,   s in {0,1}^d with ``s`` ones drawn uniformly from [d] \ {1},
    \zeta ~ N(0, \sigma_p^2 I_d),

so the noise token is s-sparse and orthogonal to the signal. With n s << d the training noise
tokens barely overlap, and sign-GD's coordinate-wise step memorizes each one at the rate
||\xi_i||_1 ~ s \sigma_p \sqrt{2/\pi}, while it learns the 1-sparse signal at the rate ||\mu||
(the mechanism of the paper's poor generalization). ``mu_norm = 0`` removes the signal (a
negative control). Labels: balanced, the first n/2 samples y = +1 (train and test).

Streams: a split's masks and noise from (seed, "data_<split>").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_token_data, _finite, register_data
from featlab.rng import generator

__all__ = ["SparseTokenData", "sample_run", "SIGNAL", "NOISE"]

#: Index of the signal token (y mu) and of the noise token (xi).
SIGNAL, NOISE = 0, 1


@register_data
@dataclass(frozen=True)
class SparseTokenData:
    r"""Two tokens [y mu, xi], xi s-sparse Gaussian off the signal coordinate
    (:mod:`featlab.data.sparse_tokens`)."""

    n: int = 50
    d: int = 2000
    s: int = 10
    mu_norm: float = 1.0
    sigma_p: float = 1.0
    n_test: int = 1000
    kind: Literal["sparse_tokens"] = "sparse_tokens"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"mu_norm", "sigma_p", "s"})
    INPUT: ClassVar[str] = "tokens"
    task: ClassVar[str] = "binary"

    def __post_init__(self) -> None:
        _check_token_data(self)
        _check(isinstance(self.s, int) and not isinstance(self.s, bool)
               and 1 <= self.s <= self.d - 1, "data.s", self.s,
               f"use a sparsity s with 1 <= s <= d - 1 = {self.d - 1} (noise coordinates are "
               f"drawn off the signal coordinate)")
        _check(_finite(self.mu_norm) and self.mu_norm >= 0, "data.mu_norm", self.mu_norm,
               "use a finite ||mu|| >= 0 (0 removes the signal)")

    @property
    def input_shape(self) -> tuple[int, int]:
        """(2, d): the signal token and the noise token."""
        return (2, self.d)


def sample_run(cfg: SparseTokenData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, 2, d) = [y mu, xi] and labels y (n,)."""
    g = generator(seed, f"data_{split}")
    scores = torch.rand(n, cfg.d - 1, generator=g, dtype=torch.float64)
    idx = scores.topk(cfg.s, dim=1).indices + 1                              # (n, s), off coord 0
    mask = torch.zeros(n, cfg.d, dtype=torch.float64).scatter_(1, idx, 1.0)  # (n, d)
    xi = cfg.sigma_p * torch.randn(n, cfg.d, generator=g, dtype=torch.float64) * mask
    y = torch.cat([torch.ones(n // 2), -torch.ones(n - n // 2)]).to(torch.float64)   # (n,)
    X = torch.zeros(n, 2, cfg.d, dtype=torch.float64)
    X[:, SIGNAL, 0] = y * cfg.mu_norm
    X[:, NOISE] = xi
    return {"X": X.to(dtype), "y": y.to(dtype)}
