r"""Gaussian teacher-student regression: x ~ N(0, I_d), y = f^*(x) + \sigma \varepsilon.

The teacher is a random two-layer network of width k drawn once per seed from the stream
(seed, "teacher"): f^*(x) = \sum_{j<=k} a_j \phi(<w_j, x>), w_j ~ N(0, I_d / d), a_j ~ N(0, 1/k),
so E f^*(x)^2 = O(1) at any d, k. Every run of one seed (any student width) learns the same
teacher. Samples: x from (seed, "data_<split>"), noise \varepsilon ~ N(0, 1) from
(seed, "noise_<split>"). ``shuffle_labels`` permutes the training labels (a negative control: no
relation left between x and y).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, register_data
from featlab.rng import generator

__all__ = ["TeacherStudentData", "sample_run", "teacher"]


@register_data
@dataclass(frozen=True)
class TeacherStudentData:
    """Gaussian teacher-student regression (:mod:`featlab.data.teacher_student`): x ~ N(0, I_d),
    y = f*(x) + noise N(0, noise^2), f* a random width-``teacher_width`` two-layer network."""

    n: int = 256
    d: int = 16
    n_test: int = 1024
    teacher_width: int = 8
    teacher_activation: Literal["relu", "tanh", "erf", "linear"] = "tanh"
    noise: float = 0.1
    shuffle_labels: bool = False
    kind: Literal["teacher_student"] = "teacher_student"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"noise"})
    INPUT: ClassVar[str] = "vectors"
    task: ClassVar[str] = "regression"

    def __post_init__(self) -> None:
        for key in ("n", "d", "n_test", "teacher_width"):
            value = getattr(self, key)
            _check(isinstance(value, int) and value >= 1, f"data.{key}", value, "use an integer >= 1")
        _check_choice("data.teacher_activation", self.teacher_activation,
                      ("relu", "tanh", "erf", "linear"))
        _check(_finite(self.noise) and self.noise >= 0, "data.noise", self.noise,
               "use a finite label-noise standard deviation >= 0")

_PHI = {"relu": torch.relu, "tanh": torch.tanh, "erf": torch.erf, "linear": lambda z: z}


def teacher(cfg: TeacherStudentData, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W^* (k, d), a^* (k,)) of a seed's teacher (float64)."""
    g = generator(seed, "teacher")
    W = torch.randn(cfg.teacher_width, cfg.d, generator=g, dtype=torch.float64) / cfg.d**0.5
    a = torch.randn(cfg.teacher_width, generator=g, dtype=torch.float64) / cfg.teacher_width**0.5
    return W, a


def sample_run(cfg: TeacherStudentData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, d) and y (n,)."""
    W, a = teacher(cfg, seed)
    X = torch.randn(n, cfg.d, generator=generator(seed, f"data_{split}"), dtype=torch.float64)
    y = _PHI[cfg.teacher_activation](X @ W.T) @ a
    y = y + cfg.noise * torch.randn(n, generator=generator(seed, f"noise_{split}"), dtype=torch.float64)
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    return {"X": X.to(dtype), "y": y.to(dtype)}
