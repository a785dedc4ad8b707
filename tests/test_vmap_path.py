"""The generic torch.func path (vmap(grad_and_value(loss)) over P, featlab.train.vmapped) trains the
two-layer CNN to the same numbers as its analytic gradient (float64, 1e-10), for plain GD, Adam,
SAM and label-noise GD, on ragged populations that differ in every per-run field."""

from __future__ import annotations

import numpy as np
import pytest

import featlab as fl
from featlab.train.population import train_chunk
from tests.conftest import small_setting
from tests.test_population import _mixed_runs


@pytest.mark.parametrize("changes", [
    {},                                                                     # GD, ReLU^2
    {"optim.name": "adam", "optim.lr": 0.05},
    {"optim.sam_rho": 0.05},
    {"optim.label_noise": 0.2},
    {"model.activation": "relu", "model.bias": True, "model.second_layer": "1",
     "model.init": "torch_default", "model.patch_reduce": "mean", "optim.name": "adam",
     "optim.lr": 0.02},                                                     # official model + bias
])
def test_vmap_path_equals_analytic_path(changes):
    runs = _mixed_runs(fl.override(small_setting(), changes))
    generic, analytic = train_chunk(runs, vmap=True), train_chunk(runs, span=False)
    assert list(generic.status) == list(analytic.status)
    np.testing.assert_array_equal(generic.steps, analytic.steps)
    np.testing.assert_array_equal(generic.log_step, analytic.log_step)
    assert set(generic.log_values) == set(analytic.log_values)
    moved = analytic.log_values["weight_movement"]
    assert np.nanmax(moved) > 0.01                                          # the runs did train
    for name, b in analytic.log_values.items():
        a = generic.log_values[name]
        if name == "decomp_residual":                   # both are rounding-level (~1e-16)
            assert np.nanmax(np.abs(a - b)) < 1e-10
            continue
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)
