r"""The feature-noise patch data model with common and rare features (Zou, Cao, Li, Gu 2023).

Zou et al., "The Benefits of Mixup for Feature Learning", ICML 2023, arXiv 2303.08433.
For each sample, x = [x^{(1)}, ..., x^{(P)}] \in R^{P \times d} and y ~ Unif{+1, -1}:

- the *feature patch* is the common feature v_{y,1} with probability 1 - \rho, or the rare
  feature v_{y,2} with probability \rho (the sample's group: "common" or "rare");
- the *feature-noise patch* is \alpha v_{-y,1}, the other class's common feature at strength
  \alpha < 1 (``feature_noise="opposite"``), or \alpha v_{s,1} with s ~ Unif{+1, -1}
  (``"random"``);
- the other P - 2 patches are Gaussian noise \xi ~ N(0, \sigma_p^2 (I - \sum_s u_s u_s^T)),
  orthogonal to the four feature directions u_s = v_s / \|v_s\|.

The features are v_{+,1}, v_{-,1}, v_{+,2}, v_{-,2} = \|v\| e_1, \|v\| e_2, \|v\| e_3, \|v\| e_4
(a fixed orthogonal construction shared by train and test). ``positions="first"`` puts the
feature patch at patch 0 and the feature noise at patch 1, so that mixing two samples mixes their
feature patches; ``"random"`` permutes the patches of each sample. Training labels are flipped
with probability ``flip_p`` after the patches are drawn (test labels only if ``flip_test``).

In the signal-noise decomposition, feature s has class c_s = +1 for v_{+,k} and -1 for v_{-,k}
(v_{-,k} appears as +v_{-,k} in class -1 samples), so gamma_{j,r,s} = j c_s <coef of v_s>.

Verified from the paper (abstract/introduction): common features in most data, rare features
in a small fraction rho, feature noise, Mixup learns the rare features and standard training
does not. Unverified (the full definition was not available): the exact feature-noise vector
(which feature, how many patches), the noise covariance, the feature norms and positions; the
choices above are ours (see the experiment's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, register_data
from featlab.rng import generator

__all__ = ["FeatureNoiseData", "sample_run", "feature_vectors", "FEATURES"]

#: Rows of mu: v_{+,1}, v_{-,1} (common), v_{+,2}, v_{-,2} (rare); their classes c_s.
FEATURES = ("common_pos", "common_neg", "rare_pos", "rare_neg")
_CLASS = (1.0, -1.0, 1.0, -1.0)


@register_data
@dataclass(frozen=True)
class FeatureNoiseData:
    r"""Feature-noise data: P patches in R^d, one feature patch (common v_{y,1} w.p. 1 - rho,
    rare v_{y,2} w.p. rho), one feature-noise patch alpha v_{-y,1}, P - 2 Gaussian noise patches
    N(0, sigma_p^2 (I - sum_s u_s u_s^T)); \|v_{+-,1}\| = \|v_{+-,2}\| = ``mu_norm``.
    ``patches`` is the paper's P (the number of patches K of the CNN input).
    """

    n: int = 100
    d: int = 1000
    patches: int = 3
    rho: float = 0.1
    alpha: float = 0.2
    mu_norm: float = 1.0
    sigma_p: float = 0.1
    feature_noise: Literal["opposite", "random"] = "opposite"
    positions: Literal["first", "random"] = "first"
    flip_p: float = 0.0
    flip_test: bool = False
    n_test: int = 1000
    kind: Literal["feature_noise"] = "feature_noise"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "n", "rho", "alpha", "mu_norm", "sigma_p", "feature_noise", "positions", "flip_p",
        "flip_test"})

    def __post_init__(self) -> None:
        _check(isinstance(self.n, int) and self.n >= 1, "data.n", self.n, "use an integer n >= 1")
        _check(isinstance(self.d, int) and self.d >= len(FEATURES) + 1, "data.d", self.d,
               f"use an integer d >= {len(FEATURES) + 1} (4 feature directions + noise)")
        _check(isinstance(self.patches, int) and self.patches >= 3, "data.patches", self.patches,
               "use an integer number of patches P >= 3 (feature, feature noise, >= 1 noise patch)")
        _check(_finite(self.rho) and 0 < self.rho < 1, "data.rho", self.rho,
               "use a rare-feature fraction rho in (0, 1)")
        _check(_finite(self.alpha) and 0 <= self.alpha < 1, "data.alpha", self.alpha,
               "use a feature-noise strength alpha in [0, 1)")
        _check(_finite(self.mu_norm) and self.mu_norm > 0, "data.mu_norm", self.mu_norm,
               "use a finite feature norm ||v|| > 0")
        _check(_finite(self.sigma_p) and self.sigma_p > 0, "data.sigma_p", self.sigma_p,
               "use a finite noise scale sigma_p > 0")
        _check(_finite(self.flip_p) and 0 <= self.flip_p < 0.5, "data.flip_p", self.flip_p,
               "use a flip probability in [0, 0.5)")
        _check(isinstance(self.n_test, int) and self.n_test >= 1, "data.n_test", self.n_test,
               "use an integer n_test >= 1")
        _check_choice("data.feature_noise", self.feature_noise, ("opposite", "random"))
        _check_choice("data.positions", self.positions, ("first", "random"))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Rows of mu: common_pos = v_{+,1} (the main signal), common_neg, rare_pos, rare_neg."""
        return FEATURES

    @property
    def group_names(self) -> tuple[str, ...]:
        """Samples whose feature patch is a common (group 0) or a rare (group 1) feature."""
        return ("common", "rare")


