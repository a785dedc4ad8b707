"""The power rows of the linear experiments can fail: each rejects a wrong law on synthetic data and
accepts the right one (issue 10: a check that cannot tell a 20%-wrong theory from the right one
must not PASS)."""

from __future__ import annotations

import importlib

import numpy as np

from featlab.linear.analysis import agreement, power_against


def _sim(rel_sd: float, S: int = 256, K: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    theory = np.geomspace(1.0, 0.1, K)                                           # (K,)
    rng = np.random.default_rng(seed)
    return theory * (1 + rel_sd * rng.standard_normal((S, K))), theory           # (S, K)


def test_power_against_rejects_a_20pct_wrong_theory_only_when_the_data_can():
    sim, theory = _sim(0.5)                  # SE / risk ~ 0.03: a 20% error is ~6 SE away
    assert agreement(sim, theory).passed
    assert power_against(sim, theory, perturb=0.2).passed
    noisy, _ = _sim(3.0, S=16)               # SE / risk ~ 0.75: 20% is invisible
    assert agreement(noisy, theory).passed and not power_against(noisy, theory, perturb=0.2).passed


def test_power_against_leaves_kept_points_unperturbed():
    sim, theory = _sim(3.0, S=16)
    sim[:, 0] = theory[0]                    # a deterministic point: any scaling there is rejected
    keep = np.zeros(theory.shape, bool)
    keep[0] = True
    assert power_against(sim, theory, perturb=0.2).passed                     # trivially, via point 0
    assert not power_against(sim, theory, perturb=0.2, keep=keep).passed     # not without it


def test_sgd_linear_risk_perturbed_recursion_keeps_step_zero():
    slr = importlib.import_module("featlab.experiments.sgd_linear_risk")
    exact = np.array([2.0, 1.0, 0.5])
    assert np.allclose(slr.perturbed(exact, np.arange(3), 1.2), [2.0, 1.2, 0.6])


def test_claim1_criterion_power_on_sgd_vs_ridge_ranges():
    svr = importlib.import_module("featlab.experiments.sgd_vs_ridge")
    # n = 16..857 (quick): N/n ~ n^c fails the 1.25 bound from c ~ 0.28; log growth passes
    assert 0.2 < svr.rejected_power(np.array([16, 64, 256, 857])) < svr.POWER_C
    assert svr.rejected_power(np.array([16, 20])) > svr.POWER_C              # too short a range: no power
    ns = np.geomspace(16, 857, 12)
    per_log = (3.0 * np.log(ns)) / np.log(ns)
    assert np.max(per_log) / per_log[0] <= svr.GROWTH_MAX


def test_scaling_exponent_power_row_needs_the_wrong_laws_outside_the_tolerance():
    sll = importlib.import_module("featlab.experiments.scaling_law_linear")
    assert sll.power_row("N", 0.414, 0.5)["passed"]          # tolerance 0.125; half (0.25) is 0.164 away
    assert not sll.power_row("N", 0.36, 0.5)["passed"]       # half the exponent within 0.125: no power
    assert sll.power_row("M", 1.03, 1.0)["passed"]


def test_paired_exponent_row_counts_only_where_it_has_power():
    from featlab.experiments.base import is_checked

    sll = importlib.import_module("featlab.experiments.scaling_law_linear")
    rng = np.random.default_rng(0)
    x = np.array([4.0, 8, 16, 32, 64])
    steep = 0.1 + x ** -1.0                                                  # L = E + A M^-1
    noisy = steep + rng.normal(0, 1e-3, (16, 5))
    row = sll._paired_exponent_row("M", x, noisy, np.tile(steep, (16, 1)))
    assert is_checked(row) and row["passed"]
    wrong = 0.1 + x ** -2.0 + rng.normal(0, 1e-3, (16, 5))                   # simulation off by 2x
    assert not sll._paired_exponent_row("M", x, wrong, np.tile(steep, (16, 1)))["passed"]
    flat = 0.1 + 1e-4 * x ** -1.0                                            # nearly flat: noise dominates
    row = sll._paired_exponent_row("M", x, flat + rng.normal(0, 1e-3, (16, 5)), np.tile(flat, (16, 1)))
    assert not is_checked(row)
