r"""Sparse signal–noise data with feature noise (Zou, Cao, Li, Gu 2023, ICLR; arXiv 2108.11371).

Each sample (x, y), x = [x^(1), x^(2)] in R^{2 x d}, y ~ Unif{+1, -1} (Definition 3.1 of the paper,
as restated by Tang, Zhang, Cao, Zou 2025, arXiv 2510.11354):

    signal patch  y v,                 v = e_1 (1-sparse, unit norm);
    noise patch   \xi = \zeta \odot s - \alpha y v,
                  s in {0,1}^d a mask of s coordinates drawn uniformly from [d] \ {1},
                  \zeta ~ N(0, \sigma_p^2 I_d),  \alpha in [0, 1) the feature-noise strength;

the signal patch is x^(1) or x^(2) at random (``signal_position="random"``, the paper) or always
x^(1) (``"first"``). So \xi[1] = -\alpha y: the noise patch carries a small copy of the feature with
the *wrong* sign, and \|\zeta \odot s\|^2 ~ \sigma_p^2 \chi^2_s (= 1 on average when
\sigma_p = 1/\sqrt s, the paper's experiment). The observed label is \tilde y = -y with
probability ``flip_p`` (0 in the paper); the signal and feature-noise components use the clean y.

Signal–noise decomposition: mu = [v] (S = 1, class c = +1); the noise patch is the basis vector of
rho. Because \xi_i is not orthogonal to v, ``sample_run`` also returns ``noise_basis`` =
\zeta_i \odot s_i (the noise patch minus its feature-noise part): span{v, \zeta_i} = span{v, \xi_i},
so a decomposition on that basis is still exact for GD and its v-coefficient is j <W_t - W_0, v>,
the paper's "feature learning" (a decomposition on [v, \xi_i] mixes -\alpha y_i \rho_i into gamma).

Randomness: the training set from ``generator(seed, "data")``, the test set from
``generator(seed, "test")``; v is fixed, so train and test share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_patch_data, _finite, register_data
from featlab.data.signal_noise import two_patch_run
from featlab.rng import generator

__all__ = ["SparseNoiseData", "sample_run", "feature_vector"]


@register_data
@dataclass(frozen=True)
class SparseNoiseData:
    r"""Zou et al. 2023's sparse noise model: x = [y v, \zeta \odot s - \alpha y v] (random order).

    Defaults: the synthetic experiment reported for this model by Tang et al. 2025 (App. D.2):
    d = 1000, n = 200, s = 0.1 d = 100, sigma_p = 1/sqrt(s) = 0.1, alpha = 0.2.
    """

    n: int = 200                # training samples
    d: int = 1000               # patch dimension
    s: int = 100                # nonzero noise coordinates per sample (from [d] \ {1})
    sigma_p: float = 0.1        # std of the nonzero noise coordinates
    alpha: float = 0.2          # feature-noise strength: xi[1] = -alpha y
    signal_position: Literal["random", "first"] = "random"
    flip_p: float = 0.0
    flip_test: bool = False
    n_test: int = 1000
    kind: Literal["sparse_noise"] = "sparse_noise"

    # s, sigma_p, alpha, n, flips and the patch order change values, not shapes or code paths.
    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "n", "s", "sigma_p", "alpha", "signal_position", "flip_p", "flip_test"})

    def __post_init__(self) -> None:
        _check_patch_data(self)
        _check(isinstance(self.s, int) and 1 <= self.s <= self.d - 1, "data.s", self.s,
               f"use an integer s with 1 <= s <= d - 1 = {self.d - 1} (noise coordinates "
               f"are drawn from [d] without the feature coordinate)")
        _check(_finite(self.alpha) and 0 <= self.alpha < 1, "data.alpha", self.alpha,
               "use a feature-noise strength alpha in [0, 1) (0 = no feature noise)")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """One feature vector: v = e_1."""
        return ("signal",)

    @property
    def group_names(self) -> tuple[str, ...]:
        """No sample groups."""
        return ()


def feature_vector(d: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """v = e_1 in R^d."""
    v = torch.zeros(d, dtype=dtype)
    v[0] = 1.0
    return v


def _sparse_masks(g: torch.Generator, n: int, d: int, s: int) -> torch.Tensor:
    """(n, d) 0/1 masks, each with s ones at coordinates drawn uniformly without replacement
    from {1, ..., d-1} (0-based; coordinate 0 is the feature's)."""
    scores = torch.rand(n, d - 1, generator=g, dtype=torch.float64)
    idx = scores.topk(s, dim=1).indices + 1                                  # (n, s)
    mask = torch.zeros(n, d, dtype=torch.float64)
    return mask.scatter_(1, idx, 1.0)


def sample_run(cfg: SparseNoiseData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's dataset of ``n`` samples: X (n, 2, d), y, y_clean, signal_patch (n,), mu (1, d),
    mu_class (1,), noise_idx (n, 1), noise_basis (n, 1, d) = zeta (.) s.

    split: "train" (stream "data", labels flipped with prob flip_p) or "test" (stream "test",
    flipped only if ``flip_test``).
    """
    _check(split in ("train", "test"), "split", split, "use 'train' or 'test'")
    g = generator(seed, "data" if split == "train" else "test")
    d = cfg.d
    v = feature_vector(d, dtype)                                             # (d,)
    y_clean = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1      # (n,)
    mask = _sparse_masks(g, n, d, cfg.s).to(dtype)                           # (n, d)
    zeta = torch.randn(n, d, generator=g, dtype=dtype) * cfg.sigma_p * mask  # (n, d)
    xi = zeta - cfg.alpha * y_clean[:, None] * v[None, :]                    # (n, d)
    return {**two_patch_run(g, cfg, split, y_clean, v, xi), "noise_basis": zeta[:, None, :]}
