r"""Tasks and their losses: the seam between a model's outputs f and a data model's labels y.

A task is chosen by the model family when it declares one (``Family.task``: the tied denoiser's
``denoise``), else by the data model (its config's ``task``: ``binary`` unless it says otherwise):

- ``binary``: labels y in {-1, +1}, one output f; logistic loss \ell(y f) = \log(1 + e^{-y f});
  a soft label y in [-1, 1] (mixup) gives ((1+y)/2) \ell(f) + ((1-y)/2) \ell(-f); 0-1 error
  1[y f <= 0];
- ``multiclass``: labels y in {0..C-1} (stored as floats), C outputs; cross-entropy
  \log \sum_c e^{f_c} - f_y; soft labels (mixup) are (N, C) probabilities q with loss
  -\sum_c q_c \log softmax(f)_c; 0-1 error 1[argmax f != y];
- ``multiclass_mse``: labels y in {0..C-1}, C outputs, squared loss to the one-hot target
  \sum_c (f_c - 1[c = y])^2 (the MSE classification loss of Han, Papyan, Donoho 2022 and Wu &
  Mondelli 2025); soft labels (mixup) are (N, C) target vectors q with loss \sum_c (f_c - q_c)^2;
  0-1 error 1[argmax f != y];
- ``regression``: real y, one output; squared loss (f - y)^2 (torch's MSELoss per sample); no
  0-1 error. A soft (mixed) target \lambda y_i + (1-\lambda) y_j has the same gradient as
  \lambda (f-y_i)^2 + (1-\lambda)(f-y_j)^2.
- ``denoise`` (DDPM at one noise level; Ho et al. 2020, arXiv 2006.11239, eq. 14 without the
  time sampling): the model's output f (N, *input_shape) predicts the noise \epsilon of the
  corrupted input x_t = \sqrt{\bar\alpha} x_0 + \sqrt{1 - \bar\alpha} \epsilon; loss
  \|f - \epsilon\|^2 summed over the sample's coordinates; no 0-1 error. The task's ``corrupt``
  draws \epsilon ~ N(0, I) from each run's counter-based stream (:func:`featlab.rng.hash_uniform`,
  Box-Muller) keyed by (run, step), so a run's noise is the same in any population, and
  returns (x_t, \epsilon), which the trainer differentiates in place of (x_0, y). A model
  family chooses it through ``Family.task`` (the data model's labels are not used).
- ``contrastive``: labels y in {-1, +1} shared by the two views of a pair, outputs f (N, 2, m)
  (each view's features); the symmetric InfoNCE loss with a stop-gradient similarity at the
  data config's temperature ``tau`` and negatives (``negatives``, ``n_negatives``: by default
  every different-label sample)
  (:mod:`featlab.train.contrastive`); a sample's loss depends on the other samples (its
  negatives); no 0-1 error (the linear probe scores the features).

A task whose loss has parameters of the data config (the contrastive temperature) has a ``bind``
that returns the task with them filled in; :func:`task_of` applies it.

Losses are per sample (N,), for one run; the engine weights and sums them and vmaps over P.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from featlab.rng import hash_uniform
from featlab.train.contrastive import info_nce

__all__ = ["Task", "TASKS", "task_of", "hash_normal"]


@dataclass(frozen=True)
class Task:
    """``loss(f, y, soft) -> (N,)``; ``error(f, y) -> (N,)`` 0/1 (None: no 0-1 error);
    ``out_dim(data_cfg)`` outputs the model needs; ``mix(lam, y, y_pi, n_out)`` the soft labels
    of mixup (lam, y, y_pi: (P, n)); ``corrupt(model_cfg, X, keys, step) -> (X_t, target)``
    the per-step input corruption of a denoising task (None: train on (X, y)); ``per_sample``:
    each sample's loss depends on that sample alone, so a population's (P, n, ...) outputs may
    be scored as P n samples in one call (:mod:`featlab.train.analytic`; False, the safe
    default, batches the one-run loss by vmap)."""

    name: str
    loss: Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]
    error: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
    out_dim: Callable[[Any], int]
    mix: Callable[..., torch.Tensor] | None = None
    corrupt: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
    bind: Callable[[Any], "Task"] | None = None
    per_sample: bool = False

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


def _onehot_squared(f: torch.Tensor, y: torch.Tensor, soft: bool = False) -> torch.Tensor:
    if soft:
        target = y                                                          # (N, C)
    else:                                                                   # one-hot, vmap-safe
        target = (y.long()[:, None] == torch.arange(f.shape[-1], device=f.device)).to(f.dtype)
    return (f - target).pow(2).sum(-1)


def _squared(f: torch.Tensor, y: torch.Tensor, soft: bool = False) -> torch.Tensor:
    return (f - y) ** 2


def _bind_contrastive(data_cfg: Any) -> "Task":
    """The contrastive task at the data config's temperature tau and negatives."""
    tau = float(data_cfg.tau)
    neg = str(getattr(data_cfg, "negatives", "other_label"))
    m_neg = int(getattr(data_cfg, "n_negatives", 0))
    return Task("contrastive", lambda f, y, soft=False: info_nce(f, y, tau, neg, m_neg), None,
                lambda d: 1)


