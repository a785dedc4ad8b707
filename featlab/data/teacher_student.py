r"""Gaussian teacher-student regression: x ~ N(0, I_d), y = f^*(x) + \sigma \varepsilon.

The teacher is a random two-layer network of width k drawn once per seed from the stream
(seed, "teacher"): f^*(x) = \sum_{j<=k} a_j \phi(<w_j, x>), w_j ~ N(0, I_d / d), a_j ~ N(0, 1/k),
so E f^*(x)^2 = O(1) at any d, k. Every run of one seed (any student width) learns the same
teacher. Samples: x from (seed, "data_<split>"), noise \varepsilon ~ N(0, 1) from
(seed, "noise_<split>"). ``shuffle_labels`` permutes the training labels (a negative control: no
relation left between x and y).
"""

from __future__ import annotations

import torch

from featlab.config import TeacherStudentData
from featlab.rng import generator

__all__ = ["sample_run", "teacher"]

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
