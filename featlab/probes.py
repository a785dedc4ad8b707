r"""Probes: what a population logs, declared per (model family, data model) instead of one
fixed metric tuple.

A :class:`Probe` says which settings it applies to (``applies(setting)``), the names it logs
(``names(setting)``) and how to compute them for the logged runs (``compute(ctx)`` -> {name: (L,)}).
``metric_names`` of a setting is the concatenation of its probes' names.

Generic probes (every family on the generic path, :mod:`featlab.train.generic`):

- ``loss_error``: train_loss (full batch), test_loss, and train_error / test_error (0-1) where
  the task has one;
- ``weight_movement``: weight_movement_<group> = ||W_t - W_0|| / ||W_0|| over the parameters of
  each group (NaN for a group that starts at 0, e.g. biases);
- ``act_scale``: act_scale_<layer> = mean |h^l| over the training batch and units, the
  coordinate-check statistic (mup's ``coord_check``), recorded through the family's
  ``apply(..., taps=True)`` without module hooks.

The two-layer CNN on patch data (its analytic / span trainer, :mod:`featlab.train.population`)
has its own probes, registered here from :mod:`featlab.diagnostics.patch_probes`: ``train_fit``,
``gaussian_test`` (the Gaussian test estimator), ``signal_noise_decomposition`` (gamma/rho),
``cnn_weight_movement``, ``feature_gammas``, ``group_errors``; their names, in registry order,
are the stored column order of the CNN sweeps. The generic probes do not apply to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.func import vmap

__all__ = ["Probe", "PROBES", "generic_probes", "probe_names"]


@dataclass(frozen=True)
class Probe:
    """A named diagnostic (module docstring)."""

    name: str
    applies: Callable[[Any], bool]
    names: Callable[[Any], tuple[str, ...]]
    compute: Callable[[Any], dict[str, torch.Tensor]]


def _task(setting):
    from featlab.train.tasks import task_of
    return task_of(setting.data)


def _family(setting):
    from featlab.models import family_of
    return family_of(setting.model)


def _loss_names(setting) -> tuple[str, ...]:
    err = _task(setting).error is not None
    return ("train_loss", "test_loss") + (("train_error", "test_error") if err else ())


def _loss_error(ctx) -> dict[str, torch.Tensor]:
    fam, cfg, task = ctx.family, ctx.setting.model, ctx.task
    ft = vmap(lambda p, x: fam.apply(cfg, p, x))(ctx.params, ctx.data["Xt"])
    out = {"train_loss": ctx.loss, "test_loss": vmap(task.loss)(ft, ctx.data["yt"]).mean(1)}
    if task.error is not None:
        out["train_error"] = vmap(task.error)(ctx.f, ctx.data["y"]).mean(1)
        out["test_error"] = vmap(task.error)(ft, ctx.data["yt"]).mean(1)
    return out


def _movement_names(setting) -> tuple[str, ...]:
    groups = _family(setting).param_groups(setting.model)
    return tuple(f"weight_movement_{g}" for g in dict.fromkeys(groups.values()))


def _movement(ctx) -> dict[str, torch.Tensor]:
    out = {}
    for g in dict.fromkeys(ctx.groups.values()):
        keys = [k for k, lab in ctx.groups.items() if lab == g]
        num = sum((ctx.params[k] - ctx.W0[k]).double().flatten(1).pow(2).sum(1) for k in keys)
        den = sum(ctx.W0[k].double().flatten(1).pow(2).sum(1) for k in keys)
        out[f"weight_movement_{g}"] = (num / den).sqrt()
    return out


@functools.lru_cache(maxsize=256)
def _layers(setting) -> tuple[str, ...]:
    """Layer names the family's apply taps (one dry run of one tiny run)."""
    fam = _family(setting)
    shape = (setting.data.d,)
    out_dim = _task(setting).out_dim(setting.data)
    p = {k: v[0] for k, v in fam.init(setting.model, [0], shape, torch.float64, out_dim).items()}
    _, taps = fam.apply(setting.model, p, torch.zeros(1, *shape, dtype=torch.float64), taps=True)
    return tuple(taps)


def _act_scale(ctx) -> dict[str, torch.Tensor]:
    fam, cfg = ctx.family, ctx.setting.model
    taps = vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1])(ctx.params, ctx.data["X"])
    return {f"act_scale_{k}": h.abs().flatten(1).mean(1) for k, h in taps.items()}


def _generic(s) -> bool:
    from featlab.diagnostics.patch_probes import applies_to_patch_cnn
    return not applies_to_patch_cnn(s)


def _patch_probes() -> dict[str, Probe]:
    from featlab.diagnostics.patch_probes import PATCH_PROBES
    return {name: Probe(name, applies, names, compute)
            for name, applies, names, compute in PATCH_PROBES}


PROBES: dict[str, Probe] = {
    "loss_error": Probe("loss_error", _generic, _loss_names, _loss_error),
    "weight_movement": Probe("weight_movement", _generic, _movement_names, _movement),
    "act_scale": Probe("act_scale", lambda s: _generic(s) and "act_scale" in _family(s).probes,
                       lambda s: tuple(f"act_scale_{k}" for k in _layers(s)), _act_scale),
    **_patch_probes(),
}


def generic_probes(setting) -> list[Probe]:
    """The probes that apply to ``setting`` (registry order; any family and data model)."""
    return [p for p in PROBES.values() if p.applies(setting)]


def probe_names(setting) -> tuple[str, ...]:
    """metric names of a setting: its probes' names, in order."""
    return tuple(n for p in generic_probes(setting) for n in p.names(setting))
