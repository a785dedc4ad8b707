r"""XOR signal-noise patch data: four signal vectors, opposite ones share a label (Meng et al. 2024).

Meng, Zou, Cao, "Benign Overfitting in Two-Layer ReLU Convolutional Neural Networks for XOR
Data", ICML 2024, arXiv 2310.01975. For each sample, x = [x^{(1)}, x^{(2)}] \in R^{2 \times d}
and the clean label y ~ Unif{+1, -1}:

- the *signal patch* is s a if y = +1 and s b if y = -1, with a sign s ~ Unif{+1, -1} drawn
  independently, so the four vectors +a, -a (class +1) and +b, -b (class -1) are equally likely
  and no linear function of the signal patch separates the classes (the XOR structure);
- \|a\| = \|b\| = \|\mu\| (``mu_norm``) and the angle between a and b is \theta \in (0, \pi/2]
  (``theta``): a = \|\mu\| e_1, b = \|\mu\| (\cos\theta e_1 + \sin\theta e_2);
- the *noise patch* is \xi ~ N(0, \sigma_p^2 (I - \Pi)) with \Pi the projection onto span{a, b}
  = span{e_1, e_2} (``noise="orthogonal"``), or N(0, \sigma_p^2 I) (``"isotropic"``);
- ``counts="random"`` draws y and s independently per sample (the paper's model);
  ``"balanced"`` gives each of the four vectors to floor(n/4) or ceil(n/4) samples (in
  random order), a variance reduction for small n: with n = 20 a random draw leaves some vector with
  1-2 clean samples in a quarter of the runs, and such a vector is memorized rather than
  learned, which puts a plateau at p + (1 - 2p)/4 into those runs' test error (measured);
- the signal sits in patch 1 (``signal_position="first"``) or a uniformly random patch;
  training labels are flipped with probability ``flip_p`` after the patches are drawn (the
  signal patch keeps the clean label), test labels only if ``flip_test``.

In the signal-noise decomposition (:mod:`featlab.diagnostics.decomposition`) the feature matrix
is mu = [a, b] (S = 2) with classes c = (+1, -1): -a and -b are the same directions, so
gamma_{j,r,a} = j c_a (coefficient of a/\|a\|^2 in w_{j,r} - w_{j,r}^{(0)}) is signed, and a filter
of class +1 that learned -a has a negative gamma_{j,r,a}. The logged ``gamma_a`` / ``gamma_b``
(max over filters) therefore measure how far the best filter moved towards +a / +b; by the
+-symmetry of the data the -a / -b filters mirror them.

What we could verify of the paper: four signal vectors, opposite vectors share a label, a
two-patch ReLU CNN trained by GD, label flips p, near-Bayes test error iff
n\|\mu\|^4 = \Omega(\sigma_p^4 d) (with d = \Omega(n^2)), and a small-angle regime that
needs a stronger signal through 1 - \cos\theta. Unverified: the noise covariance (projected
off a and b here), the exact construction of a and b (ours: the e_1, e_2 plane) and the
``balanced`` option (ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _check_patch_data, _finite, register_data
from featlab.rng import generator

__all__ = ["XorData", "sample_run", "xor_vectors", "FEATURES"]

#: Rows of mu: a (carried by class +1 as +-a) and b (class -1, as +-b); their classes c_s.
FEATURES = ("a", "b")
_CLASS = (1.0, -1.0)


@register_data
@dataclass(frozen=True)
class XorData:
    r"""XOR data: signal patch s a (y = +1) or s b (y = -1), s = +-1; \|a\| = \|b\| = mu_norm,
    angle(a, b) = theta in (0, pi/2]; noise patch N(0, sigma_p^2 (I - Pi_{a,b}))."""

    n: int = 20
    d: int = 1000
    mu_norm: float = 1.0
    theta: float = math.pi / 2
    sigma_p: float = 1.0
    noise: Literal["orthogonal", "isotropic"] = "orthogonal"
    signal_position: Literal["first", "random"] = "first"
    counts: Literal["random", "balanced"] = "random"
    flip_p: float = 0.0
    flip_test: bool = False
    n_test: int = 1000
    kind: Literal["xor"] = "xor"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "n", "mu_norm", "theta", "sigma_p", "noise", "signal_position", "counts", "flip_p",
        "flip_test"})

    def __post_init__(self) -> None:
        _check_patch_data(self, 3, " (the a, b plane and at least one noise direction)")
        _check(_finite(self.mu_norm) and self.mu_norm >= 0, "data.mu_norm", self.mu_norm,
               "use a finite ||mu|| >= 0")
        _check(_finite(self.theta) and 0 < self.theta <= math.pi / 2 + 1e-12, "data.theta",
               self.theta, "use an angle between a and b in (0, pi/2] radians, e.g. 1.5708")
        _check_choice("data.counts", self.counts, ("random", "balanced"))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Two feature directions: a (class +1) and b (class -1)."""
        return FEATURES

    @property
    def group_names(self) -> tuple[str, ...]:
        """No sample groups."""
        return ()


