"""The boundary-law test: exponent, seed-bootstrap s.e., interval and power (featlab.theory.phase_law)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featlab.theory.phase_law import law_rows, law_test, power_against, seed_bootstrap_slope


def _grid_runs(slope: float, seeds: int = 8, jitter: float = 0.05, rng_seed: int = 1) -> pd.DataFrame:
    """Run table of a synthetic phase grid: error 0.5 below x_b(y) = y^slope, 0.1 above, with a
    per-seed random shift of the boundary (log-normal, ``jitter``)."""
    rng = np.random.default_rng(rng_seed)
    ys = np.geomspace(100, 10000, 9)
    xs = np.geomspace(0.05, 50, 60)
    rows = []
    for s in range(seeds):
        shift = np.exp(jitter * rng.standard_normal())
        for y in ys:
            xb = shift * (y / 1000) ** slope
            for x in xs:
                rows.append({"x": x, "y": y, "seed": s, "status": "done",
                             "err": 0.1 if x >= xb else 0.5})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("true", [0.25, -1 / 3, 0.0])
def test_bootstrap_slope_recovers_the_exponent_within_its_se(true):
    out = seed_bootstrap_slope(_grid_runs(true), "x", "y", "err", 0.3, n_boot=100)
    assert out["n_cross"] == 9
    assert 0 < out["se"] < 0.05
    assert abs(out["slope"] - true) <= 3 * out["se"] + 0.02      # + grid discretization


def test_law_test_accepts_the_true_law_and_rejects_a_wrong_one_with_power():
    out = seed_bootstrap_slope(_grid_runs(0.25), "x", "y", "err", 0.3, n_boot=100)
    right = law_test(out["slope"], out["se"], 0.25, out["n_cross"])
    assert right.in_interval and right.powered
    assert all(r["passed"] for r in law_rows(right))
    wrong = law_test(out["slope"], out["se"], 0.5, out["n_cross"])   # double the exponent
    assert not wrong.in_interval and not law_rows(wrong)[0]["passed"]


def test_power_is_the_size_under_the_null_and_one_far_away():
    assert power_against(0.25, 0.25, 0.01, 0.03) == pytest.approx(2 * (1 - 0.99865), abs=1e-4)
    assert power_against(0.0, 0.25, 0.01, 0.03) > 0.999999
    # a wide tolerance has no power against a nearby law: the power row must fail
    weak = law_test(0.24, 0.05, 0.25, 5)
    assert weak.in_interval and not weak.powered and not law_rows(weak)[1]["passed"]


def test_too_few_crossings_fail_and_say_so():
    t = law_test(float("nan"), float("inf"), 0.25, 2)
    rows = law_rows(t)
    assert not rows[0]["passed"] and "need >= 3" in rows[0]["measured"]
    assert not rows[1]["passed"]


def test_one_sided_test_only_rejects_a_rising_boundary():
    low = law_test(-0.25, 0.05, 0.0, 6, side="upper")
    assert low.in_interval and set(low.power) == {0.25}        # only the law above 0 is a rival
    high = law_test(0.25, 0.02, 0.0, 6, side="upper", wrong=(0.125, 0.25))
    assert not high.in_interval and high.powered
    assert power_against(0.25, 0.0, 0.02, 0.06, side="upper") == pytest.approx(1 - 0.0, abs=1e-12)
