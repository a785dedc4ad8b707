"""A population of P runs equals P single runs (float64, 1e-8), whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest

import featlab as fl
from featlab.train.population import RunSpec, plan_chunks, train_chunk
from tests.conftest import small_setting


def _mixed_runs(base: fl.Setting) -> list[RunSpec]:
    """Runs that differ in every per-run field at once: n (ragged), ||mu||, sigma_p, flips,
    sigma_0, lr, step budget, loss threshold, noise type and signal position."""
    variants = [
        {},
        {"data.n": 7, "data.mu_norm": 0.0},
        {"data.mu_norm": 3.5, "optim.lr": 0.05, "train.steps": 13},
        {"data.sigma_p": 1.3, "data.flip_p": 0.2, "data.flip_test": True},
        {"model.sigma_0": 0.2, "train.loss_threshold": 0.3},
        {"data.noise": "isotropic", "data.signal_position": "random", "data.n": 9},
    ]
    return [RunSpec(fl.override(base, v), seed) for seed, v in enumerate(variants)]


def _assert_same(pop, singles):
    for i, single in enumerate(singles):
        assert pop.status[i] == single.status[0]
        assert pop.steps[i] == single.steps[0]
        for name, vals in pop.final.items():
            np.testing.assert_allclose(vals[i], single.final[name][0], rtol=1e-8, atol=1e-10,
                                       err_msg=f"run {i}, metric {name}")
        mine = pop.log_run == i
        np.testing.assert_array_equal(pop.log_step[mine], single.log_step)
        for name in pop.log_values:
            np.testing.assert_allclose(pop.log_values[name][mine], single.log_values[name],
                                       rtol=1e-8, atol=1e-10, err_msg=f"run {i}, log {name}")


@pytest.mark.parametrize("span", [None, False])
@pytest.mark.parametrize("estimator", ["gaussian", "sample"])
def test_population_equals_single_runs_gd(estimator, span):
    runs = _mixed_runs(small_setting(train__test_estimator=estimator))
    pop = train_chunk(runs, span=span)
    assert pop.span is (span is None), "GD at n K <= d trains in the span unless told not to"
    assert len(set(pop.steps)) > 1, "per-run stopping should give different stop steps"
    _assert_same(pop, [train_chunk([r], span=span) for r in runs])


@pytest.mark.parametrize("replacement", [False, True])
def test_population_equals_single_runs_sgd(replacement):
    base = small_setting(optim__name="sgd", optim__batch_size=4, optim__replacement=replacement)
    runs = _mixed_runs(base)
    _assert_same(train_chunk(runs), [train_chunk([r]) for r in runs])


def test_chunking_does_not_change_results():
    sweep = fl.Sweep(small_setting(), {"data.mu_norm": [0.5, 2.0, 4.0]}, seeds=3)
    one = fl.train(sweep, chunk_size=100).final
    many = fl.train(sweep, chunk_size=2).final
    np.testing.assert_allclose(one["test_error"], many["test_error"], rtol=0, atol=0)
    np.testing.assert_allclose(one["gamma_max"], many["gamma_max"], rtol=1e-12)


def test_structural_fields_split_chunks():
    sweep = fl.Sweep(small_setting(), {"data.d": [40, 60], "data.n": [5, 12]}, seeds=2)
    chunks = plan_chunks(sweep.runs())
    assert sorted(len(c) for c in chunks) == [4, 4]           # d groups; ragged n shares a chunk
    for c in chunks:
        assert len({r.setting.data.d for r in c}) == 1


def test_divergence_marks_run_without_crashing_others():
    base = small_setting(train__steps=40, train__dtype="float32", model__q=3.0)
    runs = [RunSpec(base, 0), RunSpec(fl.override(base, {"optim.lr": 1e9, "model.sigma_0": 30.0}), 1)]
    res = train_chunk(runs)
    assert res.status == ["done", "diverged"]
    assert res.steps[0] == 40 and res.steps[1] < 40
    assert np.isfinite(res.final["test_error"][0])


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adam", "adamw", "rmsprop", "sign_gd",
                                  "normalized_gd"])
def test_population_equals_single_runs_other_optimizers(name):
    base = small_setting(optim__name=name, optim__lr=0.05, optim__weight_decay=0.01 if name == "adamw" else 0.0)
    runs = [RunSpec(fl.override(base, v), seed) for seed, v in enumerate(
        [{}, {"optim.lr": 0.01, "optim.momentum": 0.5, "optim.b1": 0.8, "optim.b2": 0.99,
              "optim.decay": 0.9}, {"data.n": 7, "train.steps": 11}])]
    _assert_same(train_chunk(runs), [train_chunk([r]) for r in runs])


def test_adam_leaves_the_span_gd_does_not():
    """GD's updates lie in span{mu, xi_i} (decomposition exact); Adam's coordinate-wise scaling
    does not (Zou et al. 2023): the decomposition residual tells them apart."""
    gd = train_chunk([RunSpec(small_setting(), 0)])
    adam = train_chunk([RunSpec(small_setting(optim__name="adam", optim__lr=0.01), 0)])
    assert gd.final["decomp_residual"][0] < 1e-8
    assert adam.final["decomp_residual"][0] > 1e-2
