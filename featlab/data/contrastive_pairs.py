r"""Paired two-patch data for contrastive learning (Huang, Han, Chen, Cao, Xu, Suzuki, "On the
Comparison between Multi-modal and Single-modal Contrastive Learning", NeurIPS 2024,
arXiv 2411.02837, Sec. 3 and their synthetic experiment).

A training sample is a pair of *views* (x, x') sharing the label y in {+1, -1}, each view two
patches in R^d:

    multimodal (``views="multimodal"``):  x = [y \mu, \xi],   x' = [y \tilde\mu, \tilde\xi],
    single-modal (``views="augment"``):   x = [y \mu, \xi],   x' = [y \mu, \xi + \epsilon],

with \mu = ||\mu|| e_1, \tilde\mu = ||\tilde\mu|| e_2 (the second modality's signal),
\xi, \tilde\xi ~ N(0, \sigma_p^2 I_d) independent, and the augmentation \epsilon ~ N(0,
\sigma_\epsilon^2 I_d) acting on the noise patch only (drawn once with the data set). The test
split is the paper's out-of-distribution set: view 1 is [y \nu, \zeta] with \nu = ||\nu|| e_1
(the same direction, a weaker signal) and \zeta ~ N(0, \sigma_p^2 I_d) fresh; its view 2 is drawn
like the training view 2 (multimodal: [y \tilde\mu, \tilde\zeta]; augment: [y \nu, \zeta +
\epsilon]) so the contrastive test loss is defined; the linear probe reads view 1 only.

Labels are balanced: the first floor(n/2) samples have y = +1. ``shuffle_pairs`` (a negative
control) pairs each training view 1 with the view 2 of sample \pi(i), \pi a random permutation
(the positive pairs then share no noise and about half of them not even the label; the labels
stay with view 1).

X has shape (n, 2, 2, d): (sample, view, patch, coordinate); patch 0 is the signal patch, patch 1
the noise patch. Streams: a split's views from (seed, "data_<split>"), the shuffle from
(seed, "shuffle"). n SNR^2 = n ||\mu||^2 / (\sigma_p^2 d) (the paper's setting: 1.25).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, added, register_data
from featlab.rng import generator

__all__ = ["ContrastivePairsData", "sample_run", "signals", "SIGNAL", "NOISE"]

#: Patch indices inside a view.
SIGNAL, NOISE = 0, 1


@register_data
@dataclass(frozen=True)
class ContrastivePairsData:
    """Pairs of two-patch views sharing a label, multimodal or augmented
    (:mod:`featlab.data.contrastive_pairs`); ``tau`` is the InfoNCE temperature of its
    ``contrastive`` task, ``negatives`` and ``n_negatives`` choose its negatives (every other-label
    sample by default; :mod:`featlab.train.contrastive`)."""

    n: int = 100
    d: int = 2000
    n_test: int = 200
    views: Literal["multimodal", "augment"] = "multimodal"
    mu_norm: float = 5.0
    mu2_norm: float = 15.0
    nu_norm: float = 2.0
    sigma_p: float = 1.0
    sigma_eps: float = 0.1
    tau: float = 0.5
    shuffle_pairs: bool = False
    negatives: Literal["other_label", "all"] = added("other_label")
    n_negatives: int = added(0)
    kind: Literal["contrastive_pairs"] = "contrastive_pairs"

    #: mu_norm and mu2_norm are structural: the signal probes read them from the chunk's setting
    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"nu_norm", "sigma_p", "sigma_eps"})
    INPUT: ClassVar[str] = "pairs"
    task: ClassVar[str] = "contrastive"

    def __post_init__(self) -> None:
        for key, low in (("n", 2), ("d", 2), ("n_test", 2)):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
                   f"data.{key}", value, f"use an integer >= {low}")
        _check_choice("data.views", self.views, ("multimodal", "augment"))
        for key in ("mu_norm", "mu2_norm", "nu_norm", "sigma_eps"):
            value = getattr(self, key)
            _check(_finite(value) and value >= 0, f"data.{key}", value, "use a finite value >= 0")
        _check(_finite(self.sigma_p) and self.sigma_p > 0, "data.sigma_p", self.sigma_p,
               "use a finite noise scale sigma_p > 0")
        _check(_finite(self.tau) and self.tau > 0, "data.tau", self.tau,
               "use a finite InfoNCE temperature tau > 0 (e.g. 0.5)")
        _check_choice("data.negatives", self.negatives, ("other_label", "all"))
        most = self.n // 2 if self.negatives == "other_label" else self.n - 1
        _check(isinstance(self.n_negatives, int) and not isinstance(self.n_negatives, bool)
               and 0 <= self.n_negatives <= most, "data.n_negatives", self.n_negatives,
               f"use 0 (every eligible sample) or a count 1..{most} of negatives per anchor "
               f"(n = {self.n}, negatives = {self.negatives})")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(2 views, 2 patches, d)."""
        return (2, 2, self.d)

    @property
    def n_snr2(self) -> float:
        """n SNR^2 = n ||mu||^2 / (sigma_p^2 d) of the first modality."""
        return self.n * self.mu_norm ** 2 / (self.sigma_p ** 2 * self.d)


def signals(cfg: ContrastivePairsData, split: str = "train") -> torch.Tensor:
    r"""(2, d) float64: the signal vector of view 1 and of view 2 on ``split``: (\mu, \tilde\mu)
    multimodal, (\mu, \mu) augmented; \nu in place of \mu on the test split."""
    s1 = cfg.nu_norm if split == "test" else cfg.mu_norm
    out = torch.zeros(2, cfg.d, dtype=torch.float64)
    out[0, 0] = s1
    if cfg.views == "multimodal":
        out[1, 1] = cfg.mu2_norm
    else:
        out[1, 0] = s1
    return out


def sample_run(cfg: ContrastivePairsData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's pairs X (n, 2, 2, d) and labels y (n,) (module docstring)."""
    g = generator(seed, f"data_{split}")
    xi = cfg.sigma_p * torch.randn(n, 2, cfg.d, generator=g, dtype=torch.float64)  # (n, 2, d)
    y = torch.cat([torch.ones(n // 2), -torch.ones(n - n // 2)]).to(torch.float64)  # (n,)
    s = signals(cfg, split)                                                       # (2, d)
    X = torch.zeros(n, 2, 2, cfg.d, dtype=torch.float64)
    X[:, :, SIGNAL] = y[:, None, None] * s[None]
    X[:, 0, NOISE] = xi[:, 0]
    if cfg.views == "multimodal":
        X[:, 1, NOISE] = xi[:, 1]
    else:                                   # the augmentation: noise patch + N(0, sigma_eps^2 I)
        X[:, 1, NOISE] = xi[:, 0] + (cfg.sigma_eps / cfg.sigma_p) * xi[:, 1]
    if cfg.shuffle_pairs and split == "train":
        perm = torch.randperm(n, generator=generator(seed, "shuffle"))
        X[:, 1] = X[perm, 1]
    return {"X": X.to(dtype), "y": y.to(dtype)}
