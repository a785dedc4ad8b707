"""Data models. ``REGISTRY`` maps a data config's ``kind`` to the module that samples it.

A data model is one module with a config dataclass registered by
:func:`featlab.config.register_data` and ``sample_run(cfg, seed, n, split, dtype)`` returning
one run's X (n, K, d), y, y_clean, signal_patch (n,), mu (S, d), mu_class (S,), noise_idx
(n, K_n) and optionally group (n,); add it here. Vector data models (``INPUT = "vectors"``:
teacher-student regression, Gaussian mixtures) return only X (n, d) and y (n,), and their
config's ``task`` names the loss (:mod:`featlab.train.tasks`). Token data (``INPUT = "tokens"``,
:mod:`featlab.data.tokens`) return X (n, T, d) and y (n,) plus per-sample extras (clean labels,
the flip indicator) that the generic trainer carries for the probes; their config's
``input_shape`` is (T, d). In-context regression prompts (:mod:`featlab.data.icl_regression`)
are tokens too: (n_ctx + 1, d + 1) per prompt.
"""

from __future__ import annotations

import torch

from featlab.data import feature_noise
from featlab.data import gaussian_mixture
from featlab.data import icl_regression
from featlab.data import margin_mix
from featlab.data import signal_noise
from featlab.data import sparse_noise
from featlab.data import teacher_student
from featlab.data import tokens
from featlab.data.signal_noise import PatchBatch, noise_form, stack_runs

__all__ = ["PatchBatch", "sample_run", "stack_runs", "noise_form", "REGISTRY", "input_shape"]

REGISTRY = {
    "signal_noise": signal_noise,
    "feature_noise": feature_noise,
    "margin_mix": margin_mix,
    "sparse_noise": sparse_noise,
    "teacher_student": teacher_student,
    "gaussian_mixture": gaussian_mixture,
    "token_selection": tokens,
    "icl_regression": icl_regression,
}


def sample_run(cfg, seed: int, n: int, split: str, dtype: torch.dtype = torch.float32
               ) -> dict[str, torch.Tensor]:
    """One run's dataset from the data model ``cfg.kind`` (see the module docstring)."""
    return REGISTRY[cfg.kind].sample_run(cfg, seed, n, split, dtype)


def input_shape(cfg) -> tuple[int, ...]:
    """Shape of one sample of the data model ``cfg``: its ``input_shape`` if it declares one
    (token data: (T, d)), else (d,)."""
    return tuple(getattr(cfg, "input_shape", (cfg.d,)))
