"""Mixup on the generic torch.func path: the task decides the soft labels (mixed +-1 labels, mixed
one-hot class probabilities, mixed regression targets). A population with mixup equals a per-run
nn.Module + torch.optim reference that mixes its own batch (same partners pi(i) and lambdas, from
the run's hash stream) and equals its single runs; on the CNN, the vmap path equals the analytic
path with mixup (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import featlab as fl
from featlab.config import MLP
from featlab.data import REGISTRY as DATA
from featlab.data.gaussian_mixture import GaussianMixtureData
from featlab.data.teacher_student import TeacherStudentData
from featlab.models import mlp
from featlab.rng import hash_beta, hash_uniform, run_key
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from tests.conftest import small_setting
from tests.test_population import _mixed_runs


def _setting(data, **kw) -> fl.Setting:
    s = fl.Setting(data=data, model=MLP(depth=3, width=6, activation="tanh"),
                   optim=fl.OptimConfig(name="gd", lr=0.3),
                   train=fl.TrainConfig(steps=10, log_points=4, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


def _mixing(s: fl.Setting, seed: int, t: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(partner pi (n,), lambda (n,)) of one run at step t, drawn directly from its stream."""
    key = torch.tensor([run_key(seed, "mixup")])
    partner = torch.argsort(hash_uniform(key, t, (n,))[0])
    if s.optim.mixup_lambda > 0:
        lam = torch.full((n,), s.optim.mixup_lambda, dtype=torch.float64)
    else:
        lam = hash_beta(key, t, (n,), torch.tensor([s.optim.mixup_alpha], dtype=torch.float64))[0]
    return partner, lam


def _reference(s: fl.Setting, seed: int) -> dict[int, float]:
    """Full-batch (unmixed) train loss before each step of one run trained with mixup by
    nn.Sequential + torch.optim.SGD."""
    cfg, task = s.model, s.data.task
    data = DATA[s.data.kind].sample_run(s.data, seed, s.data.n, "train", torch.float64)
    X, y = data["X"], data["y"]
    C = s.data.n_classes if task == "multiclass" else 1
    p = {k: v[0] for k, v in mlp.init(cfg, [seed], (s.data.d,), torch.float64, C).items()}
    lins = []
    for l in range(cfg.depth):
        W = p[f"W{l}"]
        lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(W)
        lins.append(lin)
    net = torch.nn.Sequential(lins[0], torch.nn.Tanh(), lins[1], torch.nn.Tanh(), lins[2])
    opt = torch.optim.SGD(net.parameters(), lr=s.optim.lr)

    def loss_of(out, target):
        if task == "regression":
            return F.mse_loss(out[:, 0], target)
        return F.cross_entropy(out, target)             # class indices or probabilities

    losses = {}
    for t in range(s.train.steps + 1):
        with torch.no_grad():
            target = y if task == "regression" else y.long()
            losses[t] = float(loss_of(net(X), target))
        if t == s.train.steps:
            break
        partner, lam = _mixing(s, seed, t, len(y))
        Xm = lam[:, None] * X + (1 - lam[:, None]) * X[partner]
        if task == "regression":
            target = lam * y + (1 - lam) * y[partner]
        else:
            onehot = F.one_hot(y.long(), C).double()
            target = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]
        opt.zero_grad()
        loss_of(net(Xm), target).backward()
        opt.step()
    return losses


@pytest.mark.parametrize("data,mix", [
    (GaussianMixtureData(n=20, d=5, n_test=30, n_classes=3), {"optim.mixup_lambda": 0.7}),
    (GaussianMixtureData(n=20, d=5, n_test=30, n_classes=3), {"optim.mixup_alpha": 0.5}),
    (TeacherStudentData(n=20, d=5, n_test=30, teacher_width=3), {"optim.mixup_alpha": 1.0}),
])
def test_generic_mixup_equals_a_torch_reference_and_single_runs(data, mix):
    s = _setting(data, **mix)
    runs = [RunSpec(fl.override(s, {"model.init_scale": 1.0 + 0.1 * i}), i) for i in range(3)]
    pop = train_chunk(runs)
    plain = train_chunk([RunSpec(_setting(data), 0)])
    for i, r in enumerate(runs):
        rows = pop.log_run == i
        one = train_chunk([r])
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name],
                                       rtol=1e-12, atol=1e-14, err_msg=name)
        ref = _reference(r.setting, r.seed)
        np.testing.assert_allclose(pop.log_values["train_loss"][rows],
                                   [ref[int(t)] for t in pop.log_step[rows]], rtol=1e-10, atol=1e-12)
    # mixing changed the trajectory (the same run without mixup ends elsewhere)
    assert abs(plain.log_values["train_loss"][-1] - pop.log_values["train_loss"][pop.log_run == 0][-1]) > 1e-6


def test_cnn_vmap_path_equals_analytic_path_with_mixup():
    runs = _mixed_runs(fl.override(small_setting(), {"optim.mixup_alpha": 0.5}))
    generic, analytic = train_chunk(runs, vmap=True), train_chunk(runs, span=False)
    np.testing.assert_array_equal(generic.steps, analytic.steps)
    for name, b in analytic.log_values.items():
        if name == "decomp_residual":
            continue
        np.testing.assert_allclose(generic.log_values[name], b, rtol=1e-10, atol=1e-12, err_msg=name)
