"""The span representation (W = W_0 + C X, featlab.train.span) trains the same runs as the
primal one, to rounding (float64), and is used exactly where it is valid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.train.population import RunSpec, train_chunk
from featlab.train.span import SpanBasis
from tests.conftest import small_setting
from tests.test_population import _mixed_runs


def _assert_paths_agree(runs):
    span, primal = train_chunk(runs, span=True), train_chunk(runs, span=False)
    assert span.span and not primal.span
    assert list(span.status) == list(primal.status)
    np.testing.assert_array_equal(span.steps, primal.steps)
    np.testing.assert_array_equal(span.log_step, primal.log_step)
    for name in primal.log_values:
        a, b = span.log_values[name], primal.log_values[name]
        if name == "decomp_residual":                   # both are rounding-level (~1e-16)
            assert np.nanmax(np.abs(a - b)) < 1e-10
            continue
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("changes", [
    {},                                                                     # GD, ReLU^2
    {"optim.name": "sgd", "optim.batch_size": 4},
    {"optim.name": "sgd", "optim.batch_size": 3, "optim.replacement": True},
    {"optim.name": "momentum", "optim.momentum": 0.8},
    {"optim.name": "nesterov", "optim.momentum": 0.5},
    {"optim.label_noise": 0.2},
    {"model.activation": "relu", "model.bias": True, "model.second_layer": "1",
     "model.init": "torch_default", "model.patch_reduce": "mean"},          # official model
    {"model.activation": "huber_relu"},
])
def test_span_and_primal_paths_train_the_same_runs(changes):
    _assert_paths_agree(_mixed_runs(fl.override(small_setting(), changes)))


def test_span_weights_are_the_primal_weights():
    """W_0 + C_t X after t coefficient updates equals t primal GD updates of W."""
    s = small_setting(train__steps=5)
    from featlab.train.population import _batch_weight, _setup
    from featlab.train.objective import step_gradient

    chunks = [_setup([RunSpec(s, 0), RunSpec(s, 1)], "cpu", span) for span in (True, False)]
    for t in range(5):
        for c, opt in chunks:
            w = _batch_weight(c, s, t)
            _, _, g = step_gradient(s.model, c.strategy, c.params, c.batch, w, c.hp, t,
                                    span=c.span)
            upd, c.opt_state = opt.update(g, c.opt_state, c.params, t)
            for k, u in upd.items():
                c.params[k].add_(u)
    (cs, _), (cp, _) = chunks
    assert cs.span is not None and "C" in cs.params
    torch.testing.assert_close(cs.primal()["W"], cp.params["W"], rtol=1e-12, atol=1e-14)
    assert (cs.primal()["W"] - cs.W0).abs().max() > 1e-3, "the weights moved"


def test_basis_preacts_equal_the_primal_preacts():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 5, 2, 40, generator=gen, dtype=torch.float64)
    W0 = torch.randn(3, 6, 40, generator=gen, dtype=torch.float64)
    C = torch.randn(3, 6, 10, generator=gen, dtype=torch.float64)
    b = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    basis = SpanBasis.build(X, W0)
    W = basis.weights(C, W0)
    z = X.reshape(3, 10, 40) @ W.transpose(1, 2) + b[:, None, :]
    torch.testing.assert_close(basis.preacts(C, b), z.transpose(1, 2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("changes", [
    {"optim.name": "adam", "optim.lr": 0.01},
    {"optim.name": "sign_gd", "optim.lr": 0.01},
    {"optim.name": "normalized_gd"},
    {"optim.weight_decay": 0.01},
    {"optim.clip": 1.0},
    {"optim.sam_rho": 0.05},
    {"optim.mixup_alpha": 1.0},
    {"data.n": 40},                                                         # n K = 80 > d = 60
])
def test_span_is_used_only_where_it_is_valid(changes):
    runs = [RunSpec(fl.override(small_setting(train__steps=3), changes), 0)]
    assert not train_chunk(runs).span
    with pytest.raises(ValueError, match="span=True needs"):
        train_chunk(runs, span=True)


def test_gd_chooses_the_span_by_itself():
    assert train_chunk([RunSpec(small_setting(train__steps=3), 0)]).span
