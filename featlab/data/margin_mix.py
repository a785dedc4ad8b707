r"""Large-/small-margin patch data: one shared feature w^* at two margins (Jelassi & Li 2022).

Jelassi & Li, "Towards Understanding How Momentum Improves Generalization in Deep Learning",
ICML 2022, arXiv 2207.05931. For each sample, X = [X[1], ..., X[P]] \in R^{P \times d} and
y ~ Unif{+1, -1}:

- one *signal patch* X[P(X)] at a uniformly random position P(X) carries the feature w^* at a
  margin that depends on the sample's group:

      X[P(X)] = \alpha y w^*  (large-margin sample, group 0),
      X[P(X)] = \beta  y w^*  (small-margin sample, group 1),   0 < \beta \le \alpha;

- the other P - 1 patches are Gaussian noise \xi ~ N(0, \sigma_p^2 (I - w^* w^{*T}))
  (``noise="orthogonal"``) or N(0, \sigma_p^2 I) (``"isotropic"``).

w^* is a unit vector: e_1 (``mu_direction="e1"``) or drawn from the run's "mu" stream
(``"random"``), shared by the train and test sets. A set of n samples has exactly
round(``small_frac`` n) small-margin samples at random positions (both splits), so the per-group
errors of a small run are not at the mercy of a Binomial draw. Training labels are flipped with
probability ``flip_p`` after the patches are drawn (test labels only if ``flip_test``).

In the signal-noise decomposition the single feature is mu = w^* (unit norm, class c = +1),
so gamma_{j,r} = j <w_{j,r} - w_{j,r}^{(0)}, w^*> up to the noise part; the P - 1 noise patches
of each sample are the noise basis (rho_{j,r,i,k}).

What the paper states (abstract and introduction, verified): the examples share one feature but
differ in their margin; most have a large margin and a small fraction a small margin; GD fits
the small-margin examples by memorizing noise while GD+M learns the feature from them too.
Unverified (the full text was not available to us): the
exact scalings of alpha, beta, sigma_p, the small-margin fraction, P, and whether the noise is
projected off w^*; the defaults here are our own choices, tuned on the two-layer ReLU^3 CNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, register_data
from featlab.rng import generator

__all__ = ["MarginMixData", "sample_run", "feature_vector", "small_count"]


@register_data
@dataclass(frozen=True)
class MarginMixData:
    r"""Margin-mix data: P patches in R^d, one signal patch \alpha y w^* (large margin) or
    \beta y w^* (small margin, a fraction ``small_frac`` of the samples), P - 1 noise patches
    N(0, \sigma_p^2 (I - w^* w^{*T})). ``patches`` is the paper's P (the CNN's K)."""

    n: int = 100
    d: int = 500
    patches: int = 3
    alpha: float = 1.0
    beta: float = 0.1
    small_frac: float = 0.2
    sigma_p: float = 0.09
    noise: Literal["orthogonal", "isotropic"] = "orthogonal"
    mu_direction: Literal["e1", "random"] = "e1"
    flip_p: float = 0.0
    flip_test: bool = False
    n_test: int = 2000
    kind: Literal["margin_mix"] = "margin_mix"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "n", "alpha", "beta", "small_frac", "sigma_p", "noise", "mu_direction", "flip_p",
        "flip_test"})

    def __post_init__(self) -> None:
        _check(isinstance(self.n, int) and self.n >= 1, "data.n", self.n, "use an integer n >= 1")
        _check(isinstance(self.d, int) and self.d >= 2, "data.d", self.d,
               "use an integer d >= 2 (the feature w* and at least one noise direction)")
        _check(isinstance(self.patches, int) and self.patches >= 2, "data.patches", self.patches,
               "use an integer number of patches P >= 2 (one signal patch, >= 1 noise patch)")
        _check(_finite(self.alpha) and self.alpha > 0, "data.alpha", self.alpha,
               "use a finite large margin alpha > 0")
        _check(_finite(self.beta) and 0 < self.beta <= self.alpha, "data.beta", self.beta,
               f"use a small margin beta in (0, alpha] = (0, {self.alpha}]")
        _check(_finite(self.small_frac) and 0 < self.small_frac < 1, "data.small_frac",
               self.small_frac, "use a small-margin fraction in (0, 1), e.g. 0.2")
        _check(_finite(self.sigma_p) and self.sigma_p > 0, "data.sigma_p", self.sigma_p,
               "use a finite noise scale sigma_p > 0")
        _check(_finite(self.flip_p) and 0 <= self.flip_p < 0.5, "data.flip_p", self.flip_p,
               "use a flip probability in [0, 0.5)")
        _check(isinstance(self.n_test, int) and self.n_test >= 2, "data.n_test", self.n_test,
               "use an integer n_test >= 2 (both margin groups need test samples)")
        _check_choice("data.noise", self.noise, ("orthogonal", "isotropic"))
        _check_choice("data.mu_direction", self.mu_direction, ("e1", "random"))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """One feature: the shared signal w^*."""
        return ("signal",)

    @property
    def group_names(self) -> tuple[str, ...]:
        """Large-margin samples (group 0, signal alpha y w*) and small-margin ones (group 1)."""
        return ("large_margin", "small_margin")


def feature_vector(cfg: MarginMixData, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """w^* (d,), unit norm: e_1, or a uniformly random direction from the run's "mu" stream."""
    if cfg.mu_direction == "e1":
        w = torch.zeros(cfg.d, dtype=torch.float64)
        w[0] = 1.0
    else:
        w = torch.randn(cfg.d, generator=generator(seed, "mu"), dtype=torch.float64)
        w = w / w.norm()
    return w.to(dtype)


