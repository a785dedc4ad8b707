r"""Probes of the two-layer CNN on patch data (:data:`featlab.probes.PROBES`, kinds
``two_layer_cnn`` x any patch data model).

Each probe names what it logs and computes it from a :class:`PatchProbeContext`, which holds the
logged runs' data, test draws and weights and caches what several probes share (the 0-1 errors
on the training set, the decomposition). In registry order, their names are the stored column
order of every CNN sweep (``featlab.train.population.METRICS``, then gamma_<feature> when a data
model has several features, then train/test_error_<group> per sample group), so stores written
before the probes existed report and resume unchanged.

- ``train_fit``: train_loss, train_error, step_loss, train_error_clean / _flipped (the flipped
  samples measured against their observed labels), ln2_precision / ln2_recall (Han et al. 2025's
  log 2 test: l(y_i f_i) < log 2 flags a sample as clean; NaN without flipped samples);
- ``gaussian_test``: test_loss, test_error, test_error_noisy from the Gaussian test estimator
  (or the sampled test set with ``train.test_estimator = "sample"``,
  :mod:`featlab.diagnostics.test_error`);
- ``signal_noise_decomposition``: gamma_max (_pos, _neg), rho_max, rho_mean, rho_pos_max,
  rho_neg_max, decomp_residual (:mod:`featlab.diagnostics.decomposition`; zero at step 0);
- ``cnn_weight_movement``: weight_movement = ||W_t - W_0||_F / ||W_0||_F;
- ``feature_gammas``: gamma_<feature> for data models with several features;
- ``group_errors``: train_error_<g>, test_error_<g> per sample group.

A chunk trained in the span representation (W = W_0 + C X, :mod:`featlab.train.span`) on
signal-noise data gets every probe from float64 moments (W W^T, W u, the patch Gram matrix)
without rebuilding W: the same numbers to rounding, without any d-dimensional work.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from featlab.diagnostics.decomposition import Decomposition, decompose, decompose_in_span, summaries
from featlab.diagnostics.test_error import test_metrics

__all__ = ["PatchProbeContext", "PATCH_PROBES", "applies_to_patch_cnn", "train_metrics"]

_DECOMP = ("gamma_max", "gamma_max_pos", "gamma_max_neg", "rho_max", "rho_mean", "rho_pos_max",
           "rho_neg_max", "decomp_residual")


def applies_to_patch_cnn(setting: Any) -> bool:
    """The two-layer CNN (its analytic / span trainer) on a patch data model."""
    return getattr(setting.model, "kind", None) == "two_layer_cnn"


def _rate(hit: torch.Tensor, among: torch.Tensor) -> torch.Tensor:
    """(L,) fraction of ``among`` that is ``hit`` (both (L, n) 0/1); NaN where ``among`` is empty."""
    return (hit * among).sum(1) / among.sum(1)


def train_metrics(batch: Any, f: torch.Tensor, group_names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """0-1 errors on the training set (L,), split by clean / flipped samples and by sample group
    (see the module docstring); batch: a :class:`~featlab.data.PatchBatch`, f: (L, n)."""
    mask = batch.mask
    wrong = (batch.y * f <= 0).to(mask.dtype)                               # (L, n)
    clean = (batch.y == batch.y_clean).to(mask.dtype) * mask
    flipped = mask - clean
    flagged = (1 - wrong) * mask
    has_flips = flipped.sum(1) > 0
    nan = torch.full_like(has_flips, float("nan"), dtype=mask.dtype)
    out = {
        "train_error": _rate(wrong, mask),
        "train_error_clean": _rate(wrong, clean),
        "train_error_flipped": _rate(wrong, flipped),
        "ln2_precision": torch.where(has_flips, _rate(clean, flagged), nan),
        "ln2_recall": torch.where(has_flips, _rate(flagged, clean), nan),
    }
    for g, name in enumerate(group_names):
        out[f"train_error_{name}"] = _rate(wrong, (batch.group == g).to(mask.dtype) * mask)
    return out


@dataclass
class PatchProbeContext:
    """What the CNN probes see for L logged runs.

    setting: the chunk's (structural) setting; batch: PatchBatch (L runs); draws: TestDraws;
    hp: per-run tensors (sigma_p, orthogonal); params: {"W", "b"} or, in the span, {"C", "b"};
    W0 (L, 2m, d); span / moments: the chunk's SpanBasis / SpanMoments (None on the primal
    path); loss, step_loss (L,), f (L, n): the full-batch training loss and outputs and the
    step objective's loss; step: the step logged."""

    setting: Any
    batch: Any
    draws: Any
    hp: dict[str, torch.Tensor]
    params: dict[str, torch.Tensor]
    W0: torch.Tensor
    span: Any
    moments: Any
    loss: torch.Tensor
    step_loss: torch.Tensor
    f: torch.Tensor
    step: int

    @property
    def in_span(self) -> bool:
        """The probes run on the span moments (no W rebuilt)."""
        return self.moments is not None

    @functools.cached_property
    def primal(self) -> dict[str, torch.Tensor]:
        """{"W": (L, 2m, d), "b"}: W rebuilt as W_0 + C X in the span representation."""
        if self.span is None:
            return self.params
        return {"W": self.span.weights(self.params["C"], self.W0), "b": self.params["b"]}

    @functools.cached_property
    def weight_moments(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W W^T, W u, ||W - W_0||_F^2) in float64 from the span moments."""
        return self.moments.weight_moments(self.params["C"], self.span)

    @functools.cached_property
    def train(self) -> dict[str, torch.Tensor]:
        return train_metrics(self.batch, self.f, self.setting.data.group_names)

    @functools.cached_property
    def test(self) -> dict[str, torch.Tensor]:
        s = self.setting
        moments = self.weight_moments[:2] if self.in_span else None
        params = self.params if self.in_span else self.primal
        return test_metrics(s.model, params, self.draws, self.batch.mu, self.hp["sigma_p"],
                            self.hp["orthogonal"], s.data.group_names, moments=moments)

    @functools.cached_property
    def decomposition(self) -> Decomposition | None:
        """gamma / rho of W_t - W_0 (None at step 0, where they are 0 exactly)."""
        if self.step == 0:
            return None
        b = self.batch
        if self.in_span:
            WW = self.weight_moments[0]
            rows, signs, valid = _span_rows(b)
            return decompose_in_span(self.params["C"], self.span.gram, rows, signs, valid,
                                     torch.diagonal(WW, dim1=1, dim2=2).sum(1), 1, b.mu_class)
        return decompose(self.primal["W"], self.W0, b.mu, b.noise(), b.mask, b.mu_class)

    @functools.cached_property
    def summaries(self) -> dict[str, torch.Tensor]:
        dec = self.decomposition
        feats = _features(self.setting)
        if dec is None:
            zero = torch.zeros(self.f.shape[0], dtype=torch.float64, device=self.f.device)
            return {k: zero for k in _DECOMP + tuple(f"gamma_{f}" for f in feats)}
        return summaries(dec, self.batch.y, self.batch.mask, self.setting.data.feature_names)


def span_moments_apply(setting: Any, batch: Any) -> bool:
    """Whether a span chunk's probes can run on its moments: the signal-noise data model (one
    feature; the basis directions are patches, mu = y_1 x_{1,signal}, xi_i = x_{i,noise}) with
    the Gaussian test estimator."""
    return (setting.data.kind == "signal_noise" and setting.train.test_estimator == "gaussian"
            and batch.noise_basis is None and batch.mu.shape[1] == 1)


def _span_rows(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, signs, valid), each (P, 1 + n): the decomposition's basis directions as patches of
    the flattened (nK) axis: mu = y_clean_1 x_{1, signal}, then xi_i = x_{i, noise}."""
    P, n, K = batch.X.shape[:3]
    base = torch.arange(n, device=batch.X.device)[None, :] * K                # (1, n)
    rows = torch.cat([batch.signal_patch[:, :1], base + batch.noise_idx[:, :, 0]], 1)
    signs = torch.cat([batch.y_clean[:, :1], torch.ones_like(batch.y_clean)], 1)
    valid = torch.cat([torch.ones_like(batch.mask[:, :1], dtype=torch.bool), batch.mask > 0], 1)
    return rows, signs, valid


