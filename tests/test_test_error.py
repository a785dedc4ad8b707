"""The 2m-dimensional Gaussian test-error estimator agrees with d-dimensional test sets."""

from __future__ import annotations

import numpy as np
import pytest

import featlab as fl
from featlab.train.population import RunSpec, train_chunk


@pytest.mark.parametrize("noise,position", [("orthogonal", "first"), ("isotropic", "random")])
def test_estimators_agree(noise, position):
    base = fl.Setting(
        data=fl.SignalNoiseData(n=20, d=150, mu_norm=2.2, sigma_p=1.0, noise=noise,
                                signal_position=position, flip_p=0.1, flip_test=True, n_test=4000),
        model=fl.TwoLayerCNN.official(m=5), optim=fl.OptimConfig(lr=0.1),
        train=fl.TrainConfig(steps=60, log_points=2, dtype="float64"))
    runs = [RunSpec(base, s) for s in range(4)]
    gauss = train_chunk([RunSpec(fl.override(r.setting, {"train.test_estimator": "gaussian"}), r.seed)
                         for r in runs])
    sample = train_chunk([RunSpec(fl.override(r.setting, {"train.test_estimator": "sample"}), r.seed)
                          for r in runs])
    np.testing.assert_allclose(gauss.final["train_loss"], sample.final["train_loss"], rtol=1e-12)
    for name in ("test_error", "test_error_noisy"):
        g, s = gauss.final[name], sample.final[name]
        se = np.sqrt(np.maximum(g * (1 - g), 0.01) * 2 / 4000)       # two independent estimates
        assert np.all(np.abs(g - s) < 4 * se), (name, g, s)
    # the errors are informative (neither 0 nor 1/2 everywhere), so the comparison can fail
    assert 0.02 < gauss.final["test_error"].mean() < 0.45
    # noisy-label error ~ p + (1 - 2p) clean error
    np.testing.assert_allclose(gauss.final["test_error_noisy"],
                               0.1 + 0.8 * gauss.final["test_error"], atol=0.03)


def test_n_mc_sets_the_number_of_gaussian_draws():
    from featlab.train.population import _setup

    base = fl.Setting(data=fl.SignalNoiseData(n=20, d=100, mu_norm=2.0, n_test=50),
                      model=fl.TwoLayerCNN.official(m=5),
                      train=fl.TrainConfig(steps=30, n_mc=3000, log_points=2))
    c, _ = _setup([RunSpec(base, 0)], "cpu", span=False)
    assert c.draws.eps.shape == (1, 3000, 10)
    c, _ = _setup([RunSpec(fl.override(base, {"train.n_mc": 0}), 0)], "cpu", span=False)
    assert c.draws.eps.shape == (1, 50, 10)