def _mix_linear(lam: torch.Tensor, y: torch.Tensor, yp: torch.Tensor, n_out: int) -> torch.Tensor:
    """lam y + (1 - lam) y_pi: (P, n) (a soft +-1 label, or a mixed real target)."""
    return lam * y + (1 - lam) * yp


def _mix_onehot(lam: torch.Tensor, y: torch.Tensor, yp: torch.Tensor, n_out: int) -> torch.Tensor:
    """lam e_y + (1 - lam) e_{y_pi}: (P, n, C) class probabilities."""
    onehot = lambda c: F.one_hot(c.long(), n_out).to(lam.dtype)  # noqa: E731
    return lam[..., None] * onehot(y) + (1 - lam[..., None]) * onehot(yp)


def _squared_sum(f: torch.Tensor, y: torch.Tensor, soft: bool = False) -> torch.Tensor:
    """||f_i - y_i||^2 per sample: f, y (N, ...) -> (N,)."""
    return (f - y).pow(2).flatten(1).sum(1)


def hash_normal(keys: torch.Tensor, step: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """N(0, 1) float64 draws (P, *shape), a pure function of (key_p, step, index): Box-Muller on
    two :func:`featlab.rng.hash_uniform` draws per entry."""
    u = hash_uniform(keys, step, (2, *shape))                               # (P, 2, *shape)
    u1, u2 = u[:, 0].clamp_min(1e-300), u[:, 1]
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


def _diffuse(model_cfg: Any, X: torch.Tensor, keys: torch.Tensor, step: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, eps): x_t = sqrt(alpha_bar) X + sqrt(1 - alpha_bar) eps, eps ~ N(0, I) of X's shape
    (P, n, ...) from the runs' keys (P,) at ``step``; alpha_bar = ``model_cfg.alpha_bar``."""
    ab = float(model_cfg.alpha_bar)
    eps = hash_normal(keys, step, tuple(X.shape[1:])).to(device=X.device, dtype=X.dtype)
    return math.sqrt(ab) * X + math.sqrt(1.0 - ab) * eps, eps


TASKS: dict[str, Task] = {
    "binary": Task("binary", _logistic, lambda f, y: (y * f <= 0).to(f.dtype), lambda d: 1,
                   per_sample=True),
    "multiclass": Task("multiclass", _cross_entropy,
                       lambda f, y: (f.argmax(-1) != y.long()).to(f.dtype),
                       lambda d: int(d.n_classes), _mix_onehot, per_sample=True),
    "multiclass_mse": Task("multiclass_mse", _onehot_squared,
                           lambda f, y: (f.argmax(-1) != y.long()).to(f.dtype),
                           lambda d: int(d.n_classes), _mix_onehot, per_sample=True),
    "regression": Task("regression", _squared, None, lambda d: 1, per_sample=True),
    "denoise": Task("denoise", _squared_sum, None, lambda d: 1, corrupt=_diffuse, per_sample=True),
    "contrastive": Task("contrastive", lambda f, y, soft=False: info_nce(f, y, 1.0), None,  # unbound: tau = 1
                        lambda d: 1, bind=_bind_contrastive),
}


def task_of(data_cfg: Any, model_cfg: Any = None) -> Task:
    """The task of a run: the model family's (``Family.task``) when it chooses one, else the data
    config's (``binary`` when it declares none), bound to the data config's parameters."""
    if model_cfg is not None:
        from featlab.models.family import FAMILIES
        fam = FAMILIES.get(getattr(model_cfg, "kind", None))
        if fam is not None and fam.task is not None:
            return TASKS[fam.task(model_cfg)]
    task = TASKS[getattr(data_cfg, "task", "binary")]
    return task.bind(data_cfg) if task.bind is not None else task
