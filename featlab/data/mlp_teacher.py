r"""Extensive-width MLP teacher: width k = kappa d, n = alpha d^2 samples (Barbier et al. 2025).

    x ~ N(0, I_d),   y = f^*(x) + \sqrt{\Delta} \varepsilon,
    f^*(x) = \sum_{j<=k} a^*_j \phi(<w^*_j, x>),   w^*_j ~ N(0, I_d / d),

with a^*_j ~ N(0, 1/k) (``readout="gaussian"``) or a^*_j = 1/\sqrt{k} (``"ones"``), so
E f^*(x)^2 = O(1) at any d, k. The sampling rate is the paper's alpha = n / d^2 (the number of
first-layer parameters is k d = kappa d^2, so alpha ~ kappa is the interpolation regime).
Reference: Barbier, Camilli, Nguyen, Pastore, Skerk, "Statistical physics of deep learning:
optimal learning of a multi-layer perceptron near interpolation", arXiv 2510.24616 (and the
two-layer paper arXiv 2501.18530). The teacher (W^*, a^*) is drawn once per seed from the stream
(seed, "teacher"); samples from (seed, "data_<split>"), noise from (seed, "noise_<split>").

``sample_run`` also returns the teacher's first layer ``teacher_W`` (k, d) and readout
``teacher_a`` (k,) (the same for every split) so the ``specialisation`` probe
(:mod:`featlab.probes`) can measure the student's overlap. n and k are derived (properties).
Negative controls: ``shuffle_labels`` permutes the training labels; ``pure_noise`` replaces
f^*(x) by Gaussian noise of the same variance (no teacher left in the labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, register_data
from featlab.rng import generator

__all__ = ["MLPTeacherData", "sample_run", "teacher"]

_PHI = {"relu": torch.relu, "tanh": torch.tanh, "erf": torch.erf}


@register_data
@dataclass(frozen=True)
class MLPTeacherData:
    """Extensive-width two-layer teacher (:mod:`featlab.data.mlp_teacher`): width
    k = round(kappa d), n = round(alpha d^2) training samples, label noise std ``noise``."""

    d: int = 16
    kappa: float = 1.0
    alpha: float = 1.0
    n_test: int = 1024
    activation: Literal["relu", "tanh", "erf"] = "tanh"
    readout: Literal["gaussian", "ones"] = "gaussian"
    noise: float = 0.05
    shuffle_labels: bool = False
    pure_noise: bool = False
    kind: Literal["mlp_teacher"] = "mlp_teacher"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"noise"})
    INPUT: ClassVar[str] = "vectors"
    task: ClassVar[str] = "regression"

    def __post_init__(self) -> None:
        for key in ("d", "n_test"):
            value = getattr(self, key)
            _check(isinstance(value, int) and value >= 1, f"data.{key}", value, "use an integer >= 1")
        _check(_finite(self.kappa) and self.kappa > 0 and round(self.kappa * self.d) >= 1,
               "data.kappa", self.kappa, "use a width ratio kappa > 0 with round(kappa d) >= 1")
        _check(_finite(self.alpha) and self.alpha > 0 and round(self.alpha * self.d ** 2) >= 1,
               "data.alpha", self.alpha, "use a sampling rate alpha = n/d^2 > 0 with n >= 1")
        _check_choice("data.activation", self.activation, tuple(_PHI))
        _check_choice("data.readout", self.readout, ("gaussian", "ones"))
        _check(_finite(self.noise) and self.noise >= 0, "data.noise", self.noise,
               "use a finite label-noise standard deviation >= 0")

    @property
    def k(self) -> int:
        """Teacher width k = round(kappa d)."""
        return max(1, round(self.kappa * self.d))

    @property
    def n(self) -> int:
        """Training samples n = round(alpha d^2)."""
        return max(1, round(self.alpha * self.d ** 2))


def teacher(cfg: MLPTeacherData, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W^* (k, d), a^* (k,)) of a seed's teacher (float64)."""
    g = generator(seed, "teacher")
    W = torch.randn(cfg.k, cfg.d, generator=g, dtype=torch.float64) / cfg.d ** 0.5
    a = torch.randn(cfg.k, generator=g, dtype=torch.float64) / cfg.k ** 0.5
    if cfg.readout == "ones":
        a = torch.ones_like(a) / cfg.k ** 0.5
    return W, a


def sample_run(cfg: MLPTeacherData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, d), y (n,) and the teacher teacher_W (k, d), teacher_a (k,)."""
    W, a = teacher(cfg, seed)
    X = torch.randn(n, cfg.d, generator=generator(seed, f"data_{split}"), dtype=torch.float64)
    f = _PHI[cfg.activation](X @ W.T) @ a                                   # (n,)
    if cfg.pure_noise:                  # same variance as f*, no relation to x
        f = f.std() * torch.randn(n, generator=generator(seed, f"pure_{split}"), dtype=torch.float64)
    y = f + cfg.noise * torch.randn(n, generator=generator(seed, f"noise_{split}"), dtype=torch.float64)
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    return {"X": X.to(dtype), "y": y.to(dtype), "teacher_W": W.to(dtype), "teacher_a": a.to(dtype)}
