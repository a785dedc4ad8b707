r"""The generic gradient: ``torch.func.vmap(torch.func.grad_and_value(loss))`` over the population.

For one run with parameters \theta, batch (X, y) and sample weights w (full batch: mask / n;
minibatch: 1/|B| on the chosen samples), the loss is

    L(\theta) = \sum_i w_i \ell(f(\theta, x_i), y_i),

with f the family's ``apply`` (written for one run) and \ell the task's per-sample loss
(:mod:`featlab.train.tasks`). :func:`vmap_loss_and_grad` returns a function with the signature
of the CNN's analytic ``loss_and_grad`` (loss (P,), outputs (P, n[, C]), grads {param: (P, ...)}),
so the trainer, the training strategies (label noise, SAM, mixup) and every optimizer use it
unchanged; gradients are taken only for the family's ``param_groups`` (others stay fixed). A
family with a batched ``vjp`` trains through :mod:`featlab.train.analytic` instead unless this
path is forced (``train_chunk(..., vmap=True)``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.func import grad_and_value, vmap

from featlab.train.tasks import Task

__all__ = ["vmap_loss_and_grad"]


def vmap_loss_and_grad(family: Any, cfg: Any, task: Task) -> Callable:
    """``fn(cfg, params, X, y, weight, need_grad=True, soft=False, span=None) ->
    (loss (P,), f (P, n, ...), grads | None)`` through vmap over P (see the module docstring)."""
    trained = tuple(family.param_groups(cfg))

    def one(train: dict, fixed: dict, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
            soft: bool) -> tuple[torch.Tensor, torch.Tensor]:
        f = family.apply(cfg, {**fixed, **train}, X)
        return (w * task.loss(f, y, soft)).sum(), f

    def fn(_cfg: Any, params: dict, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
           need_grad: bool = True, soft: bool = False, span: Any = None):
        if span is not None:
            raise ValueError("the vmap path trains in the primal representation (span=None)")
        train = {k: params[k] for k in trained}
        fixed = {k: v for k, v in params.items() if k not in train}
        if not need_grad:
            loss, f = vmap(lambda a, b, c, d, e: one(a, b, c, d, e, soft))(train, fixed, X, y, weight)
            return loss, f, None
        g, (loss, f) = vmap(grad_and_value(lambda a, b, c, d, e: one(a, b, c, d, e, soft),
                                           has_aux=True))(train, fixed, X, y, weight)
        return loss, f, g

    return fn
