"""The CNN's diagnostics are probes of (two-layer CNN, patch data): they declare the kinds they
apply to and the names they log, the names keep the stored column order of the CNN sweeps, and
the span path's moment-based probes give the primal path's numbers."""

from __future__ import annotations

import numpy as np
import pytest

import featlab as fl
from featlab.data.feature_noise import FeatureNoiseData
from featlab.probes import PROBES, generic_probes, probe_names
from featlab.train.population import METRICS, RunSpec, metric_names, train_chunk
from tests.conftest import small_setting

_CNN_PROBES = ("train_fit", "gaussian_test", "signal_noise_decomposition", "cnn_weight_movement")


def _old_metric_names(setting) -> tuple[str, ...]:
    """The column order the CNN trainer used before the probes (written out)."""
    data = setting.data
    feats = data.feature_names if len(data.feature_names) > 1 else ()
    return (METRICS + tuple(f"gamma_{f}" for f in feats)
            + tuple(f"{split}_error_{g}" for g in data.group_names for split in ("train", "test")))


@pytest.mark.parametrize("data", [None, FeatureNoiseData(n=8, d=60, n_test=50)])
def test_cnn_metric_names_keep_the_stored_column_order(data):
    base = small_setting()
    s = base if data is None else fl.Setting(
        data=data, model=base.model, optim=base.optim,
        train=fl.override(base, {"train.test_estimator": "sample"}).train)
    assert metric_names(s) == _old_metric_names(s)
    assert probe_names(s) == metric_names(s)
    used = [p.name for p in generic_probes(s)]
    assert used[:4] == list(_CNN_PROBES)
    assert ("feature_gammas" in used) == (data is not None) and ("group_errors" in used) == (data is not None)
    assert "loss_error" not in used and "weight_movement" not in used    # generic probes: not the CNN


def test_cnn_probes_do_not_apply_to_other_families():
    s = fl.Setting(data=fl.TeacherStudentData(n=16, d=8, n_test=16), model=fl.MLP(depth=2, width=8),
                   optim=fl.OptimConfig(name="gd", lr=0.1), train=fl.TrainConfig(steps=2))
    for name in _CNN_PROBES + ("feature_gammas", "group_errors"):
        assert not PROBES[name].applies(s), name
    assert PROBES["loss_error"].applies(s)
    assert "gamma_max" not in probe_names(s)


def test_each_logged_value_comes_from_its_probe():
    """Every probe's compute returns exactly the names it declares (a stored column is never
    missing or filled by another probe)."""
    from featlab.train import population

    s = fl.override(small_setting(), {"train.log_points": 2})
    seen = {}
    original = population._diagnostics

    def spy(c, s0, rows, loss, f, step, step_loss):
        from featlab.diagnostics.patch_probes import PatchProbeContext
        sub = c if len(rows) == len(c.ids) else c.select(rows)
        ctx = PatchProbeContext(s0, sub.batch, sub.draws, sub.hp, sub.params, sub.W0, sub.span,
                                sub.moments, loss[rows], step_loss[rows], f[rows], step)
        for p in generic_probes(s0):
            seen[p.name] = (tuple(p.compute(ctx)), p.names(s0))
        return original(c, s0, rows, loss, f, step, step_loss)

    population._diagnostics = spy
    try:
        train_chunk([RunSpec(s, 0), RunSpec(s, 1)])
    finally:
        population._diagnostics = original
    assert set(seen) >= set(_CNN_PROBES)
    for name, (got, declared) in seen.items():
        assert set(got) == set(declared), name


@pytest.mark.parametrize("changes", [
    {},
    {"model.activation": "relu", "model.bias": True, "model.second_layer": "1",
     "model.init": "torch_default", "model.patch_reduce": "mean", "data.noise": "isotropic",
     "data.signal_position": "random", "data.flip_p": 0.2, "data.flip_test": True},
    {"data.mu_norm": 0.0},
])
def test_span_moment_probes_equal_the_primal_probes(changes):
    """float64: the span chunk's probes (from W W^T, W u and the patch Gram matrix) equal the
    primal chunk's (W rebuilt in d dimensions) for every logged name."""
    s = fl.override(small_setting(), changes)
    runs = [RunSpec(fl.override(s, {"data.mu_norm": mu}), k)
            for k, mu in enumerate((s.data.mu_norm, s.data.mu_norm + 1.5, 0.3))]
    span, primal = train_chunk(runs, span=True), train_chunk(runs, span=False)
    assert span.span and not primal.span
    for name in primal.log_values:
        a, b = span.log_values[name], primal.log_values[name]
        if name == "decomp_residual":                   # both rounding-level
            assert np.nanmax(np.abs(a)) < 1e-10 and np.nanmax(np.abs(b)) < 1e-10
            continue
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=name)
