r"""Token-selection data (Sakamoto & Sato, ICML 2025, arXiv 2409.17625, Sec. 3; the setting of
their official code ``keitaroskmt/benign-attention``, ``main.py``): a sequence of T tokens in
R^d and a label y in {+1, -1},

    x_t = \xi_t + c_t \mu_y,   \xi_t ~ N(0, \sigma_p^2 I_d)   (t = 1..T),

with c_1 = 1 (the *relevant* token carries \mu_y), c_2 = \rho (a *weakly relevant* token aligned
with the label), token 3 carrying \rho \mu_{-y} (weakly relevant, opposite direction; T >= 3) and
tokens 4..T pure noise. \mu_{+1} = ||\mu|| e_1 and \mu_{-1} = ||\mu|| e_2 (orthogonal class
signals). The training set is balanced (the first n/2 samples have y = +1) and ``flips`` of its
labels are flipped after the tokens are drawn: floor(flips/2) in class +1 and the rest in class -1
(the official code flips 20 % of n = 20, two per class). Test samples are clean and drawn from
their own stream (the official code reuses the training seed for the test set; not copied here).

Streams: tokens of a split from (seed, "data_<split>"). SNR = ||\mu|| / (\sigma_p \sqrt d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_token_data, _finite, register_data
from featlab.rng import generator

__all__ = ["TokenSelectionData", "sample_run", "flipped_mask", "RELEVANT", "OPPOSITE"]

#: Index of the relevant token (carries \mu_y) and of the opposite weakly relevant token.
RELEVANT, OPPOSITE = 0, 2


@register_data
@dataclass(frozen=True)
class TokenSelectionData:
    """T tokens in R^d: one relevant token y mu, weakly relevant +-rho mu, noise tokens; ``flips``
    training labels flipped (:mod:`featlab.data.tokens`)."""

    n: int = 20
    d: int = 2000
    T: int = 8
    mu_norm: float = 20.0
    rho: float = 0.1
    sigma_p: float = 1.0
    flips: int = 4
    n_test: int = 1000
    kind: Literal["token_selection"] = "token_selection"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"mu_norm", "rho", "sigma_p", "flips"})
    INPUT: ClassVar[str] = "tokens"
    task: ClassVar[str] = "binary"

    def __post_init__(self) -> None:
        _check_token_data(self, "use T >= 2 tokens (one relevant token and at least one other)")
        _check(isinstance(self.flips, int) and not isinstance(self.flips, bool)
               and 0 <= self.flips <= self.n, "data.flips", self.flips,
               f"use a number of flipped training labels in [0, data.n={self.n}]")
        _check(_finite(self.mu_norm) and self.mu_norm >= 0, "data.mu_norm", self.mu_norm,
               "use a finite ||mu|| >= 0")
        _check(_finite(self.rho) and self.rho >= 0, "data.rho", self.rho, "use a finite rho >= 0")

    @property
    def input_shape(self) -> tuple[int, int]:
        """(T, d): one sample is T tokens of dimension d."""
        return (self.T, self.d)

    @property
    def snr(self) -> float:
        """SNR = ||mu|| / (sigma_p sqrt d)."""
        return self.mu_norm / (self.sigma_p * math.sqrt(self.d))

    @property
    def oracle_error(self) -> float:
        r"""Test error of the clean optimum sign(<x_1, \mu_1 - \mu_2>) (the relevant token only):
        <x_1, e_1 - e_2>/\sqrt 2 = y ||\mu||/\sqrt 2 + N(0, \sigma_p^2), error \Phi(-||\mu|| / (\sqrt 2 \sigma_p))."""
        return 0.5 * math.erfc(self.mu_norm / (math.sqrt(2) * self.sigma_p) / math.sqrt(2))


def flipped_mask(n: int, flips: int) -> torch.Tensor:
    """(n,) bool: the flipped training samples, floor(flips/2) at the start of class +1
    (samples 0..n/2-1) and the rest at the start of class -1."""
    mask = torch.zeros(n, dtype=torch.bool)
    half = n // 2
    mask[:flips // 2] = True
    mask[half:half + flips - flips // 2] = True
    return mask


def _signal(y: torch.Tensor, cfg: TokenSelectionData) -> torch.Tensor:
    """(n, d) rows mu_{y_i}: ||mu|| e_1 for y = +1, ||mu|| e_2 for y = -1."""
    out = torch.zeros(len(y), cfg.d, dtype=torch.float64)
    out[:, 0] = torch.where(y > 0, cfg.mu_norm, 0.0)
    out[:, 1] = torch.where(y > 0, 0.0, cfg.mu_norm)
    return out


def sample_run(cfg: TokenSelectionData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, T, d), observed labels y (n,), clean labels y_clean (n,) and the flip
    indicator flipped (n,) (1.0 on the flipped training samples; all 0 on the test split)."""
    X = cfg.sigma_p * torch.randn(n, cfg.T, cfg.d, generator=generator(seed, f"data_{split}"),
                                  dtype=torch.float64)                          # (n, T, d)
    y = torch.cat([torch.ones(n // 2), -torch.ones(n - n // 2)]).to(torch.float64)
    mu_y, mu_other = _signal(y, cfg), _signal(-y, cfg)                         # (n, d): mu_y, mu_{-y}
    X[:, RELEVANT] += mu_y
    X[:, 1] += cfg.rho * mu_y
    if cfg.T > OPPOSITE:
        X[:, OPPOSITE] += cfg.rho * mu_other
    flipped = flipped_mask(n, cfg.flips) if split == "train" else torch.zeros(n, dtype=torch.bool)
    y_obs = torch.where(flipped, -y, y)
    return {"X": X.to(dtype), "y": y_obs.to(dtype), "y_clean": y.to(dtype),
            "flipped": flipped.to(dtype)}
