"""The linear-model simulator: agrees with the exact theory within a stated tolerance that shrinks
with seeds, a population equals its runs trained one by one, known limits, and clear bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest

import featlab as fl
from featlab.config import ConfigError
from featlab.linear.analysis import agreement
from featlab.linear.config import LinearData, LinearModel, LinearOptim, LinearSetting, LinearTrain, target
from featlab.linear.predict import isotropic_minnorm_exact, sgd_exact
from featlab.linear.simulate import train_chunk
from featlab.train.population import RunSpec


def _sgd(**kw) -> LinearSetting:
    s = LinearSetting(LinearData(p=40, a=1.5, b=0.5, sigma2=0.2), LinearModel(),
                      LinearOptim(name="sgd", lr=0.3), LinearTrain(steps=300, log_points=12))
    return fl.override(s, kw) if kw else s


def _logged(res, name: str) -> tuple[np.ndarray, np.ndarray]:
    steps = np.unique(res.log_step)
    return steps, res.log_values[name].reshape(len(steps), -1).T          # (P, K)


@pytest.mark.parametrize("name", ["excess_risk", "excess_risk_avg"])
def test_sgd_matches_exact_recursion_and_error_shrinks_with_seeds(name):
    s = _sgd(**{"optim.schedule": "geometric"})
    res = train_chunk([RunSpec(s, k) for k in range(256)])
    steps, sim = _logged(res, name)
    exact = sgd_exact(s)[name][steps]
    few, many = agreement(sim[:16], exact), agreement(sim, exact)
    # stated tolerance: the t-quantile of 4 normal SDs times the standard error, at every logged step
    assert few.passed and many.passed, (few.describe(), many.describe())
    assert many.tolerance < 0.5 * few.tolerance          # ~ sqrt(16/256) = 1/4
    assert many.max_rel_err < few.max_rel_err


def test_sketch_matches_its_own_exact_recursion():
    s = _sgd(**{"model.name": "sketch", "model.M": 16, "optim.lr": 0.15})
    seeds = list(range(96))
    res = train_chunk([RunSpec(s, k) for k in seeds])
    steps, sim = _logged(res, "excess_risk")
    exact = sgd_exact(s, seeds)["excess_risk"][:, steps]                 # (S, K), each seed's own A
    agr = agreement(sim - exact + exact.mean(0), exact.mean(0))
    assert agr.passed, agr.describe()


def test_population_equals_single_runs():
    base = _sgd(**{"train.steps": 50})
    runs = [RunSpec(fl.override(base, {"optim.lr": lr, "data.sigma2": s2}), seed)
            for lr, s2, seed in [(0.1, 0.2, 0), (0.3, 0.0, 1), (0.2, 0.5, 2), (0.05, 0.1, 0)]]
    together = train_chunk(runs)
    for k, r in enumerate(runs):
        alone = train_chunk([r])
        for name in together.log_values:
            np.testing.assert_allclose(together.log_values[name].reshape(-1, 4)[:, k],
                                       alone.log_values[name], rtol=1e-10, atol=1e-14)


def test_ridge_and_minnorm_limits():
    iso = LinearSetting(LinearData(p=30, spectrum="isotropic", target="flat", r2=1.0, sigma2=0.5, n=80),
                        optim=LinearOptim(name="minnorm"))
    # p/n < 1: OLS, exact finite-n risk sigma^2 p/(n-p-1); p/n -> 0 sends it to 0
    res = train_chunk([RunSpec(iso, k) for k in range(200)])
    exact = isotropic_minnorm_exact(30, 80, 1.0, 0.5)
    assert agreement(res.final["excess_risk"][:, None], np.array([exact])).passed
    tiny = fl.override(iso, {"data.p": 2})
    assert train_chunk([RunSpec(tiny, k) for k in range(50)]).final["excess_risk"].mean() < 0.05
    # ridge with a huge penalty: theta -> 0, risk -> ||w*||_H^2 = r^2
    ridge = fl.override(iso, {"optim.name": "ridge", "optim.lam_reg": 1e8})
    assert train_chunk([RunSpec(ridge, 0)]).final["excess_risk"][0] == pytest.approx(1.0, rel=1e-6)
    # min-norm interpolates: zero training loss when p > n
    over = fl.override(iso, {"data.p": 200})
    assert train_chunk([RunSpec(over, 0)]).final["train_loss"][0] < 1e-20


def test_sgd_limits():
    # gamma -> 0: nothing moves, the risk stays ||w*||_H^2
    s = _sgd(**{"optim.lr": 1e-9})
    res = train_chunk([RunSpec(s, 0)])
    assert res.final["excess_risk"][0] == pytest.approx(sgd_exact(s)["excess_risk"][0], rel=1e-6)
    # M = p sketch: no approximation error, so the sketched exact risk has approx = 0
    full = _sgd(**{"model.name": "sketch", "model.M": 40, "optim.lr": 0.05})
    assert abs(sgd_exact(full, 3)["approx"][0]) < 1e-10
    # w* lives in the eigenbasis; r2 rescales it
    assert np.sum(target(LinearData(p=10, target="flat", r2=4.0)) ** 2) == pytest.approx(4.0)


@pytest.mark.parametrize("changes,needle", [
    ({"data.spike": 0.0, "data.spectrum": "spiked"}, r"data\.spike"),
    ({"data.tail": -1.0}, r"data\.tail"),
    ({"optim.lr": 5.0}, r"optim\.lr.*stability limit"),
    ({"model.name": "sketch", "model.M": 50}, r"model\.M.*M <= p"),
    ({"model.name": "sketch"}, r"model\.M"),
    ({"optim.name": "minnorm", "data.n": 40}, r"data\.n.*interpolator"),
    ({"optim.batch_size": 0}, r"optim\.batch_size"),
    ({"data.sigma2": -0.1}, r"data\.sigma2"),
    ({"model.name": "mlp"}, r"model\.name"),
])
def test_bad_inputs_are_config_errors(changes, needle):
    with pytest.raises(ConfigError, match=needle):
        fl.override(_sgd(), changes)


def test_runner_trains_stores_resumes_and_rebuilds_report(tmp_path):
    from featlab.runner import build_report, run_experiment
    from featlab.store import Store

    # 256 seeds: with fewer the check's power rows (reject a 20%-wrong recursion) fail, as they should
    kw = dict(overrides={"data.p": 40, "train.steps": 200}, seeds=256, out=tmp_path)
    first = run_experiment("sgd-linear-risk", "quick", **kw)
    assert first.n_trained == 512 and first.check["passed"], first.check
    again = run_experiment("sgd-linear-risk", "quick", report=False, **kw)
    assert again.n_trained == 0 and again.sweep_id == first.sweep_id
    with Store(tmp_path) as store:
        assert store.sweep(first.sweep_id)["spec"]["setting_type"] == "linear"
        path, analysis = build_report(store, first.sweep_id)          # setting rebuilt from the spec
        assert path.exists() and analysis.check["passed"]
        assert set(store.metrics(first.sweep_id)["name"]) == {"excess_risk", "excess_risk_avg", "excess_risk_tail",
                                                             "risk"}


def test_tail_average_matches_its_exact_recursion():
    """excess_risk_tail at step t averages theta_u, u = (t+1)//2 .. t; its expectation is
    sgd_averaged_risk(start=(t+1)//2, N=t+1-(t+1)//2), on the separating target w* = e_1."""
    from featlab.linear.config import spectrum
    from featlab.theory.linear import sgd_averaged_risk

    s = LinearSetting(LinearData(p=50, a=1.0, target="first", sigma2=1.0), LinearModel(),
                      LinearOptim(name="sgd", lr=0.05), LinearTrain(steps=300, log_points=8))
    res = train_chunk([RunSpec(s, k) for k in range(256)])
    steps, sim = _logged(res, "excess_risk_tail")
    keep = steps >= 1
    exact = np.array([sgd_averaged_risk(spectrum(s.data), target(s.data), 1.0, np.full(t + 1, 0.05),
                                        (t + 1) // 2, t + 1 - (t + 1) // 2) for t in steps[keep]])
    agr = agreement(sim[:, keep], exact)
    assert agr.passed, agr.describe()
    # a different iterate from the Polyak average (here the latter averages more noise away)
    _, polyak = _logged(res, "excess_risk_avg")
    assert abs(polyak[:, -1].mean() - sim[:, -1].mean()) > 0.2 * sim[:, -1].mean()
