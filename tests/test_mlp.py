"""The MLP family on the generic torch.func path: a population of P runs equals P single runs and
equals a per-run nn.Module + torch.optim reference (float64); per-group learning rates reach the
right parameters (a zero multiplier freezes its group); the parametrization's multipliers follow
TP V Table 3; bad model inputs name their field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab import optim
from featlab.config import MLP, ConfigError
from featlab.data.gaussian_mixture import GaussianMixtureData
from featlab.data.teacher_student import TeacherStudentData
from featlab.data import REGISTRY as DATA
from featlab.models import mlp
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=TeacherStudentData(n=24, d=5, n_test=40, teacher_width=3),
                   model=MLP(depth=3, width=7, activation="tanh", bias=True),
                   optim=fl.OptimConfig(name="gd", lr=0.2),
                   train=fl.TrainConfig(steps=12, log_points=4, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


def _reference(s: fl.Setting, seed: int) -> dict[int, float]:
    """Train loss before each step of one run: nn.Sequential + torch.optim (full batch)."""
    cfg, data = s.model, DATA[s.data.kind].sample_run(s.data, seed, s.data.n, "train", torch.float64)
    task = s.data.task
    out_dim = s.data.n_classes if task == "multiclass" else 1
    p = {k: v[0] for k, v in mlp.init(cfg, [seed], (s.data.d,), torch.float64, out_dim).items()}
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[cfg.activation]
    layers = []
    for l in range(cfg.depth):
        W = p[f"W{l}"]
        lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=cfg.bias, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(W)
            if cfg.bias:
                lin.bias.copy_(p[f"b{l}"])
        layers += [lin] + ([act()] if l < cfg.depth - 1 else [])
    net = torch.nn.Sequential(*layers)
    mult = mlp.lr_multipliers(cfg, s.optim.name)
    groups = mlp.param_groups(cfg)
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    param_groups = []
    for l, lin in enumerate(lins):
        param_groups.append({"params": [lin.weight], "lr": s.optim.lr * mult[groups[f"W{l}"]]})
        if cfg.bias:
            param_groups.append({"params": [lin.bias], "lr": s.optim.lr * mult["bias"]})
    opt = (torch.optim.Adam(param_groups, betas=(s.optim.b1, s.optim.b2), eps=s.optim.eps)
           if s.optim.name == "adam" else torch.optim.SGD(param_groups))
    loss_fn = torch.nn.MSELoss() if task == "regression" else torch.nn.CrossEntropyLoss()
    y = data["y"] if task == "regression" else data["y"].long()
    losses = {}
    for t in range(s.train.steps + 1):
        opt.zero_grad()
        out = net(data["X"])
        loss = loss_fn(out[:, 0] if task == "regression" else out, y)
        losses[t] = float(loss.detach())
        if t < s.train.steps:
            loss.backward()
            opt.step()
    return losses


@pytest.mark.parametrize("changes", [
    {},
    {"optim.name": "adam", "optim.lr": 0.05, "model.parametrization": "mup", "model.base_width": 4},
    {"data.kind": "gaussian_mixture", "model.activation": "relu", "model.bias": False,
     "model.parametrization": "mup", "model.base_width": 14},
])
def test_population_equals_single_runs_and_torch_reference(changes):
    s = _setting(**changes)
    runs = [RunSpec(fl.override(s, {"model.init_scale": 1.0 + 0.1 * i}), i) for i in range(3)]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        ref = _reference(r.setting, r.seed)
        rows = pop.log_run == i
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name],
                                       rtol=1e-12, atol=1e-14, err_msg=name)
        steps, ours = pop.log_step[rows], pop.log_values["train_loss"][rows]
        np.testing.assert_allclose(ours, [ref[int(t)] for t in steps], rtol=1e-10, atol=1e-12)
        assert ref[s.train.steps] < 0.9 * ref[0]                            # it learned


@pytest.mark.parametrize("frozen", ["output", "hidden", "input", "bias"])
def test_zero_group_multiplier_freezes_that_group(frozen):
    s = _setting(**{"optim.group_lr": f"{frozen}=0"})
    res = train_chunk([RunSpec(s, 0)])
    last = res.log_step == res.log_step.max()
    for g in ("input", "hidden", "output", "bias"):
        moved = res.log_values[f"weight_movement_{g}"][last][0]
        if g == "bias":                                                     # starts at 0: NaN ratio
            continue
        assert (moved == 0) if g == frozen else (moved > 1e-3), (g, moved)
    if frozen != "bias":
        free = train_chunk([RunSpec(_setting(), 0)])
        assert free.log_values["train_loss"][-1] != res.log_values["train_loss"][-1]


def test_group_multipliers_scale_each_group_update():
    """One SGD step with unit gradients moves group g by lr * (parametrization x group_lr)."""
    cfg = MLP(depth=3, width=32, base_width=8, parametrization="mup", bias=True)
    params = mlp.init(cfg, [0, 1], (5,), torch.float64)
    groups = mlp.param_groups(cfg)
    ocfg = fl.OptimConfig(name="gd", lr=0.1, group_lr="hidden=0.5")
    hp = {k: torch.full((2,), float(getattr(ocfg, k)), dtype=torch.float64)
          for k in optim.PER_RUN_HPARAMS}
    opt = optim.build_grouped(ocfg, hp, groups, mlp.lr_multipliers(cfg, "gd"))
    grads = {k: torch.ones_like(v) for k, v in params.items()}
    upd, _ = opt.update(grads, opt.init(params), params, 0)
    w = 32 / 8                                                              # width ratio
    expect = {"input": w, "hidden": 0.5, "output": 1 / w, "bias": w}        # Table 3, SGD column
    for k, u in upd.items():
        torch.testing.assert_close(u, torch.full_like(u, -0.1 * expect[groups[k]]))


def test_mup_and_sp_coincide_at_the_base_width():
    s = _setting(**{"model.base_width": 7})
    a = train_chunk([RunSpec(s, 0)])
    b = train_chunk([RunSpec(fl.override(s, {"model.parametrization": "mup"}), 0)])
    np.testing.assert_allclose(a.log_values["test_loss"], b.log_values["test_loss"], rtol=1e-12)


@pytest.mark.parametrize("key,value,field", [
    ("model.width", 0, "model.width"), ("model.activation", "gelu", "model.activation"),
    ("model.kind", "no_such_model", "model.kind"), ("model.depth", 1, "model.depth"),
    ("optim.group_lr", "output", "optim.group_lr"), ("optim.group_lr", "readout=0", "optim.group_lr"),
])
def test_bad_model_inputs_name_their_field(key, value, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        fl.override(_setting(), {key: value})


def test_mixture_data_have_c_classes_and_tasks():
    d = GaussianMixtureData(n=300, d=4, n_classes=4)
    out = DATA["gaussian_mixture"].sample_run(d, 0, 300, "train")
    assert set(out["y"].long().tolist()) == {0, 1, 2, 3}
    assert fl.Setting(data=d, model=MLP()).data.task == "multiclass"


@pytest.mark.parametrize("changes", [{}, {"data.kind": "gaussian_mixture", "model.parametrization": "mup"}])
def test_setting_from_dict_rebuilds_mlp_settings(changes):
    s = _setting(**changes)
    assert fl.config.setting_from_dict(fl.config.to_dict(s)) == s
