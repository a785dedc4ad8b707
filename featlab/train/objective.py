r"""The stochastic objective one training step differentiates: the training strategy.

Plain (S)GD differentiates L_B(W) = \sum_i w_i \ell(y_i f(W, x_i)) with w the full-batch or
minibatch weights. Training strategies change *which* loss is differentiated, not how the
gradient is turned into an update (that is the optimizer's ``(init, update)`` transform), so
they compose with every optimizer:

- **label noise** (Huang et al. 2025): at step t each label is flipped independently,
  y_i^{(t)} = \epsilon_i^{(t)} y_i with P(\epsilon = -1) = p;
- **mixup** (Zhang et al. 2018; Zou et al. 2023): each sample i is paired with \pi(i) (a
  fresh random permutation per step), x~_i = \lambda_i x_i + (1 - \lambda_i) x_{\pi(i)} and the
  loss is \lambda_i \ell(y_i f(x~_i)) + (1 - \lambda_i) \ell(y_{\pi(i)} f(x~_i)), i.e. the
  logistic loss with the soft label \lambda_i y_i + (1 - \lambda_i) y_{\pi(i)};
  \lambda_i ~ Beta(\alpha, \alpha) or a fixed \lambda;
- **SAM** (Foret et al. 2021; Chen et al. 2023): the gradient is taken at the ascent point
  W + \rho g / \|g\| with g = \nabla L_B(W) (global norm per run), for the first ``sam_steps``
  steps only when that is positive ("SAM then SGD").

All randomness comes from :func:`featlab.rng.hash_uniform` keyed per run, so a run's label
noise and mixing are the same in any population. Every hyperparameter is a (P,) tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from featlab.rng import hash_beta, hash_uniform
from featlab.train.span import SpanBasis, loss_and_grad_any

__all__ = ["Strategy", "strategy_of", "step_gradient"]


@dataclass(frozen=True)
class Strategy:
    """Which objective modifications a chunk runs (structural: one code path per chunk)."""

    label_noise: bool = False
    mixup: bool = False
    sam: bool = False

    @property
    def plain(self) -> bool:
        return not (self.label_noise or self.mixup or self.sam)


def strategy_of(optims: list) -> Strategy:
    """The strategy needed by a chunk's OptimConfigs (runs with a zero setting are unaffected)."""
    return Strategy(label_noise=any(o.label_noise > 0 for o in optims),
                    mixup=any(o.mixup_alpha > 0 or o.mixup_lambda > 0 for o in optims),
                    sam=any(o.sam_rho > 0 for o in optims))


def _noisy_labels(y: torch.Tensor, p: torch.Tensor, key: torch.Tensor, t: int) -> torch.Tensor:
    """y_i eps_i^{(t)}, eps = -1 with probability p_run: (P, n)."""
    u = hash_uniform(key, t, (y.shape[1],)).to(y.device)                   # (P, n)
    return torch.where(u < p[:, None], -y, y)


def _mix(X: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, hp: dict, t: int,
         mix_labels=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixed inputs (P, n, *input_shape) and soft labels: (P, n) for +-1 or real labels,
    ``mix_labels(lam, y, y_pi)`` otherwise (a multi-class task's (P, n, C) mixed one-hots);
    runs with mixing off keep lambda = 1."""
    P, n = y.shape
    u = hash_uniform(hp["key_mix"], t, (n,)).to(y.device)
    u = torch.where(mask > 0, u, torch.full_like(u, 2.0))                  # padding sorts last
    partner = torch.argsort(u, dim=1)                                       # (P, n) pi(i)
    alpha, fixed = hp["mixup_alpha"], hp["mixup_lambda"]
    if bool(((alpha > 0) & (fixed <= 0)).any()):                           # some run draws lambda
        lam = hash_beta(hp["key_mix"], t, (n,), alpha.clamp_min(1e-3)).to(y.device)
    else:
        lam = torch.ones(P, n, dtype=torch.float64, device=y.device)
    lam = torch.where(fixed[:, None] > 0, fixed[:, None].expand(P, n), lam)
    off = (alpha <= 0) & (fixed <= 0)
    lam = torch.where(off[:, None], torch.ones_like(lam), lam).to(X.dtype)  # (P, n)
    rows = torch.arange(P, device=X.device)[:, None]
    Xp, yp = X[rows, partner], y[rows, partner]                             # (P, n, ...), (P, n)
    X_mix = torch.lerp(Xp, X, lam.reshape(P, n, *([1] * (X.dim() - 2))))   # lam x + (1-lam) x_pi
    if mix_labels is not None:
        return X_mix, mix_labels(lam, y, yp)
    return X_mix, lam * y + (1 - lam) * yp


def _ascent_point(params: dict, grads: dict, rho: torch.Tensor) -> dict:
    """W + rho g/||g|| per run (parameters without a gradient stay put)."""
    sq = sum(g.flatten(1).pow(2).sum(1) for g in grads.values())            # (P,)
    scale = rho.to(sq.dtype) / sq.sqrt().clamp_min(1e-12)
    return {k: v + scale.reshape(-1, *([1] * (v.dim() - 1))) * grads[k] if k in grads else v
            for k, v in params.items()}


def step_gradient(model_cfg, strategy: Strategy, params: dict, batch, weight: torch.Tensor,
                  hp: dict, t: int, need_grad: bool = True, span: SpanBasis | None = None,
                  grad_fn=loss_and_grad_any, mix_labels=None):
    """Loss (P,) and outputs (P, n) of the step's objective at W, and its gradient (see the
    module docstring). ``weight``: (P, n) full-batch or minibatch weights. With ``span``, params
    and gradient are in the span representation (:mod:`featlab.train.span`; no mixup or SAM).
    ``grad_fn``: the loss-and-gradient function (the CNN's analytic one, or
    :func:`featlab.train.vmapped.vmap_loss_and_grad` of any family); ``mix_labels``: the task's
    soft-label rule for mixup (:attr:`featlab.train.tasks.Task.mix`; default lam y + (1-lam) y_pi)."""
    if span is not None and (strategy.mixup or strategy.sam):
        raise ValueError("mixup and SAM train in the primal representation only (span=None)")
    X, y, soft = batch.X, batch.y, False
    if strategy.label_noise:
        y = _noisy_labels(y, hp["label_noise"], hp["key_ln"], t)
    if strategy.mixup:
        X, y = _mix(X, y, batch.mask, hp, t, mix_labels)
        soft = True
    loss, f, grads = grad_fn(model_cfg, params, X, y, weight, need_grad, soft, span)
    if strategy.sam and need_grad:
        on = (hp["sam_steps"] == 0) | (t < hp["sam_steps"])
        rho = torch.where(on, hp["sam_rho"], torch.zeros_like(hp["sam_rho"]))
        if bool((rho > 0).any()):
            _, _, grads = grad_fn(model_cfg, _ascent_point(params, grads, rho), X, y,
                                            weight, True, soft)
    return loss, f, grads
