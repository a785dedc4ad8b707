"""Optimizers as ``(init, update)`` pairs; ``REGISTRY`` maps ``optim.name`` to a builder.

A builder takes the :class:`~featlab.config.OptimConfig` (for structural choices) and the
population's per-run hyperparameters (dict of (P,) tensors: lr, momentum, b1, b2, eps, decay)
and returns a :class:`Transform`. Stochastic optimizers (``langevin``) also read ``noise_key``:
(P,) int64 run keys of each run's own noise stream (the trainers pass
``run_key(seed, "langevin")``). Minibatching is a property of the gradient the trainer feeds in
(``optim.batch_size``), not of the transform. Adding an optimizer = one builder and one entry.
"""

from __future__ import annotations

import dataclasses

from typing import Callable

import torch

from featlab.optim import schedules, transforms
from featlab.optim.base import (Transform, chain, partition, per_run, scale_by_lr, tree_map,
                                tree_select)
from featlab.optim.transforms import (adam, adamw, langevin, normalized_gd, rmsprop, sgd,
                                      sign_gd)

__all__ = ["Transform", "chain", "partition", "build_grouped", "per_run", "scale_by_lr", "tree_map", "tree_select", "gd",
           "sgd", "adam", "adamw", "rmsprop", "sign_gd", "normalized_gd", "langevin", "schedules",
           "transforms", "REGISTRY", "build", "PER_RUN_HPARAMS"]

#: OptimConfig fields passed to builders as (P,) tensors (they may differ between runs).
PER_RUN_HPARAMS = ("lr", "momentum", "b1", "b2", "eps", "decay", "temperature")


def gd(lr: torch.Tensor) -> Transform:
    r"""(Stochastic) gradient descent: W_{t+1} = W_t - \eta \nabla L(W_t)."""
    return sgd(lr)


def _clip(cfg):
    return cfg.clip or None


def _wd(cfg):
    return cfg.weight_decay or None


def _noise_key(h: dict[str, torch.Tensor]) -> torch.Tensor:
    if "noise_key" not in h:
        raise ValueError("optim.name='langevin' needs per-run noise keys: pass hparams['noise_key'] "
                         "= (P,) run_key(seed, 'langevin') tensors")
    return h["noise_key"]


def _gd(cfg, h: dict[str, torch.Tensor]) -> Transform:
    """gd and sgd share the update; minibatching is the trainer's (optim.batch_size)."""
    return sgd(h["lr"], weight_decay=_wd(cfg), clip=_clip(cfg))


REGISTRY: dict[str, Callable[..., Transform]] = {
    "gd": _gd,
    "sgd": _gd,
    "momentum": lambda cfg, h: sgd(h["lr"], momentum=h["momentum"], weight_decay=_wd(cfg),
                                   clip=_clip(cfg)),
    "nesterov": lambda cfg, h: sgd(h["lr"], momentum=h["momentum"], nesterov=True,
                                   weight_decay=_wd(cfg), clip=_clip(cfg)),
    "adam": lambda cfg, h: adam(h["lr"], h["b1"], h["b2"], h["eps"], weight_decay=_wd(cfg),
                                clip=_clip(cfg)),
    "adamw": lambda cfg, h: adamw(h["lr"], h["b1"], h["b2"], h["eps"],
                                  weight_decay=cfg.weight_decay, clip=_clip(cfg)),
    "rmsprop": lambda cfg, h: rmsprop(h["lr"], h["decay"], h["eps"], clip=_clip(cfg)),
    "sign_gd": lambda cfg, h: sign_gd(h["lr"], clip=_clip(cfg)),
    "normalized_gd": lambda cfg, h: normalized_gd(h["lr"], clip=_clip(cfg)),
    "langevin": lambda cfg, h: langevin(h["lr"], h["temperature"], _noise_key(h),
                                        weight_decay=_wd(cfg), clip=_clip(cfg)),
}


def build(cfg, hparams: dict[str, torch.Tensor]) -> Transform:
    """The optimizer ``cfg.name`` with per-run hyperparameters ``hparams`` ((P,) tensors)."""
    if cfg.name not in REGISTRY:
        raise ValueError(f"optim.name={cfg.name!r} is unknown; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[cfg.name](cfg, hparams)


def build_grouped(cfg, hparams: dict[str, torch.Tensor], groups: dict[str, str],
                  multipliers: dict[str, float] | None = None) -> Transform:
    """The optimizer ``cfg.name`` per parameter group: group g runs with learning rate
    lr_p * m_g, m_g = (parametrization multiplier) x (``optim.group_lr`` multiplier), through
    :func:`partition`. ``groups``: {param: group}. Without any multiplier != 1 this is
    :func:`build` itself (one transform, bit-identical to the ungrouped optimizer)."""
    from featlab.config import group_lr_multipliers

    param = dict(multipliers or {})
    mult = dict(param)
    for g, m in group_lr_multipliers(getattr(cfg, "group_lr", "")).items():
        mult[g] = mult.get(g, 1.0) * m
    labels = set(groups.values())
    if all(mult.get(g, 1.0) == 1.0 for g in labels):
        return build(cfg, hparams)
    return partition(groups, {g: build(_group_cfg(cfg, param.get(g, 1.0)),
                                       {**hparams, "lr": hparams["lr"] * mult.get(g, 1.0)})
                              for g in labels})


def _group_cfg(cfg, m: float):
    """``cfg`` for a group whose parametrization lr multiplier is m: with
    ``wd_scaling="mean_field"`` its weight decay is wd / m, so the decay per step stays lr wd
    (:class:`featlab.config.OptimConfig`)."""
    if getattr(cfg, "wd_scaling", "lr") != "mean_field" or not cfg.weight_decay or m == 1.0:
        return cfg
    return dataclasses.replace(cfg, weight_decay=cfg.weight_decay / m)