def feature_vectors(cfg: FeatureNoiseData, dtype: torch.dtype) -> torch.Tensor:
    """mu (4, d): rows ||v|| e_1, ||v|| e_2, ||v|| e_3, ||v|| e_4 (see ``FEATURES``)."""
    mu = torch.zeros(len(FEATURES), cfg.d, dtype=dtype)
    mu[torch.arange(len(FEATURES)), torch.arange(len(FEATURES))] = cfg.mu_norm
    return mu


def _patch_order(cfg: FeatureNoiseData, n: int, g: torch.Generator) -> torch.Tensor:
    """(n, P) the patch index of [feature, feature noise, noise_1, ..., noise_{P-2}]."""
    if cfg.positions == "first":
        return torch.arange(cfg.patches).expand(n, -1).clone()
    return torch.argsort(torch.rand(n, cfg.patches, generator=g), dim=1)


def sample_run(cfg: FeatureNoiseData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's dataset of ``n`` samples (see the module docstring).

    Returns X (n, P, d); y, y_clean (n,) in {+-1}; signal_patch (n,) index of the feature patch;
    mu (4, d); mu_class (4,) = (+1, -1, +1, -1); noise_idx (n, P - 2) indices of the Gaussian
    noise patches (sorted); group (n,) 0 = common-feature sample, 1 = rare-feature sample.
    split: "train" (stream "data", labels flipped w.p. flip_p) or "test" (stream "test").
    """
    g = generator(seed, "data" if split == "train" else "test")
    mu = feature_vectors(cfg, dtype)                                          # (4, d)
    y_clean = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1       # (n,)
    neg = (y_clean < 0).long()                                               # 0: class +1, 1: class -1
    rare = (torch.rand(n, generator=g, dtype=torch.float64) < cfg.rho).long()
    feature = mu[2 * rare + neg]                                             # (n, d) v_{y,1} or v_{y,2}
    if cfg.feature_noise == "opposite":
        noise_class = 1 - neg                                                # common feature of -y
    else:
        noise_class = torch.randint(0, 2, (n,), generator=g)
    feature_noise = cfg.alpha * mu[noise_class]                              # (n, d)
    K_n = cfg.patches - 2
    xi = torch.randn(n, K_n, cfg.d, generator=g, dtype=dtype) * cfg.sigma_p  # (n, P-2, d)
    xi[:, :, :len(FEATURES)] = 0.0                       # project off span(e_1..e_4) = span(mu)
    order = _patch_order(cfg, n, g)                                          # (n, P)
    content = torch.cat([feature[:, None], feature_noise[:, None], xi], dim=1)  # (n, P, d)
    X = torch.empty_like(content)                       # X[i, order[i, k]] = content[i, k]
    X.scatter_(1, order[:, :, None].expand(-1, -1, cfg.d), content)
    flip_rate = cfg.flip_p if (split == "train" or cfg.flip_test) else 0.0
    flips = torch.rand(n, generator=g, dtype=torch.float64) < flip_rate
    y = torch.where(flips, -y_clean, y_clean)
    return {"X": X, "y": y, "y_clean": y_clean, "signal_patch": order[:, 0].clone(),
            "mu": mu, "mu_class": torch.tensor(_CLASS, dtype=dtype),
            "noise_idx": order[:, 2:].sort(dim=1).values, "group": rare}
