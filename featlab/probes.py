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
  ``apply(..., taps=True)`` without module hooks;
- ``feature_movement``: feature_movement_<layer> = mean |h^l(theta_t) - h^l(theta_0)| over the
  training batch and units, the feature update whose width exponent is -r in TP IV (Yang & Hu,
  arXiv 2011.14522, Def. 3.2: Delta h = Theta(n^{-r})).

- ``neural_collapse`` (multiclass tasks only): nc1, nc2_*, nc3, nc4 of the last hidden layer's
  features on the training set and the output layer's weights
  (:mod:`featlab.diagnostics.neural_collapse`; Papyan, Han, Donoho 2020).

The two-layer CNN on patch data keeps its own probes (the signal-noise decomposition gamma/rho and
the Gaussian test estimator; :mod:`featlab.diagnostics`) in :mod:`featlab.train.population`.
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


def _feature_movement(ctx) -> dict[str, torch.Tensor]:
    fam, cfg = ctx.family, ctx.setting.model
    taps = lambda p, x: fam.apply(cfg, p, x, taps=True)[1]  # noqa: E731
    now = vmap(taps)(ctx.params, ctx.data["X"])
    start = vmap(taps)(ctx.W0, ctx.data["X"])
    return {f"feature_movement_{k}": (h - start[k]).abs().flatten(1).mean(1) for k, h in now.items()}


def _applies_nc(setting) -> bool:
    return "neural_collapse" in _family(setting).probes and _task(setting).name == "multiclass"


def _neural_collapse(ctx) -> dict[str, torch.Tensor]:
    from featlab.diagnostics.neural_collapse import NC_NAMES, nc_metrics

    fam, cfg = ctx.family, ctx.setting.model
    taps = vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1])(ctx.params, ctx.data["X"])
    H = taps[list(taps)[-1]]                                                 # (L, n, p)
    out_key = next(k for k, g in ctx.groups.items() if g == "output" and ctx.params[k].dim() == 3)
    C = ctx.task.out_dim(ctx.setting.data)
    rows = [nc_metrics(H[i], ctx.data["y"][i], ctx.params[out_key][i], ctx.f[i], C)
            for i in range(H.shape[0])]
    return {k: torch.stack([r[k] for r in rows]) for k in NC_NAMES}


PROBES: dict[str, Probe] = {
    "loss_error": Probe("loss_error", lambda s: True, _loss_names, _loss_error),
    "weight_movement": Probe("weight_movement", lambda s: True, _movement_names, _movement),
    "act_scale": Probe("act_scale", lambda s: "act_scale" in _family(s).probes,
                       lambda s: tuple(f"act_scale_{k}" for k in _layers(s)), _act_scale),
    "feature_movement": Probe("feature_movement", lambda s: "feature_movement" in _family(s).probes,
                              lambda s: tuple(f"feature_movement_{k}" for k in _layers(s)),
                              _feature_movement),
    "neural_collapse": Probe("neural_collapse", _applies_nc,
                             lambda s: ("nc1", "nc2_equinorm", "nc2_equiangular", "nc2_w_equinorm",
                                        "nc2_w_equiangular", "nc3", "nc4"), _neural_collapse),
}


def generic_probes(setting) -> list[Probe]:
    """The probes that apply to ``setting`` (registry order)."""
    return [p for p in PROBES.values() if p.applies(setting)]


def probe_names(setting) -> tuple[str, ...]:
    """metric names of a setting: its probes' names, in order."""
    return tuple(n for p in generic_probes(setting) for n in p.names(setting))
