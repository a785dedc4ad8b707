r"""The generic engine's analytic gradient: a family's batched forward and its vector-Jacobian
product, chained with the task's loss.

For P runs with parameters \theta_p, batch (X_p, y_p) and sample weights w_p, the loss of run p
is L_p = \sum_i w_{p,i} \ell(f(\theta_p, x_{p,i}), y_{p,i}). A family that provides
``Family.vjp`` computes the outputs of the whole population at once, f = F(\theta, X) (P, n, ...),
and a pullback g \mapsto (\partial f / \partial \theta)^T g for the trained parameters. The
engine supplies the cotangent

    g_{p,i} = \partial L_p / \partial f_{p,i} = w_{p,i} \ell'(f_{p,i}, y_{p,i}),

from the task's per-sample loss (:mod:`featlab.train.tasks`: any task, soft labels included),
by autograd on the small (P, n, ...) output tensor only, so

    \nabla_\theta L_p = pullback(g)_p.

Training strategies (label noise, SAM, mixup) and minibatch weights change only (X, y, w), so
they work unchanged. :func:`analytic_loss_and_grad` has the signature of
:func:`featlab.train.vmapped.vmap_loss_and_grad`; the two give the same numbers up to rounding
(the vmap path stays available: ``train_chunk(..., vmap=True)``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.func import vmap

from featlab.train.tasks import Task

__all__ = ["analytic_loss_and_grad", "loss_and_cotangent"]


def _run_losses(task: Task, f: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                soft: bool) -> torch.Tensor:
    """L_p = sum_i w_{p,i} l(f_{p,i}, y_{p,i}): (P,). A per-sample task scores the P n samples
    in one call; any other (a contrastive loss couples a run's samples) is vmapped over P."""
    if task.per_sample:
        P, n = w.shape
        per = task.loss(f.reshape(P * n, *f.shape[2:]), y.reshape(P * n, *y.shape[2:]), soft)
        return (w * per.reshape(P, n)).sum(1)
    return vmap(lambda f1, y1, w1: (w1 * task.loss(f1, y1, soft)).sum())(f, y, w)


def loss_and_cotangent(task: Task, f: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                       soft: bool = False, need_grad: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-run loss L_p = sum_i w_{p,i} l(f_{p,i}, y_{p,i}) (P,) and its gradient dL_p/df (the
    shape of f), or None without ``need_grad``, by autograd on f alone: runs are independent,
    so d(sum_p L_p)/df is each run's own gradient."""
    if not need_grad:
        return _run_losses(task, f, y, w, soft), None
    with torch.enable_grad():
        leaf = f.detach().requires_grad_(True)
        loss = _run_losses(task, leaf, y, w, soft)                          # (P,)
        (g,) = torch.autograd.grad(loss.sum(), leaf)
    return loss.detach(), g


def analytic_loss_and_grad(family: Any, cfg: Any, task: Task) -> Callable:
    """``fn(cfg, params, X, y, weight, need_grad=True, soft=False, span=None) ->
    (loss (P,), f (P, n, ...), grads | None)`` from ``family.vjp`` (module docstring); grads
    holds the family's ``param_groups`` only."""
    if family.vjp is None:
        raise ValueError(f"model.kind={family.kind!r} has no batched vjp; use the vmap path "
                         f"(featlab.train.vmapped.vmap_loss_and_grad)")
    trained = tuple(family.param_groups(cfg))

    def fn(_cfg: Any, params: dict, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
           need_grad: bool = True, soft: bool = False, span: Any = None):
        if span is not None:
            raise ValueError("the analytic generic path trains in the primal representation "
                             "(span=None)")
        f, pullback = family.vjp(cfg, params, X)
        loss, g = loss_and_cotangent(task, f, y, weight, soft, need_grad)
        if not need_grad:
            return loss, f, None
        grads = pullback(g)
        return loss, f, {k: grads[k] for k in trained}

    return fn
