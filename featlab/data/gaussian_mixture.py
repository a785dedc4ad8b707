r"""Gaussian-mixture classification with C classes: y uniform on {0..C-1}, x = \mu_y + \sigma z.

Class means \mu_c = ``mu_norm`` u_c with u_c uniform on the unit sphere of R^d, drawn once per seed
from (seed, "means"); z ~ N(0, I_d). Labels from (seed, "labels_<split>"), noise from
(seed, "data_<split>"). ``shuffle_labels`` permutes the training labels (a negative control).
"""

from __future__ import annotations

import torch

from featlab.config import GaussianMixtureData
from featlab.rng import generator

__all__ = ["sample_run", "means"]


def means(cfg: GaussianMixtureData, seed: int) -> torch.Tensor:
    """(C, d) class means of a seed (float64)."""
    u = torch.randn(cfg.n_classes, cfg.d, generator=generator(seed, "means"), dtype=torch.float64)
    return cfg.mu_norm * u / u.norm(dim=1, keepdim=True)


def sample_run(cfg: GaussianMixtureData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, d) and integer labels y (n,) (stored as floats)."""
    y = torch.randint(cfg.n_classes, (n,), generator=generator(seed, f"labels_{split}"))
    z = torch.randn(n, cfg.d, generator=generator(seed, f"data_{split}"), dtype=torch.float64)
    X = means(cfg, seed)[y] + cfg.sigma * z
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    return {"X": X.to(dtype), "y": y.to(dtype)}
