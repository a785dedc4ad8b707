"""depth-transfer-adam: the Adam depth rule reaches the right parameter groups of a trained
population (against an nn.Module + torch.optim.Adam reference whose per-group lrs are written out
by hand, float64); the theory's exponents; the check's rows on planted optima (the treatment
passes, each control's reading fails); the controls change what they say they change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import featlab as fl
from featlab.data import REGISTRY as DATA
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments import depth_transfer_adam as dta
from featlab.models import resnet
from featlab.models.resnet import ResNet
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk

LR = 0.01


def _setting(model: ResNet, steps: int = 6) -> fl.Setting:
    return fl.Setting(data=TeacherStudentData(n=24, d=5, n_test=40, teacher_width=3), model=model,
                      optim=fl.OptimConfig(name="adam", lr=LR),
                      train=fl.TrainConfig(steps=steps, log_points=steps + 1, log_schedule="linear",
                                           dtype="float64"))


def _reference(s: fl.Setting, seed: int, lrs: dict[str, float]) -> list[float]:
    """Train loss before each step of an explicit nn.Module ResNet trained by torch.optim.Adam with
    one param group per weight, lr = ``lrs[group]`` (input / inner / hidden / output)."""
    cfg = s.model
    data = DATA[s.data.kind].sample_run(s.data, seed, s.data.n, "train", torch.float64)
    p = {k: v[0].clone().requires_grad_(True) for k, v in resnet.init(cfg, [seed], (s.data.d,), torch.float64).items()}
    act = torch.tanh if cfg.activation == "tanh" else torch.relu
    beta = (cfg.depth / cfg.base_depth) ** -cfg.branch_alpha
    group = {"W_in": "input", "W": "hidden", "U": "inner", "V": "hidden", "W_out": "output"}
    opt = torch.optim.Adam([{"params": [w], "lr": lrs[group[k]]} for k, w in p.items()],
                           betas=(s.optim.b1, s.optim.b2), eps=s.optim.eps)
    losses = []
    for t in range(s.train.steps + 1):
        opt.zero_grad()
        h = data["X"] @ p["W_in"].T
        for l in range(cfg.depth):
            z = act(h) @ (p["W"][l] if cfg.block_layers == 1 else p["U"][l]).T
            if cfg.block_layers == 2:
                z = act(z) @ p["V"][l].T
            h = h + beta * z
        loss = torch.nn.functional.mse_loss((act(h) @ p["W_out"].T)[:, 0], data["y"])
        losses.append(float(loss.detach()))
        if t < s.train.steps:
            loss.backward()
            opt.step()
    return losses


# (model, per-group lrs by hand): L / L_0 = 4. alpha = 1/2, kappa = 1: hidden x 4^(-1/2), inner x a
# further 4^1; alpha = 0 with the rule: hidden x 4^(-1); CompleteP: the rule's factor is 1.
CASES = [
    (ResNet(depth=8, base_depth=2, width=6, block_layers=2, branch_alpha=0.5, inner_lr_exponent=1.0,
            activation="tanh"), {"input": LR, "inner": 2 * LR, "hidden": LR / 2, "output": LR}),
    (ResNet(depth=4, base_depth=1, width=6, block_layers=1, branch_alpha=0.0, activation="tanh"),
     {"input": LR, "hidden": LR / 4, "output": LR}),
    (ResNet(depth=4, base_depth=1, width=6, block_layers=1, branch_alpha=1.0, activation="tanh"),
     {"input": LR, "hidden": LR, "output": LR}),
]


@pytest.mark.parametrize("model,lrs", CASES)
def test_adam_depth_rule_reaches_the_branch_groups_of_a_population(model, lrs):
    s = _setting(model)
    runs = [RunSpec(fl.override(s, {"model.init_scale": 1.0 + 0.2 * i}), i) for i in range(3)]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        rows = pop.log_run == i
        ref = _reference(r.setting, r.seed, lrs)
        ours = pop.log_values["train_loss"][rows]
        np.testing.assert_allclose(ours, [ref[int(t)] for t in pop.log_step[rows]], rtol=1e-10, atol=1e-12)
        assert ref[-1] < 0.95 * ref[0]                                        # it learned
        if len(set(lrs.values())) > 1:                                     # the rule matters here:
            flat = _reference(r.setting, r.seed, dict.fromkeys(lrs, LR))   # one lr for all groups
            assert abs(flat[-1] - ref[-1]) > 1e-6 * ref[-1]


def test_predicted_lr_exponents_under_adam_and_sgd():
    e = resnet.predicted_lr_exponent
    assert e(ResNet(branch_alpha=1.0, depth_lr=True), "adam") == 0.0        # CompleteP
    assert e(ResNet(branch_alpha=1.0, depth_lr=False), "adam") == 0.0       # ... needs no rule
    assert e(ResNet(branch_alpha=0.5, depth_lr=False), "adam") == -0.5      # depth-muP, rule off
    assert e(ResNet(branch_alpha=0.0, depth_lr=False), "adam") == -1.0      # unscaled
    assert e(ResNet(branch_alpha=0.5, depth_lr=False), "gd") == 0.0         # SGD at depth-muP
    assert e(ResNet(branch_alpha=0.0, depth_lr=False), "gd") == -1.0
    assert resnet.depth_lr_exponent(ResNet(branch_alpha=0.5), "adam") == -0.5


def _planted(best: dict[float, dict[int, float]], learned: float = 0.1) -> pd.DataFrame:
    """Loss curves learned x (1 + (k - k*)^2) with step-0 loss 1; the rule on for alpha > 0."""
    rows = []
    for alpha, per_depth in best.items():
        for L, k_best in per_depth.items():
            for k in np.arange(-10.0, 0.01, 1.0):
                for seed in (0, 1):
                    rows.append({"model.block_layers": 1, "model.branch_alpha": alpha,
                                 "model.inner_lr_exponent": 0.0, "model.depth": L,
                                 "model.depth_lr": alpha > 0, "log2_lr": k, "seed": seed,
                                 "loss": learned * (1.0 + (k - k_best) ** 2), "loss0": 1.0})
    return pd.DataFrame(rows)


GOOD = {1.0: {2: -5.0, 16: -6.0}, 0.5: {2: -5.0, 16: -8.0}, 0.0: {2: -4.0, 16: -7.0}}


def _checked(t: pd.DataFrame, treatment: float = 1.0, n: int | None = None) -> list[bool]:
    return [r["passed"] for r in dta._rows(t, dta.optima(t), treatment, n) if r["status"] != "reported"]


def test_rows_on_planted_optima_pass_and_each_reading_of_a_control_fails():
    t = _planted(GOOD)
    assert _checked(t, 1.0, len(t)) == [True] * 5          # range, 2 premises, CompleteP, unscaled
    assert _checked(t, 0.0, len(t)) == [True, True, True, False, True]      # unscaled-as-treatment
    sgd = _planted({**GOOD, 1.0: {2: -5.0, 16: -8.0}})                     # sgd-rule's signature
    assert _checked(sgd) == [True, True, True, False, True]
    assert _checked(_planted(GOOD, learned=1.0))[1] is False               # frozen: loss did not fall
    assert _checked(t, 1.0, len(t) + 1)[1] is False                        # a run is missing
    edge = _planted({**GOOD, 1.0: {2: -5.0, 16: 0.0}})
    assert _checked(edge)[2] is False                                      # CompleteP at the edge
    low = _planted({**GOOD, 0.0: {2: -4.0, 16: -10.0}})                    # unscaled at the edge:
    assert _checked(low) == [True] * 5                                      # reported, not censoring
    rows = {r["quantity"]: r for r in dta._rows(t, dta.optima(t))}
    mu = [r for q, r in rows.items() if q.startswith("depth-muP, 1-layer")]
    assert len(mu) == 1 and mu[0]["status"] == "reported" and "drift 3" in mu[0]["measured"]
    assert "theory: slope +0" in mu[0]["claim"]                            # rule on: flat


def test_controls_change_what_they_say():
    quick = dta.quick()
    ctl = {c.name: c for c in dta.EXPERIMENT.controls}
    assert {(r.setting.model.branch_alpha, r.setting.model.depth_lr) for r in quick.runs()} == set(dta.QUICK_ARMS)
    sgd = ctl["sgd-rule"].sweep(quick)
    assert len(sgd.runs()) == len(quick.runs())
    for r in sgd.runs():                                   # every run's branch lr x L / L_0 ...
        m = r.setting.model
        hidden = resnet.lr_multipliers(m, "adam")["hidden"] * fl.config.group_lr_multipliers(
            r.setting.optim.group_lr)["hidden"]
        assert hidden == pytest.approx(m.depth / m.base_depth)
        if m.branch_alpha == 1.0:                          # ... = CompleteP under the SGD rule
            assert hidden == pytest.approx(resnet.lr_multipliers(m, "gd")["hidden"])
    frozen = ctl["frozen"].sweep(quick)
    assert {r.setting.optim.group_lr for r in frozen.runs()} == {"input=0,hidden=0,output=0"}
    assert {r.setting.model.depth for r in frozen.runs()} == {2, 32}
    paper = dict(dta.paper().grid)                         # (the grid: its 3696 runs are slow to list)
    assert paper["model.depth"] == (2, 4, 8, 16, 32, 64)
    assert set(paper["model.block_layers,model.branch_alpha,model.depth_lr"]) == {
        (1, 1.0, True), (1, 0.5, True), (1, 0.5, False), (1, 0.0, False),
        (2, 1.0, True), (2, 0.5, True), (2, 0.0, False)}
    zipped = dict(ctl["sgd-rule"].sweep(dta.paper()).grid)["model.depth,optim.group_lr"]
    assert zipped == tuple((L, f"hidden={L}") for L in (2, 4, 8, 16, 32, 64))
