"""The checks of the feature-learning experiments can fail (issue 10): the label-noise H(p)
floor, the T1 slope test with its power, the race rows under a reversed theory, the
weight-decay residual bound. Fast: synthetic inputs only (the trained controls run in
tests/test_falsify.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from featlab.experiments import han2025_label_noise_stages as han
from featlab.experiments import huang2025_label_noise_gd as huang
from featlab.experiments import signal_noise_dynamics as snd
from featlab.experiments import zou2023_adam_vs_gd as zou


def _logistic(m):
    return np.logaddexp(0.0, -np.asarray(m, dtype=float))


@pytest.mark.parametrize("p", [0.05, 0.1, 0.3])
def test_entropy_floor_is_the_least_label_noise_objective(p):
    """(1 - p) l(m) + p l(-m) >= H(p) for every margin m, with equality at m* = log((1-p)/p),
    where the data-label loss is -log(1 - p)."""
    h = huang.entropy_floor(p)
    m = np.linspace(-10, 10, 4001)
    expected = (1 - p) * _logistic(m) + p * _logistic(-m)
    assert expected.min() >= h - 1e-12
    m_star = math.log((1 - p) / p)
    assert (1 - p) * _logistic(m_star) + p * _logistic(-m_star) == pytest.approx(h, rel=1e-12)
    assert _logistic(m_star) == pytest.approx(-math.log(1 - p), rel=1e-12)
    assert huang.entropy_floor(0.1) == pytest.approx(0.325083, abs=1e-6)


def _ln_runs(step_loss, train_loss):
    return pd.DataFrame({"step_loss": step_loss, "train_loss": train_loss})


def test_objective_rows_pass_at_the_floor_and_fail_off_it():
    p, h = 0.1, huang.entropy_floor(0.1)
    rng = np.random.default_rng(0)
    at_floor = _ln_runs(h + rng.normal(0.01, 0.02, 30), np.full(30, 0.11))
    assert all(r["passed"] for r in huang.objective_rows(at_floor, p, gd_max_train_loss=0.002))
    # the old row (step loss >= 0.1) would pass this: objective 2x the floor = large margins
    high = _ln_runs(2 * h + rng.normal(0, 0.02, 30), np.full(30, 0.11))
    assert not huang.objective_rows(high, p, 0.002)[0]["passed"]
    below = _ln_runs(h - 0.1 + rng.normal(0, 0.01, 30), np.full(30, 0.11))  # impossible: a bug
    assert not huang.objective_rows(below, p, 0.002)[0]["passed"]
    fitted = _ln_runs(h + rng.normal(0, 0.02, 30), np.full(30, 0.01))    # fits the data labels
    assert not huang.objective_rows(fitted, p, 0.002)[1]["passed"]


def _fit(slope, se, runs=36):
    return {"slope": slope, "slope_se": se, "C": 2.0, "runs": runs}


def test_t1_law_rows_accept_the_law_and_reject_a_wrong_or_unpowered_one():
    ok = han.t1_law_rows(_fit(0.97, 0.03))
    assert [r["passed"] for r in ok] == [True, True]
    wrong = han.t1_law_rows(_fit(0.97, 0.03), theory=1.2)            # a 20% wrong exponent
    assert wrong[0]["passed"] is False
    weak = han.t1_law_rows(_fit(0.97, 0.2))                           # too noisy to reject 0.8 / 1.2
    assert weak[0]["passed"] is True and weak[1]["passed"] is False
    none = han.t1_law_rows(_fit(math.nan, math.nan, runs=0))
    assert [r["passed"] for r in none] == [False, False]


def test_t1_slope_is_recovered_on_synthetic_runs_and_a_wrong_law_fails():
    rng = np.random.default_rng(1)
    pred = np.geomspace(6, 100, 36)
    df = pd.DataFrame({"t1_pred": pred, "t1": 2.5 * pred * np.exp(rng.normal(0, 0.2, 36))})
    fit = han.t1_fit(df)
    assert all(r["passed"] for r in han.t1_law_rows(fit))
    df2 = df.assign(t1=2.5 * pred ** 0.8 * np.exp(rng.normal(0, 0.2, 36)))   # T1 ~ pred^0.8
    assert not han.t1_law_rows(han.t1_fit(df2))[0]["passed"]


def _race_table():
    # low SNR: noise wins, error 0.4; high SNR: signal wins, error 0
    return pd.DataFrame({"data.mu_norm": [1.0, 1.0, 4.0, 4.0], "train_loss": [0.01] * 4,
                         "gamma_max": [0.2, 0.3, 5.0, 5.5], "rho_max": [3.0, 3.2, 0.5, 0.4],
                         "test_error": [0.4, 0.38, 0.0, 0.01]})


def test_race_rows_pass_the_claim_and_fail_the_reversed_theory():
    assert all(r["passed"] for r in snd._checks_quick(_race_table(), {}))
    rev = snd._checks_quick(_race_table(), {"winners": ("noise", "signal")})
    assert [r["passed"] for r in rev] == [True, False, False]
    unfit = _race_table().assign(train_loss=[0.01, 0.2, 0.01, 0.01])
    assert not snd._checks_quick(unfit, {})[0]["passed"]


def test_zou_residual_bound_counts_weight_decay_and_the_exact_span_theory_fails():
    runs = pd.DataFrame({"optim.lr": [1.0], "optim.weight_decay": [1e-5], "steps": [500],
                         "decomp_residual": [0.9 * (1 - (1 - 1e-5) ** 500)]})
    assert float(zou.residual_excess(runs).iloc[0]) < 0
    assert float(zou.residual_excess(runs, weight_decay_in_bound=False).iloc[0]) > 1e-6
