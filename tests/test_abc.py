"""abc-parametrizations (TP IV): the named rows give TP IV's r and regime; the symmetry leaves r and
the SGD dynamics unchanged; the literal abc form with muP's exponents trains the same function as
TP V's Table-3 muP; every parametrization equals SP at the base width; an unstable explicit
(a, b, c) is refused before training with one line and exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.config import MLP, ConfigError
from featlab.data.teacher_student import TeacherStudentData
from featlab.theory.abc import ABC, classify, conditions, named, parse_abc, r_value, shift
from featlab.train.engine import RunSpec
from featlab.train.generic import check_strategies
from featlab.train.population import train_chunk


@pytest.mark.parametrize("name,r,regime", [
    ("sp-lr1/n", 0.5, "kernel"), ("ntk", 0.5, "kernel"), ("mup", 0.0, "feature learning"),
    ("mf", 0.0, "feature learning"), ("sp", -1.0, "unstable"),
])
@pytest.mark.parametrize("depth", [3, 5])
def test_named_rows_give_tp4_r_and_regime(name, r, regime, depth):
    row = classify(named(name, depth))
    assert row["r"] == pytest.approx(r, abs=1e-12)
    assert row["regime"] == regime
    assert row["stable"] == (regime != "unstable") and (row["nontrivial"] or regime == "unstable")


def test_mean_field_one_hidden_layer_is_tp4_row():
    """L = 1 mean field: a = (0, 1), b = (0, 0), c = -1 (TP IV), r = 0."""
    p = named("mf", 2)
    assert p == ABC((0.0, 1.0), (0.0, 0.0), -1.0)
    assert r_value(p) == 0.0 and classify(p)["regime"] == "feature learning"


def test_r_formula_by_hand_on_an_asymmetric_row():
    """r = min(a3 + b3, 2 a3 + c) + c - 1 + min(2 a1 + 1, 2 a2) = 0.7 + 0.2 - 1 + 0.6 = 0.5 for
    a = (0.1, 0.3, 0.4), b = (-0.1, 0.2, 0.3), c = 0.2: stable, nontrivial (2 a3 + c = 1), kernel."""
    p = ABC((0.1, 0.3, 0.4), (-0.1, 0.2, 0.3), 0.2)
    assert r_value(p) == pytest.approx(0.5)
    assert all(conditions(p).values())
    assert classify(p)["regime"] == "kernel"
    moved = ABC((0.1, 0.3, 0.4), (-0.1, 0.2, 0.0), 0.2)                 # a3 + b3 + r = 0.8 < 1
    assert classify(moved)["violated"] == ["a_{L+1} + b_{L+1} >= 1/2", "a_{L+1} + b_{L+1} + r >= 1"]


def test_trivial_and_unstable_rows():
    trivial = ABC((0.0, 0.5, 1.0), (0.0, 0.0, 0.0), 0.5)              # output barely moves
    assert classify(trivial)["regime"] == "trivial"
    bad_init = ABC((0.0, 0.0, 0.5), (0.0, 0.0, 0.5), 1.0)            # a_2 + b_2 = 0 != 1/2
    assert classify(bad_init)["violated"] == ["a_l + b_l = 1/2 (2 <= l <= L)"]


@pytest.mark.parametrize("name", ["sp", "sp-lr1/n", "ntk", "mup", "mf"])
@pytest.mark.parametrize("theta", [-0.5, 0.25, 1.0])
def test_symmetry_keeps_r_and_regime(name, theta):
    p = named(name, 4)
    q = shift(p, theta)
    assert r_value(q) == pytest.approx(r_value(p)) and classify(q)["regime"] == classify(p)["regime"]


def test_adam_is_refused_by_classify():
    with pytest.raises(ConfigError, match="optim.name"):
        classify(named("mup", 3), "adam")


def test_parse_abc_per_layer_and_broadcast():
    assert parse_abc("a=-0.5,0,0.5;b=0.5,0.5,0.5;c=0", 3) == named("mup", 3)
    assert parse_abc("a=-0.5,0,0.5; b=0.5,0.5,0.5; c=0", 5) == named("mup", 5)
    assert parse_abc(named("ntk", 4).text(), 4) == named("ntk", 4)
    for bad in ("a=0,0;b=0,0", "a=0,0;b=0,x;c=0", "a=0,0,0,0;b=0,0,0,0;c=0", "q=1"):
        with pytest.raises(ConfigError, match="model.abc"):
            parse_abc(bad, 3)


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=TeacherStudentData(n=32, d=6, n_test=32, teacher_width=3),
                   model=MLP(depth=4, width=24, activation="tanh", bias=True, base_width=8),
                   optim=fl.OptimConfig(name="gd", lr=0.3),
                   train=fl.TrainConfig(steps=10, log_points=4, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


def test_literal_abc_mup_trains_the_table3_mup_function():
    """TP IV's literal form (multipliers in the forward) with muP's exponents equals TP V's
    Table-3 muP (per-group init and lr) step by step under SGD: the abc symmetry per layer."""
    mup = train_chunk([RunSpec(_setting(**{"model.parametrization": "mup"}), 3)])
    lit = train_chunk([RunSpec(_setting(**{"model.parametrization": "abc",
                                           "model.abc": named("mup", 4).text()}), 3)])
    for name in ("train_loss", "test_loss", "act_scale_h1", "act_scale_h3"):
        np.testing.assert_allclose(lit.log_values[name], mup.log_values[name], rtol=1e-9, err_msg=name)
    shifted = shift(named("mup", 4), 0.5)                          # the same dynamics again
    lit2 = train_chunk([RunSpec(_setting(**{"model.parametrization": "abc",
                                            "model.abc": shifted.text()}), 3)])
    np.testing.assert_allclose(lit2.log_values["test_loss"], mup.log_values["test_loss"], rtol=1e-9)
    sp = train_chunk([RunSpec(_setting(), 3)])
    assert not np.allclose(sp.log_values["test_loss"], mup.log_values["test_loss"], rtol=1e-3)


@pytest.mark.parametrize("par", ["mup", "ntk", "mf"])
def test_every_parametrization_equals_sp_at_the_base_width(par):
    s = _setting(**{"model.width": 8})
    sp = train_chunk([RunSpec(s, 1)])
    other = train_chunk([RunSpec(fl.override(s, {"model.parametrization": par}), 1)])
    np.testing.assert_allclose(other.log_values["test_loss"], sp.log_values["test_loss"], rtol=1e-12)


def test_unstable_abc_or_adam_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"model\.abc=.*unstable"):
        check_strategies(_setting(**{"model.parametrization": "abc",
                                     "model.abc": named("sp", 4).text()}))
    with pytest.raises(ConfigError, match=r"optim\.name"):
        check_strategies(_setting(**{"model.parametrization": "ntk", "optim.name": "adam"}))
    check_strategies(_setting(**{"model.parametrization": "mup", "optim.name": "adam"}))
    with pytest.raises(ConfigError, match=r"model\.abc"):
        fl.override(_setting(), {"model.abc": "a=0,0,0;b=0,0.5,0.5;c=0"})   # needs parametrization=abc


def test_unstable_abc_on_the_cli_is_one_line_and_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["run", "mlp-width-sweep", "--set", "model.parametrization=abc",
                                   "--set", "model.abc=a=0,0,0;b=0,0.5,0.5;c=0",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "unstable" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "featlab.duckdb").exists()
