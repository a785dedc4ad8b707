r"""Gaussian-mixture classification with C classes: y uniform on {0..C-1}, x = \mu_y + \sigma z.

Class means \mu_c = ``mu_norm`` u_c with u_c uniform on the unit sphere of R^d, drawn once per seed
from (seed, "means"); z ~ N(0, I_d). Labels from (seed, "labels_<split>"), noise from
(seed, "data_<split>"). ``shuffle_labels`` permutes the training labels (a negative control).
``loss`` chooses the task: ``cross_entropy`` (``multiclass``) or ``mse`` (``multiclass_mse``,
squared loss to the one-hot label; :mod:`featlab.train.tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, added, register_data
from featlab.rng import generator

__all__ = ["GaussianMixtureData", "sample_run", "means"]


@register_data
@dataclass(frozen=True)
class GaussianMixtureData:
    """Gaussian-mixture classification (:mod:`featlab.data.gaussian_mixture`): C classes with means
    of norm ``mu_norm``, isotropic noise ``sigma``."""

    n: int = 256
    d: int = 16
    n_test: int = 1024
    n_classes: int = 3
    mu_norm: float = 2.0
    sigma: float = 1.0
    shuffle_labels: bool = False
    kind: Literal["gaussian_mixture"] = "gaussian_mixture"
    loss: Literal["cross_entropy", "mse"] = added("cross_entropy")

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"mu_norm", "sigma"})
    INPUT: ClassVar[str] = "vectors"

    @property
    def task(self) -> str:
        """The task of :mod:`featlab.train.tasks` that ``loss`` names."""
        return "multiclass" if self.loss == "cross_entropy" else "multiclass_mse"

    def __post_init__(self) -> None:
        for key in ("n", "d", "n_test"):
            value = getattr(self, key)
            _check(isinstance(value, int) and value >= 1, f"data.{key}", value, "use an integer >= 1")
        _check(isinstance(self.n_classes, int) and self.n_classes >= 2, "data.n_classes",
               self.n_classes, "use an integer number of classes >= 2")
        _check(_finite(self.mu_norm) and self.mu_norm >= 0, "data.mu_norm", self.mu_norm,
               "use a finite ||mu|| >= 0")
        _check(_finite(self.sigma) and self.sigma > 0, "data.sigma", self.sigma, "use a finite sigma > 0")
        _check_choice("data.loss", self.loss, ("cross_entropy", "mse"))


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
