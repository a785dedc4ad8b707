r"""Signal-token data (Jiang, Huang, Zhang, Suzuki, Nie, "Unveil Benign Overfitting for Transformer
in Vision", NeurIPS 2024, arXiv 2409.19345, Sec. 3): a sequence of T tokens in R^d and a label
y in {+1, -1},

    x_1 = y \mu,   x_t = \xi_t ~ N(0, \sigma_p^2 I_d)   (t = 2..T),

one signal token and T - 1 pure-noise tokens, \mu = ||\mu|| e_1 with
||\mu|| = SNR \sigma_p \sqrt d (the paper's SNR = ||\mu|| / (\sigma_p \sqrt d), set directly by
``snr``). The paper's sample size N is ``n``. Labels: balanced, the first n/2 samples y = +1
(train and test). ``shuffle_labels`` permutes the training labels (a negative control: no
relation left between a sample and its label); test labels stay clean. Not verified against the
paper's text: whether it uses one signal vector (as here) or one per class, and isotropic or
signal-orthogonal noise.

Streams: the noise tokens of a split from (seed, "data_<split>"), the permutation from
(seed, "shuffle"). Runs of one seed share their noise draws across SNRs (common random
numbers), so a row of a (n, SNR) grid varies only the signal strength.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_token_data, _finite, register_data
from featlab.rng import generator

__all__ = ["SignalTokenData", "sample_run", "SIGNAL"]

#: Index of the signal token (carries y mu).
SIGNAL = 0


@register_data
@dataclass(frozen=True)
class SignalTokenData:
    """T tokens in R^d: the first y mu, the others N(0, sigma_p^2 I) noise; SNR =
    ||mu|| / (sigma_p sqrt d) (:mod:`featlab.data.signal_tokens`)."""

    n: int = 20
    d: int = 200
    T: int = 4
    snr: float = 0.1
    sigma_p: float = 1.0
    n_test: int = 1000
    shuffle_labels: bool = False
    kind: Literal["signal_tokens"] = "signal_tokens"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"snr", "sigma_p", "shuffle_labels"})
    INPUT: ClassVar[str] = "tokens"
    task: ClassVar[str] = "binary"

    def __post_init__(self) -> None:
        _check_token_data(self, "use T >= 2 tokens (the signal token and at least one noise token)")
        _check(_finite(self.snr) and self.snr >= 0, "data.snr", self.snr,
               "use a finite SNR = ||mu|| / (sigma_p sqrt d) >= 0")
        _check(isinstance(self.shuffle_labels, bool), "data.shuffle_labels", self.shuffle_labels,
               "use true or false")

    @property
    def input_shape(self) -> tuple[int, int]:
        """(T, d): one sample is T tokens of dimension d."""
        return (self.T, self.d)

    @property
    def mu_norm(self) -> float:
        """||mu|| = SNR sigma_p sqrt d."""
        return self.snr * self.sigma_p * math.sqrt(self.d)


def sample_run(cfg: SignalTokenData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, T, d) and labels y (n,): x_1 = y mu, x_t = xi_t (t >= 2)."""
    X = cfg.sigma_p * torch.randn(n, cfg.T, cfg.d, generator=generator(seed, f"data_{split}"),
                                  dtype=torch.float64)                          # (n, T, d)
    y = torch.cat([torch.ones(n // 2), -torch.ones(n - n // 2)]).to(torch.float64)   # (n,)
    X[:, SIGNAL] = 0.0
    X[:, SIGNAL, 0] = y * cfg.mu_norm
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    return {"X": X.to(dtype), "y": y.to(dtype)}