def small_count(cfg: MarginMixData, n: int) -> int:
    """Number of small-margin samples in a set of n: round(small_frac n), at least 1 if n >= 2
    and at most n - 1 (so both groups are present whenever they can be)."""
    k = int(round(cfg.small_frac * n))
    return min(max(k, 1 if n >= 2 else 0), max(n - 1, 0))


def sample_run(cfg: MarginMixData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's dataset of ``n`` samples (see the module docstring).

    Returns X (n, P, d); y, y_clean (n,) in {+-1}; signal_patch (n,); mu (1, d) = w^*;
    mu_class (1,) = +1; noise_idx (n, P - 1) the (sorted) noise-patch indices; group (n,)
    0 = large margin, 1 = small margin. split: "train" (stream "data", labels flipped w.p.
    flip_p) or "test" (stream "test", flipped only if ``flip_test``).
    """
    g = generator(seed, "data" if split == "train" else "test")
    w = feature_vector(cfg, seed, dtype)                                     # (d,)
    P = cfg.patches
    y_clean = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1       # (n,)
    group = torch.zeros(n, dtype=torch.long)
    group[torch.randperm(n, generator=g)[:small_count(cfg, n)]] = 1          # (n,) 1 = small
    margin = torch.where(group == 1, cfg.beta, cfg.alpha).to(dtype)          # (n,)
    signal = (margin * y_clean)[:, None] * w[None, :]                        # (n, d)
    xi = torch.randn(n, P - 1, cfg.d, generator=g, dtype=dtype) * cfg.sigma_p  # (n, P-1, d)
    if cfg.noise == "orthogonal":
        xi = xi - (xi @ w)[:, :, None] * w                                   # project off w*
    order = torch.argsort(torch.rand(n, P, generator=g), dim=1)              # (n, P)
    content = torch.cat([signal[:, None], xi], dim=1)                        # (n, P, d)
    X = torch.empty_like(content)
    X.scatter_(1, order[:, :, None].expand(-1, -1, cfg.d), content)          # X[i, order[i,k]] = content[i,k]
    flip_rate = cfg.flip_p if (split == "train" or cfg.flip_test) else 0.0
    flips = torch.rand(n, generator=g, dtype=torch.float64) < flip_rate
    y = torch.where(flips, -y_clean, y_clean)
    return {"X": X, "y": y, "y_clean": y_clean, "signal_patch": order[:, 0].clone(),
            "mu": w[None, :], "mu_class": torch.ones(1, dtype=dtype),
            "noise_idx": order[:, 1:].sort(dim=1).values, "group": group}
