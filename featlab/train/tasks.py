r"""Tasks and their losses: the seam between a model's outputs f and a data model's labels y.

A task is chosen by the data model (its config's ``task``: ``binary`` unless it says otherwise):

- ``binary``: labels y in {-1, +1}, one output f; logistic loss \ell(y f) = \log(1 + e^{-y f});
  a soft label y in [-1, 1] (mixup) gives ((1+y)/2) \ell(f) + ((1-y)/2) \ell(-f); 0-1 error
  1[y f <= 0];
- ``multiclass``: labels y in {0..C-1} (stored as floats), C outputs; cross-entropy
  \log \sum_c e^{f_c} - f_y; soft labels (mixup) are (N, C) probabilities q with loss
  -\sum_c q_c \log softmax(f)_c; 0-1 error 1[argmax f != y];
- ``regression``: real y, one output; squared loss (f - y)^2 (torch's MSELoss per sample); no
  0-1 error. A soft (mixed) target \lambda y_i + (1-\lambda) y_j has the same gradient as
  \lambda (f-y_i)^2 + (1-\lambda)(f-y_j)^2.
- ``contrastive``: labels y in {-1, +1} shared by the two views of a pair, outputs f (N, 2, m)
  (each view's features); the symmetric InfoNCE loss with a stop-gradient similarity and
  different-label negatives at the data config's temperature ``tau``
  (:mod:`featlab.train.contrastive`); a sample's loss depends on the other samples (its
  negatives); no 0-1 error (the linear probe scores the features).

A task whose loss has parameters of the data config (the contrastive temperature) has a ``bind``
that returns the task with them filled in; :func:`task_of` applies it.

Losses are per sample (N,), for one run; the engine weights and sums them and vmaps over P.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from featlab.train.contrastive import info_nce

__all__ = ["Task", "TASKS", "task_of"]


@dataclass(frozen=True)
class Task:
    """``loss(f, y, soft) -> (N,)``; ``error(f, y) -> (N,)`` 0/1 (None: no 0-1 error);
    ``out_dim(data_cfg)`` outputs the model needs; ``mix(lam, y, y_pi, n_out)`` the soft labels
    of mixup (lam, y, y_pi: (P, n))."""

    name: str
    loss: Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]
    error: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
    out_dim: Callable[[Any], int]
    mix: Callable[..., torch.Tensor] | None = None
    bind: Callable[[Any], "Task"] | None = None

    def mix_labels(self, n_out: int) -> Callable[..., torch.Tensor]:
        """``(lam, y, y_pi) -> soft labels`` for this task with ``n_out`` outputs."""
        mix = self.mix or _mix_linear
        return lambda lam, y, yp: mix(lam, y, yp, n_out)


def _logistic(f: torch.Tensor, y: torch.Tensor, soft: bool = False) -> torch.Tensor:
    if soft:
        p = 0.5 * (1 + y)
        return p * F.softplus(-f) + (1 - p) * F.softplus(f)
    return F.softplus(-y * f)


def _cross_entropy(f: torch.Tensor, y: torch.Tensor, soft: bool = False) -> torch.Tensor:
    logp = torch.log_softmax(f, dim=-1)                                     # (N, C)
    if soft:
        return -(y * logp).sum(-1)
    return -logp.gather(-1, y.long()[:, None])[:, 0]


def _squared(f: torch.Tensor, y: torch.Tensor, soft: bool = False) -> torch.Tensor:
    return (f - y) ** 2


def _bind_contrastive(data_cfg: Any) -> "Task":
    """The contrastive task at the data config's temperature tau."""
    tau = float(data_cfg.tau)
    return Task("contrastive", lambda f, y, soft=False: info_nce(f, y, tau), None, lambda d: 1)


def _mix_linear(lam: torch.Tensor, y: torch.Tensor, yp: torch.Tensor, n_out: int) -> torch.Tensor:
    """lam y + (1 - lam) y_pi: (P, n) (a soft +-1 label, or a mixed real target)."""
    return lam * y + (1 - lam) * yp


def _mix_onehot(lam: torch.Tensor, y: torch.Tensor, yp: torch.Tensor, n_out: int) -> torch.Tensor:
    """lam e_y + (1 - lam) e_{y_pi}: (P, n, C) class probabilities."""
    onehot = lambda c: F.one_hot(c.long(), n_out).to(lam.dtype)  # noqa: E731
    return lam[..., None] * onehot(y) + (1 - lam[..., None]) * onehot(yp)


TASKS: dict[str, Task] = {
    "binary": Task("binary", _logistic, lambda f, y: (y * f <= 0).to(f.dtype), lambda d: 1),
    "multiclass": Task("multiclass", _cross_entropy,
                       lambda f, y: (f.argmax(-1) != y.long()).to(f.dtype),
                       lambda d: int(d.n_classes), _mix_onehot),
    "regression": Task("regression", _squared, None, lambda d: 1),
    "contrastive": Task("contrastive", lambda f, y, soft=False: info_nce(f, y, 1.0), None,  # unbound: tau = 1
                        lambda d: 1, bind=_bind_contrastive),
}


def task_of(data_cfg: Any) -> Task:
    """The task of a data config (``binary`` when it declares none), bound to its parameters."""
    task = TASKS[getattr(data_cfg, "task", "binary")]
    return task.bind(data_cfg) if task.bind is not None else task
