"""The generic engine's analytic gradient (Family.vjp, featlab.train.analytic) on token-selection
attention: it equals autograd of an independent nn.Module, trains to the same numbers as the forced
vmap path (float64, 1e-10) for GD, Adam, SAM, label noise, mixup and minibatches on ragged
populations (runs that stop early are frozen, then compacted away), a population equals its single
runs, the engine really takes the analytic path unless vmap is forced, a family without the hook
still trains through vmap, and the tasks' one-call (per-sample) losses equal their vmapped form."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.data import tokens
from featlab.data.tokens import TokenSelectionData
from featlab.models import family_of, token_attention
from featlab.models.family import FAMILIES
from featlab.models.token_attention import TokenAttention
from featlab.train.analytic import analytic_loss_and_grad, loss_and_cotangent
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import TASKS, task_of
from tests.test_token_attention import _Reference


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=TokenSelectionData(n=10, d=12, T=5, mu_norm=4.0, flips=3, n_test=20),
                   model=TokenAttention(nu_norm=0.25),
                   optim=fl.OptimConfig(name="gd", lr=2.0),
                   train=fl.TrainConfig(steps=12, log_points=4, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


def _ragged_runs(base: fl.Setting) -> list[RunSpec]:
    """Five runs differing in every per-run field; run 2 stops at step 3 (one run in five
    frozen: kept in the chunk, masked), run 4 at a loss threshold under GD (at step 5: two in
    five frozen, the chunk is compacted)."""
    variants = [{}, {"model.init_scale": 1.5, "data.mu_norm": 2.0},
                {"data.flips": 1, "train.steps": 3}, {"optim.lr": 0.2, "data.rho": 0.3},
                {"train.loss_threshold": 0.55, "model.nu_norm": 0.5}]
    return [RunSpec(fl.override(base, v), seed) for seed, v in enumerate(variants)]


def _assert_same(a, b, rtol=1e-10, atol=1e-12):
    assert list(a.status) == list(b.status)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.log_run, b.log_run)
    np.testing.assert_array_equal(a.log_step, b.log_step)
    assert set(a.log_values) == set(b.log_values)
    for name, v in b.log_values.items():
        np.testing.assert_allclose(a.log_values[name], v, rtol=rtol, atol=atol, err_msg=name)


def _random_point(s: fl.Setting, seeds: list[int]):
    params = token_attention.init(s.model, seeds, s.data.input_shape, torch.float64)
    params["p"] = torch.randn(params["p"].shape, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(3))   # non-uniform attention
    data = [tokens.sample_run(s.data, k, s.data.n, "train", torch.float64) for k in seeds]
    return params, torch.stack([d["X"] for d in data]), torch.stack([d["y"] for d in data])


def test_analytic_gradient_equals_module_autograd():
    s = _setting()
    params, X, y = _random_point(s, [0, 1, 2])
    w = torch.rand(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fam = family_of(s.model)
    loss, f, g = analytic_loss_and_grad(fam, s.model, task_of(s.data))(s.model, params, X, y, w)
    assert set(g) == {"W", "p"}                                              # nu is not trained
    for i in range(3):
        net = _Reference(params["W"][i], params["p"][i], params["nu"][i])
        out = net(X[i])
        ref = (w[i] * torch.nn.functional.softplus(-y[i] * out)).sum()
        ref.backward()
        torch.testing.assert_close(f[i], out.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(g["W"][i], net.W.grad, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(g["p"][i], net.p.grad, rtol=1e-10, atol=1e-14)
        assert net.W.grad.abs().max() > 1e-3                                 # a real gradient


@pytest.mark.parametrize("changes", [
    {},                                                                     # GD
    {"optim.name": "adam", "optim.lr": 0.05},
    {"optim.sam_rho": 0.1},
    {"optim.label_noise": 0.2},
    {"optim.mixup_alpha": 0.5},
    {"optim.name": "sgd", "optim.batch_size": 4},
])
def test_analytic_path_equals_vmap_path(changes):
    runs = _ragged_runs(_setting(**changes))
    analytic, vmapped = train_chunk(runs), train_chunk(runs, vmap=True)
    _assert_same(analytic, vmapped)
    assert analytic.steps[2] == 3 and analytic.steps[0] == 12                # ragged budgets
    assert np.nanmax(analytic.log_values["weight_movement_W"]) > 0.01        # the runs trained


@pytest.mark.parametrize("changes", [{}, {"optim.sam_rho": 0.1, "optim.label_noise": 0.2}])
def test_analytic_population_equals_single_runs(changes):
    runs = _ragged_runs(_setting(**changes))
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        mine = pop.log_run == i
        assert pop.status[i] == one.status[0] and pop.steps[i] == one.steps[0]
        np.testing.assert_array_equal(pop.log_step[mine], one.log_step)
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][mine], one.log_values[name],
                                       rtol=1e-12, atol=1e-14, err_msg=f"run {i}, {name}")


def _counting(monkeypatch) -> list[int]:
    """Replace the registered token-attention family by one whose vjp counts its calls."""
    calls = [0]
    fam = FAMILIES["token_attention"]

    def vjp(cfg, params, X):
        calls[0] += 1
        return token_attention.vjp(cfg, params, X)

    monkeypatch.setitem(FAMILIES, "token_attention", dataclasses.replace(fam, vjp=vjp))
    return calls


def test_engine_takes_the_analytic_path_unless_vmap_is_forced(monkeypatch):
    calls = _counting(monkeypatch)
    runs = _ragged_runs(_setting())[:2]
    train_chunk(runs)
    assert calls[0] >= 12                                   # one call per step at least
    calls[0] = 0
    train_chunk(runs, vmap=True)
    assert calls[0] == 0


def test_a_family_without_the_hook_trains_through_vmap(monkeypatch):
    runs = _ragged_runs(_setting(**{"optim.name": "adam", "optim.lr": 0.05}))
    forced = train_chunk(runs, vmap=True)
    fam = FAMILIES["token_attention"]
    monkeypatch.setitem(FAMILIES, "token_attention", dataclasses.replace(fam, vjp=None))
    plain = train_chunk(runs)
    _assert_same(plain, forced, rtol=0, atol=0)             # the very same code path
    with pytest.raises(ValueError, match="vmap"):
        analytic_loss_and_grad(family_of(runs[0].setting.model), runs[0].setting.model,
                               TASKS["binary"])


@pytest.mark.parametrize("name,soft", [("binary", False), ("binary", True), ("multiclass", False),
                                       ("multiclass", True), ("multiclass_mse", False),
                                       ("regression", False), ("denoise", False)])
def test_per_sample_losses_equal_their_vmapped_form(name, soft):
    gen = torch.Generator().manual_seed(0)
    P, n, C = 3, 7, 4
    task = TASKS[name]
    assert task.per_sample
    shape = {"multiclass": (P, n, C), "multiclass_mse": (P, n, C), "denoise": (P, n, 2, 5)}
    f = torch.randn(shape.get(name, (P, n)), dtype=torch.float64, generator=gen)
    if name.startswith("multiclass"):
        y = (torch.rand(P, n, C, dtype=torch.float64, generator=gen).softmax(-1) if soft
             else torch.randint(0, C, (P, n), generator=gen).double())
    elif name == "binary":
        y = (2 * torch.rand(P, n, dtype=torch.float64, generator=gen) - 1 if soft
             else torch.where(torch.rand(P, n, generator=gen) < 0.5, -1.0, 1.0).double())
    else:
        y = torch.randn(f.shape, dtype=torch.float64, generator=gen)
    w = torch.rand(P, n, dtype=torch.float64, generator=gen)
    loss, g = loss_and_cotangent(task, f, y, w, soft)
    ref_loss, ref_g = loss_and_cotangent(dataclasses.replace(task, per_sample=False), f, y, w, soft)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(g, ref_g, rtol=1e-13, atol=1e-15)
    assert g.shape == f.shape and g.abs().max() > 1e-3
    no_grad, none = loss_and_cotangent(task, f, y, w, soft, need_grad=False)
    assert none is None
    torch.testing.assert_close(no_grad, loss, rtol=0, atol=0)