def _features(setting: Any) -> tuple[str, ...]:
    names = setting.data.feature_names
    return names if len(names) > 1 else ()


def _movement(ctx: PatchProbeContext) -> dict[str, torch.Tensor]:
    if ctx.in_span:
        W0_sq = torch.diagonal(ctx.moments.W0W0, dim1=1, dim2=2).sum(1)
        return {"weight_movement": (ctx.weight_moments[2] / W0_sq).sqrt()}
    W, W0 = ctx.primal["W"].to(torch.float64), ctx.W0.to(torch.float64)
    return {"weight_movement": (W - W0).flatten(1).norm(dim=1) / W0.flatten(1).norm(dim=1)}


def _group_names(setting: Any) -> tuple[str, ...]:
    return tuple(f"{split}_error_{g}" for g in setting.data.group_names for split in ("train", "test"))


def _groups(ctx: PatchProbeContext) -> dict[str, torch.Tensor]:
    both = {**ctx.train, **ctx.test}
    return {k: both[k] for k in _group_names(ctx.setting)}


def _family_declares(name: str):
    def applies(setting: Any) -> bool:
        if not applies_to_patch_cnn(setting):
            return False
        from featlab.models import family_of
        return name in family_of(setting.model).probes
    return applies


_TRAIN = ("train_loss", "train_error", "step_loss", "train_error_clean", "train_error_flipped",
          "ln2_precision", "ln2_recall")
_TEST = ("test_loss", "test_error", "test_error_noisy")

#: (name, applies, names, compute) of the CNN probes, in the stored column order.
PATCH_PROBES = (
    ("train_fit", applies_to_patch_cnn, lambda s: _TRAIN,
     lambda c: {"train_loss": c.loss, "step_loss": c.step_loss,
                **{k: c.train[k] for k in _TRAIN if k not in ("train_loss", "step_loss")}}),
    ("gaussian_test", _family_declares("gaussian_test"), lambda s: _TEST,
     lambda c: {k: c.test[k] for k in _TEST}),
    ("signal_noise_decomposition", _family_declares("signal_noise_decomposition"),
     lambda s: _DECOMP, lambda c: {k: c.summaries[k] for k in _DECOMP}),
    ("cnn_weight_movement", applies_to_patch_cnn, lambda s: ("weight_movement",), _movement),
    ("feature_gammas", lambda s: applies_to_patch_cnn(s) and bool(_features(s)),
     lambda s: tuple(f"gamma_{f}" for f in _features(s)),
     lambda c: {f"gamma_{f}": c.summaries[f"gamma_{f}"] for f in _features(c.setting)}),
    ("group_errors", lambda s: applies_to_patch_cnn(s) and bool(s.data.group_names),
     _group_names, _groups),
)
