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
are tokens too: (n_ctx + 1, d + 1) per prompt. Contrastive pairs (``INPUT = "pairs"``,
:mod:`featlab.data.contrastive_pairs`) return X (n, 2 views, 2 patches, d) and y (n,). The 8x8
digits (:mod:`featlab.data.digits`) are real vector data: a per-run stratified split of
scikit-learn's 1797 images, X (n, 64).
"""

from __future__ import annotations

import torch

from featlab.data import class_signals
from featlab.data import feature_noise
from featlab.data import gaussian_mixture
from featlab.data import icl_regression
from featlab.data import margin_mix
from featlab.data import signal_noise
from featlab.data import single_index
from featlab.data import sparse_noise
from featlab.data import teacher_student
from featlab.data import tokens
from featlab.data import xor
from featlab.data import signal_tokens
from featlab.data import contrastive_pairs
from featlab.data import vocab_tokens
from featlab.data import mlp_teacher
from featlab.data import sparse_tokens
from featlab.data import digits
from featlab.data.signal_noise import PatchBatch, noise_form, stack_runs

__all__ = ["PatchBatch", "sample_run", "sample_batch", "stack_runs", "noise_form", "REGISTRY",
           "input_shape"]

REGISTRY = {
    "signal_noise": signal_noise,
    "feature_noise": feature_noise,
    "margin_mix": margin_mix,
    "sparse_noise": sparse_noise,
    "teacher_student": teacher_student,
    "gaussian_mixture": gaussian_mixture,
    "single_index": single_index,
    "xor": xor,
    "token_selection": tokens,
    "icl_regression": icl_regression,
    "signal_tokens": signal_tokens,
    "class_signals": class_signals,
    "contrastive_pairs": contrastive_pairs,
    "vocab_tokens": vocab_tokens,
    "mlp_teacher": mlp_teacher,
    "sparse_tokens": sparse_tokens,
    "digits": digits,
}


def sample_run(cfg, seed: int, n: int, split: str, dtype: torch.dtype = torch.float32
               ) -> dict[str, torch.Tensor]:
    """One run's dataset from the data model ``cfg.kind`` (see the module docstring)."""
    return REGISTRY[cfg.kind].sample_run(cfg, seed, n, split, dtype)


def sample_batch(cfgs: list, seeds: list[int], split: str, dtype: torch.dtype = torch.float32,
                 n: list[int] | None = None) -> PatchBatch:
    """The runs' datasets stacked on the population axis (``n``: per-run sample counts, default
    each ``cfg.n``): the data model's vectorized ``sample_batch`` when it has one (same draws as
    its ``sample_run``), else :func:`stack_runs` of ``sample_run`` per run."""
    module = REGISTRY[cfgs[0].kind]
    ns = [c.n for c in cfgs] if n is None else list(n)
    if hasattr(module, "sample_batch"):
        return module.sample_batch(cfgs, seeds, split, dtype, ns)
    return stack_runs([module.sample_run(c, s, k, split, dtype) for c, s, k in zip(cfgs, seeds, ns)])


def input_shape(cfg) -> tuple[int, ...]:
    """Shape of one sample of the data model ``cfg``: its ``input_shape`` if it declares one
    (token data: (T, d)), else (d,)."""
    return tuple(getattr(cfg, "input_shape", (cfg.d,)))
