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

Probes of label-flip data (a data config with a ``flips`` count whose samples carry a
``flipped`` indicator, e.g. :mod:`featlab.data.tokens`):

- ``label_flips``: train_error_clean / train_error_flipped = the 0-1 error of the observed
  label on the unflipped / flipped training samples (NaN where there are none): a flipped
  sample is *fitted* when its error is 0.

Attention probes (a family whose ``apply(..., taps=True)`` returns ``{"attn": s}`` (n, T) and
lists ``"attention"`` in its probes, on token data with a relevant token):

- ``attention``: attn_relevant_clean / attn_relevant_flipped = the mean softmax mass
  s_1 on the relevant token over the clean / flipped training samples, attn_opposite_flipped =
  the mass on the weakly relevant token of the opposite class (\rho \mu_{-y}, the token that
  agrees with a flipped label) over the flipped samples, attn_relevant_test = s_1 over the test
  samples, attn_entropy = the mean softmax entropy -\sum_t s_t \log s_t over the training
  samples (\log T at uniform attention).

In-context regression probes (a family listing ``"icl"`` with a ``Gamma`` parameter, on
:mod:`featlab.data.icl_regression` prompts), at the test prompts' context length m:

- ``icl``: icl_risk = the exact ICL risk R_m(\Gamma) (:func:`featlab.theory.icl.icl_risk`),
  icl_excess = R_m(\Gamma) - R_m(\Gamma^*_m) (>= 0), and icl_mc_se = the standard error of the
  test loss (the Monte Carlo estimate of R_m over the n_test test prompts).

The two-layer CNN on patch data keeps its own probes (the signal-noise decomposition gamma/rho and
the Gaussian test estimator; :mod:`featlab.diagnostics`) in :mod:`featlab.train.population`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.func import vmap

from featlab.data import input_shape

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
    shape = input_shape(setting.data)
    out_dim = _task(setting).out_dim(setting.data)
    p = {k: v[0] for k, v in fam.init(setting.model, [0], shape, torch.float64, out_dim).items()}
    _, taps = fam.apply(setting.model, p, torch.zeros(1, *shape, dtype=torch.float64), taps=True)
    return tuple(taps)


def _act_scale(ctx) -> dict[str, torch.Tensor]:
    fam, cfg = ctx.family, ctx.setting.model
    taps = vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1])(ctx.params, ctx.data["X"])
    return {f"act_scale_{k}": h.abs().flatten(1).mean(1) for k, h in taps.items()}


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(L,) mean of x (L, n) over the samples where mask (L, n) is 1 (NaN where there are none)."""
    return (x * mask).sum(1) / mask.sum(1)


def _flip_errors(ctx) -> dict[str, torch.Tensor]:
    err = vmap(ctx.task.error)(ctx.f, ctx.data["y"])                          # (L, n)
    flipped = ctx.data["flipped"].to(err.dtype)
    return {"train_error_clean": _masked_mean(err, 1 - flipped),
            "train_error_flipped": _masked_mean(err, flipped)}


def _has_flips(setting) -> bool:
    """A binary data model with a ``flips`` count (its samples carry the ``flipped`` indicator)."""
    return _task(setting).error is not None and hasattr(setting.data, "flips")


def _attention(ctx) -> dict[str, torch.Tensor]:
    from featlab.data.tokens import OPPOSITE, RELEVANT

    fam, cfg = ctx.family, ctx.setting.model
    attn = lambda X: vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1]["attn"])(ctx.params, X)  # noqa: E731
    s, st = attn(ctx.data["X"]), attn(ctx.data["Xt"])                         # (L, n, T)
    flipped = ctx.data["flipped"].to(s.dtype)
    entropy = -(s * torch.log(s.clamp_min(torch.finfo(s.dtype).tiny))).sum(-1)  # (L, n)
    out = {"attn_relevant_clean": _masked_mean(s[..., RELEVANT], 1 - flipped),
           "attn_relevant_flipped": _masked_mean(s[..., RELEVANT], flipped),
           "attn_opposite_flipped": (_masked_mean(s[..., OPPOSITE], flipped) if s.shape[-1] > OPPOSITE
                                     else torch.full_like(flipped[:, 0], float("nan"))),
           "attn_relevant_test": st[..., RELEVANT].mean(1),
           "attn_entropy": entropy.mean(1)}
    return out


def _icl(ctx) -> dict[str, torch.Tensor]:
    from featlab.data.icl_regression import context_length
    from featlab.theory.icl import icl_risk, optimal_gamma

    cfg = ctx.setting.data
    m = context_length(cfg, "test")
    G = ctx.params["Gamma"].to(torch.float64)                                 # (L, d, d)
    H = torch.diag(torch.tensor(cfg.lam, dtype=torch.float64, device=G.device))
    psi2, sigma2 = cfg.psi ** 2, cfg.sigma ** 2
    risk = icl_risk(G, H, m, psi2, sigma2)
    best = icl_risk(optimal_gamma(H, m, psi2, sigma2), H, m, psi2, sigma2)
    fam, mcfg = ctx.family, ctx.setting.model
    ft = vmap(lambda p, x: fam.apply(mcfg, p, x))(ctx.params, ctx.data["Xt"])
    sq = ctx.task.loss(ft, ctx.data["yt"]).to(torch.float64)                  # (L, n_test)
    return {"icl_risk": risk, "icl_excess": risk - best,
            "icl_mc_se": sq.std(1) / sq.shape[1] ** 0.5}


_ATTN_NAMES = ("attn_relevant_clean", "attn_relevant_flipped", "attn_opposite_flipped",
               "attn_relevant_test", "attn_entropy")

PROBES: dict[str, Probe] = {
    "loss_error": Probe("loss_error", lambda s: True, _loss_names, _loss_error),
    "weight_movement": Probe("weight_movement", lambda s: True, _movement_names, _movement),
    "act_scale": Probe("act_scale", lambda s: "act_scale" in _family(s).probes,
                       lambda s: tuple(f"act_scale_{k}" for k in _layers(s)), _act_scale),
    "label_flips": Probe("label_flips", _has_flips,
                         lambda s: ("train_error_clean", "train_error_flipped"), _flip_errors),
    "attention": Probe("attention", lambda s: "attention" in _family(s).probes and _has_flips(s),
                       lambda s: _ATTN_NAMES, _attention),
    "icl": Probe("icl", lambda s: "icl" in _family(s).probes and s.data.kind == "icl_regression",
                 lambda s: ("icl_risk", "icl_excess", "icl_mc_se"), _icl),
}


def generic_probes(setting) -> list[Probe]:
    """The probes that apply to ``setting`` (registry order)."""
    return [p for p in PROBES.values() if p.applies(setting)]


def probe_names(setting) -> tuple[str, ...]:
    """metric names of a setting: its probes' names, in order."""
    return tuple(n for p in generic_probes(setting) for n in p.names(setting))
