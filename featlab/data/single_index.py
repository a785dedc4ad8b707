r"""Gaussian single-index regression: x ~ N(0, I_d), y = \sigma^*(<x, \beta^*>) + \varepsilon.

The target direction \beta^* is uniform on the unit sphere (||\beta^*|| = 1), drawn once per seed
from the stream (seed, "teacher"), so every run of one seed (any student width, any step size)
learns the same target; x from (seed, "data_<split>"), \varepsilon ~ N(0, noise^2) from
(seed, "noise_<split>"). The splits are "train" (the gradient step), "test" and any other name a
probe asks for (the fresh sample of the ridge readout, "ridge"). This is the data of Ba, Erdogdu,
Suzuki, Wang, Wu, Yang, "High-dimensional asymptotics of feature learning: how one gradient step
improves the representation" (NeurIPS 2022, arXiv 2205.01445). ``shuffle_labels`` permutes the
training labels (a negative control).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, register_data
from featlab.rng import generator

__all__ = ["SingleIndexData", "sample_run", "direction", "TEACHERS"]

#: sigma^* by name (erf as in Ba et al.'s Fig. 3c; "linear" has no nonlinear part: a control).
TEACHERS = {"erf": torch.erf, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}


@register_data
@dataclass(frozen=True)
class SingleIndexData:
    """Single-index regression (:mod:`featlab.data.single_index`): x ~ N(0, I_d),
    y = sigma*(<x, beta*>) + N(0, noise^2), ||beta*|| = 1."""

    n: int = 256
    d: int = 64
    n_test: int = 2000
    teacher: Literal["erf", "tanh", "relu", "linear"] = "erf"
    noise: float = 0.1
    shuffle_labels: bool = False
    kind: Literal["single_index"] = "single_index"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"noise"})
    INPUT: ClassVar[str] = "vectors"
    task: ClassVar[str] = "regression"

    def __post_init__(self) -> None:
        for key in ("n", "d", "n_test"):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                   f"data.{key}", value, "use an integer >= 1")
        _check_choice("data.teacher", self.teacher, tuple(TEACHERS))
        _check(_finite(self.noise) and self.noise >= 0, "data.noise", self.noise,
               "use a finite label-noise standard deviation >= 0")


def direction(cfg: SingleIndexData, seed: int) -> torch.Tensor:
    """beta* (d,), uniform on the unit sphere, float64."""
    b = torch.randn(cfg.d, generator=generator(seed, "teacher"), dtype=torch.float64)
    return b / b.norm()


def sample_run(cfg: SingleIndexData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, d), y (n,) and the noiseless target f_star (n,)."""
    X = torch.randn(n, cfg.d, generator=generator(seed, f"data_{split}"), dtype=torch.float64)
    f_star = TEACHERS[cfg.teacher](X @ direction(cfg, seed))
    y = f_star + cfg.noise * torch.randn(n, generator=generator(seed, f"noise_{split}"),
                                         dtype=torch.float64)
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    return {"X": X.to(dtype), "y": y.to(dtype), "f_star": f_star.to(dtype)}