def xor_vectors(cfg: XorData, dtype: torch.dtype) -> torch.Tensor:
    r"""mu (2, d): rows a = \|\mu\| e_1 and b = \|\mu\| (\cos\theta e_1 + \sin\theta e_2)."""
    mu = torch.zeros(2, cfg.d, dtype=torch.float64)
    mu[0, 0] = 1.0
    mu[1, 0], mu[1, 1] = math.cos(cfg.theta), math.sin(cfg.theta)
    return (mu * cfg.mu_norm).to(dtype)


def sample_run(cfg: XorData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's dataset of ``n`` samples: X (n, 2, d), y, y_clean, signal_patch (n,),
    mu (2, d) = [a, b], mu_class (2,) = (+1, -1), noise_idx (n, 1), and sign (n,) = s.

    split: "train" (stream "data", flips with prob flip_p) or "test" (stream "test", flips only
    if ``flip_test``).
    """
    g = generator(seed, "data" if split == "train" else "test")
    mu = xor_vectors(cfg, dtype)                                             # (2, d)
    if cfg.counts == "balanced":                     # each of +a, -a, +b, -b on n/4 samples
        combo = torch.arange(n)[torch.randperm(n, generator=g)] % 4        # (n,) in {0, 1, 2, 3}
        y_clean = (1 - 2 * (combo // 2)).to(dtype)                          # 0, 1 -> +1; 2, 3 -> -1
        sign = (1 - 2 * (combo % 2)).to(dtype)
    else:
        y_clean = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1  # (n,)
        sign = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1     # (n,) s
    xi = torch.randn(n, cfg.d, generator=g, dtype=dtype) * cfg.sigma_p      # (n, d)
    if cfg.noise == "orthogonal":
        xi[:, :2] = 0                                                        # project off span{a, b}
    signal = sign[:, None] * torch.where(y_clean[:, None] > 0, mu[0], mu[1])  # (n, d) s a or s b
    if cfg.signal_position == "random":
        signal_patch = torch.randint(0, 2, (n,), generator=g)
    else:
        signal_patch = torch.zeros(n, dtype=torch.long)
    flip_rate = cfg.flip_p if (split == "train" or cfg.flip_test) else 0.0
    flips = torch.rand(n, generator=g, dtype=torch.float64) < flip_rate
    first = signal_patch[:, None] == 0
    X = torch.stack([torch.where(first, signal, xi), torch.where(first, xi, signal)], dim=1)
    return {"X": X, "y": torch.where(flips, -y_clean, y_clean), "y_clean": y_clean,
            "signal_patch": signal_patch, "mu": mu, "mu_class": torch.tensor(_CLASS, dtype=dtype),
            "noise_idx": (1 - signal_patch)[:, None], "sign": sign}
