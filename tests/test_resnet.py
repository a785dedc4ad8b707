"""The ResNet family (featlab.models.resnet) on the generic torch.func path: a population of P runs
equals P single runs and a per-run nn.Module + torch.optim reference with per-group learning rates
(float64); the branch multiplier and the depth lr rule follow the module's formulas; depth-muP
keeps the forward pass O(1) in depth where the unscaled ResNet grows; bad inputs name their field.
And the depth-transfer analysis on planted optima."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
import torch

import featlab as fl
from featlab.config import ConfigError
from featlab.data import REGISTRY as DATA
from featlab.data.teacher_student import TeacherStudentData
from featlab.models import resnet
from featlab.models.resnet import ResNet
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=TeacherStudentData(n=24, d=5, n_test=40, teacher_width=3),
                   model=ResNet(depth=3, width=6, block_layers=1, branch_alpha=0.5, activation="tanh"),
                   optim=fl.OptimConfig(name="gd", lr=0.2),
                   train=fl.TrainConfig(steps=10, log_points=3, log_schedule="linear", dtype="float64"))
    return fl.override(s, kw) if kw else s


class _Block(torch.nn.Module):
    def __init__(self, layers: list[torch.nn.Linear], beta: float, act):
        super().__init__()
        self.layers, self.beta, self.act = torch.nn.ModuleList(layers), beta, act

    def forward(self, h):
        z = self.act(h)
        for i, lin in enumerate(self.layers):
            z = lin(z)
            if i < len(self.layers) - 1:
                z = self.act(z)
        return h + self.beta * z


def _reference(s: fl.Setting, seed: int) -> dict[int, float]:
    """Train loss before each step: an explicit nn.Module ResNet + torch.optim with param groups."""
    cfg = s.model
    data = DATA[s.data.kind].sample_run(s.data, seed, s.data.n, "train", torch.float64)
    p = {k: v[0] for k, v in resnet.init(cfg, [seed], (s.data.d,), torch.float64).items()}
    act = torch.tanh if cfg.activation == "tanh" else torch.relu
    beta = (cfg.depth / cfg.base_depth) ** -cfg.branch_alpha

    def linear(W):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(W)
        return lin

    emb, out = linear(p["W_in"]), linear(p["W_out"])
    names = ["W"] if cfg.block_layers == 1 else ["U", "V"]
    blocks = [_Block([linear(p[k][l]) for k in names], beta, act) for l in range(cfg.depth)]
    mult = resnet.lr_multipliers(cfg, s.optim.name)
    group = {"W": "hidden", "U": "inner", "V": "hidden"}
    pg = [{"params": [emb.weight], "lr": s.optim.lr * mult["input"]},
          {"params": [out.weight], "lr": s.optim.lr * mult["output"]}]
    for b in blocks:
        for k, lin in zip(names, b.layers):
            pg.append({"params": [lin.weight], "lr": s.optim.lr * mult[group[k]]})
    opt = (torch.optim.Adam(pg, betas=(s.optim.b1, s.optim.b2), eps=s.optim.eps)
           if s.optim.name == "adam" else torch.optim.SGD(pg))
    losses = {}
    for t in range(s.train.steps + 1):
        opt.zero_grad()
        h = emb(data["X"])
        for b in blocks:
            h = b(h)
        loss = torch.nn.functional.mse_loss(out(act(h))[:, 0], data["y"])
        losses[t] = float(loss.detach())
        if t < s.train.steps:
            loss.backward()
            opt.step()
    return losses


@pytest.mark.parametrize("changes", [
    {},
    {"model.block_layers": 2, "model.activation": "relu", "model.inner_lr_exponent": 0.5,
     "model.depth": 4, "model.base_depth": 2},
    {"optim.name": "adam", "optim.lr": 0.02, "model.branch_alpha": 1.0, "model.parametrization": "mup",
     "model.base_width": 3, "model.block_layers": 2},
    {"model.branch_alpha": 0.0, "model.depth_lr": False},
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
        assert ref[s.train.steps] < 0.95 * ref[0]                           # it learned


def test_depth_lr_rule_and_branch_multiplier():
    cfg = ResNet(depth=16, base_depth=4, branch_alpha=0.5, block_layers=2, inner_lr_exponent=1.0)
    assert resnet.branch_multiplier(cfg) == pytest.approx(0.5)             # (16/4)^-1/2
    sgd, adam = resnet.lr_multipliers(cfg, "gd"), resnet.lr_multipliers(cfg, "adam")
    assert sgd["hidden"] == pytest.approx(1.0)                              # 4^(2 alpha - 1) = 1
    assert adam["hidden"] == pytest.approx(0.5)                             # 4^(alpha - 1)
    assert sgd["inner"] == pytest.approx(4.0)                               # x (L/L0)^kappa
    complete = ResNet(depth=16, base_depth=4, branch_alpha=1.0)
    assert resnet.lr_multipliers(complete, "adam")["hidden"] == pytest.approx(1.0)   # CompleteP
    assert resnet.lr_multipliers(complete, "gd")["hidden"] == pytest.approx(4.0)
    off = ResNet(depth=16, base_depth=4, branch_alpha=1.0, depth_lr=False)
    assert resnet.lr_multipliers(off, "gd")["hidden"] == 1.0


def test_depth_mup_keeps_the_forward_pass_order_one_where_unscaled_grows():
    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def scale(alpha, L):
        cfg = ResNet(depth=L, width=256, branch_alpha=alpha, activation="relu")
        p = {k: v[0] for k, v in resnet.init(cfg, [0], (16,), torch.float64).items()}
        return float(resnet.apply(cfg, p, x, taps=True)[1]["hL"].pow(2).mean())

    mup = [scale(0.5, L) for L in (4, 16, 64)]
    raw = [scale(0.0, L) for L in (4, 16, 64)]
    assert max(mup) / min(mup) < 2.0                                        # ~ e^{1/2} bounded
    assert raw[2] / raw[0] > 1e3                                            # (3/2)^L growth


@pytest.mark.parametrize("key,value,field", [
    ("model.depth", 0, "model.depth"), ("model.block_layers", 3, "model.block_layers"),
    ("model.branch_alpha", -1.0, "model.branch_alpha"), ("model.inner_lr_exponent", 1.0, "model.inner_lr_exponent"),
    ("model.activation", "gelu", "model.activation"), ("model.parametrization", "ntk", "model.parametrization"),
])
def test_bad_inputs_name_their_field(key, value, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        fl.override(_setting(), {key: value})


def test_setting_from_dict_rebuilds_resnet_settings():
    s = _setting(**{"model.block_layers": 2})
    assert fl.config.setting_from_dict(fl.config.to_dict(s)) == s


def _planted(best: dict[tuple[float, int], float]) -> pd.DataFrame:
    rows = []
    for (alpha, L), k_best in best.items():
        for k in np.arange(-5.0, 0.01, 0.5):
            for seed in (0, 1):
                rows.append({"model.block_layers": 1, "model.branch_alpha": alpha, "model.depth": L,
                             "log2_lr": k, "seed": seed, "loss": 1.0 + (k - k_best) ** 2})
    return pd.DataFrame(rows)


def test_depth_transfer_rows_on_planted_optima():
    dt = importlib.import_module("featlab.experiments.depth_transfer")
    t = _planted({(0.5, 2): -2.0, (0.5, 16): -2.5, (0.0, 2): -2.0, (0.0, 16): -4.0})
    rows = {r["quantity"]: r for r in dt._rows(t, dt.optima(t), 0.5)}
    passed = [r["passed"] for r in rows.values() if r.get("status") != "reported"]
    assert passed == [True, True, True, True]
    as_unscaled = dt._rows(t, dt.optima(t), 0.0)                            # the control's reading
    assert any(r["passed"] is False for r in as_unscaled)
    edge = _planted({(0.5, 2): -2.0, (0.5, 16): 0.0, (0.0, 2): -2.0, (0.0, 16): -4.0})
    prem = [r for r in dt._rows(edge, dt.optima(edge), 0.5) if r["quantity"].startswith("premise")]
    assert prem[0]["passed"] is False
