"""ReLU random-features regression: exact feature moments (against Monte Carlo), the simulator's exact
test risk, the Gaussian-equivalent ridge equivalent against simulation (a tolerance that shrinks
with seeds plus a stated allowance), population == single runs, bad inputs, and the experiment."""

from __future__ import annotations

import numpy as np
import pytest

import featlab as fl
from featlab.config import ConfigError
from featlab.linear.config import LinearData, LinearModel, LinearOptim, LinearSetting, LinearTrain
from featlab.linear.simulate import sample_data, sample_features, train_chunk
from featlab.theory.linear import relu_feature_moments, relu_rf_ridge_equivalent, relu_rf_risk
from featlab.train.population import RunSpec


def _rf(M: int = 40, lam_reg: float = 0.0, **kw) -> LinearSetting:
    s = LinearSetting(LinearData(p=30, spectrum="power", a=0.5, target="flat", r2=1.0, sigma2=0.2, n=60),
                      LinearModel(name="relu_rf", M=M), LinearOptim(name="ridge", lam_reg=lam_reg),
                      LinearTrain(steps=1))
    return fl.override(s, kw) if kw else s


def test_moments_and_risk_equal_monte_carlo():
    rng = np.random.default_rng(0)
    p, M, S = 20, 12, 400_000
    lam = np.linspace(0.3, 2.0, p)
    w = rng.standard_normal(p) / np.sqrt(p)
    A = rng.standard_normal((p, M)) / np.sqrt(p)
    mom = relu_feature_moments(A, lam, w)
    X = rng.standard_normal((S, p)) * np.sqrt(lam)
    F = np.maximum(X @ A, 0.0)
    y = X @ w
    for exact, samples in ((mom.K, F[:, :, None] * F[:, None, :]), (mom.c, F * y[:, None])):
        se = samples.std(0) / np.sqrt(S)
        assert np.all(np.abs(samples.mean(0) - exact) <= 5 * se + 1e-12)
    theta = rng.standard_normal(M)
    sq = (F @ theta - y) ** 2
    assert abs(sq.mean() - relu_rf_risk(theta, mom)) <= 5 * sq.std() / np.sqrt(S)
    # the best predictor's risk is the approximation error, and no theta does better
    best = mom.basis @ mom.theta_star
    assert relu_rf_risk(best, mom) == pytest.approx(mom.approx_error, rel=1e-8, abs=1e-12)
    assert relu_rf_risk(best + 0.01 * theta, mom) > mom.approx_error


def test_simulator_risk_is_the_exact_risk_of_its_fit():
    s = _rf(M=50, lam_reg=0.01)
    res = train_chunk([RunSpec(s, 3)])
    Z, y = sample_data(s, 3, s.data.n)
    Z, y = Z.numpy(), y.numpy()
    n = s.data.n
    theta = np.linalg.solve(Z.T @ Z + n * 0.01 * np.eye(50), Z.T @ y)
    mom = relu_feature_moments(sample_features(s, 3), np.arange(1, 31) ** -0.5, np.full(30, 30 ** -0.5))
    assert res.final["excess_risk"][0] == pytest.approx(relu_rf_risk(theta, mom), rel=1e-9)
    assert (Z >= 0).all() and (Z > 0).any(), "ReLU features"


@pytest.mark.parametrize("M, lam_reg", [(20, 0.0), (200, 0.0), (60, 0.05)])
def test_ridge_equivalent_matches_simulation(M, lam_reg):
    """Seed-paired: |mean(sim - DE)| <= 4.5 SE + 10% of the DE (the equivalent is asymptotic; at
    p = 30, n = 60 its finite-size error is a few percent), with 48 seeds."""
    s = _rf(M=M, lam_reg=lam_reg)
    seeds = range(48)
    res = train_chunk([RunSpec(s, k) for k in seeds])
    lam, w = np.arange(1, 31) ** -0.5, np.full(30, 30 ** -0.5)
    de = np.array([relu_rf_ridge_equivalent(relu_feature_moments(sample_features(s, k), lam, w), 0.2, 60, lam_reg)
                   for k in seeds])
    diff = res.final["excess_risk"] - de
    assert abs(diff.mean()) <= 4.5 * diff.std(ddof=1) / np.sqrt(len(diff)) + 0.1 * de.mean()


def test_population_equals_single_runs():
    runs = [RunSpec(_rf(M=40, lam_reg=lam), seed) for lam, seed in [(0.0, 0), (0.1, 1), (0.01, 2)]]
    together = train_chunk(runs)
    for k, r in enumerate(runs):
        alone = train_chunk([r])
        np.testing.assert_allclose(together.final["excess_risk"][k], alone.final["excess_risk"][0], rtol=1e-10)


def test_more_features_than_inputs_allowed_and_bad_inputs_are_errors():
    assert _rf(M=500).features == 500
    with pytest.raises(ConfigError, match=r"optim\.name.*relu_rf"):
        fl.override(_rf(), {"optim.name": "sgd"})
    with pytest.raises(ConfigError, match=r"data\.n.*interpolator"):
        fl.override(_rf(M=60), {})
    with pytest.raises(ConfigError, match=r"model\.M=200000 .* GiB .*M x M"):     # ~1.8 TB of moments
        fl.override(_rf(), {"model.M": 200000})
    big = _rf(M=2000)                                # fits (~0.2 GiB); the moments dominate its footprint
    assert 6 * 8 * 2000**2 < big.run_bytes() < 7 * 8 * 2000**2 and big.run_bytes(peak=False) < big.run_bytes() / 5
    with pytest.raises(ValueError, match="zero variance"):
        relu_feature_moments(np.zeros((3, 2)), np.ones(3), np.ones(3))


def test_rf_double_descent_small(tmp_path):
    out = fl.run_experiment("rf-double-descent", "quick", out=tmp_path, seeds=8,
                            grid={"model.M": [20, 60, 90, 110, 140, 300, 600],
                                  "optim.lam_reg": [0.0, 0.004, 0.063, 1.0]},
                            overrides={"data.p": 50, "data.n": 100})
    # 8 seeds cannot reject a 20%-wrong equivalent: the power row must say so (checked, failing);
    # every other row passes
    rows = {r["quantity"]: r for r in out.check["rows"]}
    power = rows.pop("min-norm: power against a 20%-wrong equivalent")
    assert power["status"] == "fail" and not out.check["passed"]
    assert all(r["status"] == "pass" for r in rows.values()), [r for r in rows.values() if r["status"] != "pass"]
