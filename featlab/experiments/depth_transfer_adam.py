r"""depth-transfer-adam: under Adam, CompleteP's optimal learning rate stays put across depths; the
unscaled ResNet's shifts.

Papers: Dey et al., "Don't be lazy: CompleteP enables compute-efficient deep transformers" (arXiv
2505.01618): with the residual branches scaled by 1/L (alpha = 1) Adam's learning rate transfers
across depth with no depth correction; Yang, Yu, Zhu, Hayou, "Tensor Programs VI" (arXiv
2310.02244): at depth-muP (branches 1/sqrt(L)) Adam's lr must shrink like L^{-1/2}. The general
rule (branch L^{-alpha}, hidden Adam lr x L^{alpha - 1}) is derived in
:mod:`featlab.models.resnet`; it is featlab's reading of these papers, not checked against their
tables.

Theory (:func:`featlab.models.resnet.predicted_lr_exponent`): an Adam step moves each branch
weight by ~ eta, so each block moves the stream by beta_L eta and the L blocks by L^{1 - alpha}
eta. With the rule (``depth_lr``: branch lr x (L / L_0)^{alpha - 1}) the optimal base lr eta* is
depth-independent for every alpha; CompleteP's rule factor is 1, so it needs none. Without the
rule eta* ~ L^{alpha - 1}: the unscaled net's (alpha = 0) optimum falls by up to one log2 unit
per doubling of L (W_in, W_out and tanh's saturation damp it), depth-muP's by half a unit.

Arms (one-layer blocks B(h) = W phi(h), checked): CompleteP (alpha = 1; the Adam rule's factor
is 1) against the unscaled ResNet (alpha = 0, no rule). Depth-muP (alpha = 1/2) is reported, not
checked, in the paper preset, with and without the Adam rule (branch lr x (L / L_0)^{-1/2}):
while the preset was chosen (CHECKS.md) both variants drifted by 1 log2 unit over 2..32, so a
checked depth-muP row could not tell the rule from its absence. Model:
:mod:`featlab.models.resnet`, width N = 64, tanh, L_0 = 1. Data: depth-transfer's Gaussian
teacher-student regression (d = 16, n = 128, a width-8 tanh teacher, noise 0.1). Full-batch Adam
(b1 0.9, b2 0.999, eps 1e-8) for 15 steps (at 50 steps the nets interpolate and the loss is flat
over 4 log2 units of lr, so the optimum is set by noise; CHECKS.md); quick: depths 2..32 (16x),
log2 lr -11..-2 on a unit grid, 4 seeds; paper: depths 2..64 (32x), log2 lr -12..-2, 8 seeds,
the depth-muP arms, and CompleteP, depth-muP + rule and unscaled also with two-layer blocks
B(h) = V phi(U phi(h)) (reported). Every lr and seed of one (arm, depth) trains as one
population chunk. A diverged run counts as an infinite loss; a depth's optimum is the grid lr of
the lowest seed-mean final training loss (:func:`optima`: mup-width-transfer's, with its
edge-of-grid flag).

Criteria (stated before the paper preset ran; CHECKS.md):
- the depths span >= 8x;
- premise: every run finished (none missing from the store) and, at every CompleteP and unscaled
  optimum (one-layer blocks), the seed-mean final train loss is <= 1/2 of its step-0 value;
- premise: every CompleteP optimum is inside the lr grid, not at its edge (an edge would censor
  its drift); an unscaled optimum at the edge is reported (it can only understate that drift, so
  it cannot make the "> 1" row pass wrongly);
- CompleteP: the optimal log2 lr drifts (max - min over depths) by <= 1 (log2 units, one step of
  the unit grid);
- unscaled (alpha = 0, no rule): it drifts by > 1.
Reported, not counted: every arm's optimal log2 lr per depth, its least-squares slope in log2 L
beside the theory's exponent, its drift; in the paper preset the depth-muP arms and, for
two-layer blocks, the relative movement of the first block's inner features at the optimum
against depth (:func:`featlab.experiments.depth_transfer._inner_movement`).

Negative controls (``featlab falsify depth-transfer-adam``; each must FAIL):
``unscaled-as-treatment`` (the alpha = 0 runs read as CompleteP: its drift row);
``sgd-rule`` (every run's branch lr x L / L_0: CompleteP trained with the SGD rule's factor
L^{2 alpha - 1} = L instead of Adam's 1, which makes its feature update scale like the
unscaled net's: the CompleteP drift row); ``frozen`` (every group's lr multiplier 0 via
``optim.group_lr``, depths 2 and 32: nothing trains, the loss-decrease premise row; the
inner group of the paper's two-layer blocks keeps its lr, the checked rows are one-layer).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from featlab.config import OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments import depth_transfer as dt
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.experiments.mup_width_transfer import optima as transfer_optima
from featlab.models.resnet import ResNet, predicted_lr_exponent
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT", "ARMS", "optima"]

MAX_DRIFT = 1.0        # log2 units = one step of the unit log2 lr grid, allowed for CompleteP
RANGE = 8              # depth range the check needs
LEARNED = 0.5          # premise: loss at the optimum <= LEARNED x loss at step 0
ARMS = {1.0: "CompleteP", 0.5: "depth-muP", 0.0: "unscaled"}
TREATMENT, CONTROL = 1.0, 0.0
_ARM_AXIS = "model.branch_alpha,model.depth_lr"
#: (alpha, depth_lr) of the quick arms: CompleteP (its Adam rule factor is 1) and unscaled, no rule.
QUICK_ARMS = [(1.0, True), (0.0, False)]
#: the paper's arms: also depth-muP with and without the Adam rule (reported).
PAPER_ARMS = [(1.0, True), (0.5, True), (0.5, False), (0.0, False)]
_KEYS = ["model.block_layers", "model.branch_alpha", "model.depth_lr", "model.inner_lr_exponent",
         "model.depth"]


def _setting(steps: int) -> Setting:
    return Setting(
        data=TeacherStudentData(n=128, d=16, n_test=256, teacher_width=8, teacher_activation="tanh",
                                noise=0.1),
        model=ResNet(depth=2, width=64, block_layers=1, branch_alpha=1.0, depth_lr=True,
                     activation="tanh"),
        optim=OptimConfig(name="adam", lr=0.01),
        train=TrainConfig(steps=steps, log_points=2),
    )


def quick() -> Sweep:
    return Sweep(_setting(15), {_ARM_AXIS: QUICK_ARMS, "model.depth": [2, 4, 8, 16, 32],
                                "optim.lr": dt._lrs(-11.0, -2.0, 1.0)}, seeds=4)


def paper() -> Sweep:
    arms = [(1, a, on) for a, on in PAPER_ARMS]
    arms += [(2, a, on) for a, on in PAPER_ARMS if (a, on) != (0.5, False)]
    return Sweep(_setting(15), {"model.block_layers," + _ARM_AXIS: arms,
                                "model.depth": [2, 4, 8, 16, 32, 64], "optim.lr": dt._lrs(-12.0, -2.0, 1.0)},
                 seeds=8)


def _frame(ctx: Context) -> pd.DataFrame:
    """depth-transfer's columns plus the rule flag and each run's loss at step 0."""
    t = ctx.store.table(ctx.sweep_id, [*_KEYS, "optim.lr"])
    t["model.depth"] = t["model.depth"].astype(int)
    t["model.block_layers"] = t["model.block_layers"].astype(int)
    t["model.inner_lr_exponent"] = t["model.inner_lr_exponent"].astype(float)
    t["model.depth_lr"] = t["model.depth_lr"].astype(str) == "True"
    t["log2_lr"] = np.round(np.log2(t["optim.lr"].astype(float)), 6)
    ok = (t["status"] == "done") & np.isfinite(t["train_loss"].astype(float))
    t["loss"] = np.where(ok, t["train_loss"].astype(float), np.inf)
    m = ctx.store.metrics(ctx.sweep_id, ["train_loss"])
    first = m[m["step"] == 0].set_index("run_id")["value"]
    t["loss0"] = t["run_id"].map(first).astype(float)
    return t


def optima(t: pd.DataFrame) -> pd.DataFrame:
    """Per (block_layers, alpha, depth_lr, kappa, depth): mup-width-transfer's optimum of the lr
    curve with its edge flag, plus the seed-mean step-0 loss at that lr (``loss0``)."""
    opt = transfer_optima(t, tuple(_KEYS))
    mean0 = t.groupby([*_KEYS, "log2_lr"])["loss0"].mean()
    opt["loss0"] = [float(mean0.get((*(r[k] for k in _KEYS), r["best_log2_lr"]), np.nan))
                    for _, r in opt.iterrows()]
    return opt


def _arm(opt: pd.DataFrame, blocks: int, alpha: float, rule: bool | None = None) -> pd.DataFrame:
    g = dt._arm(opt, blocks, alpha)
    return g if rule is None else g[g["model.depth_lr"] == rule]


def _rule(on: bool) -> str:
    return "Adam depth rule on" if on else "no depth rule"


def _slope(g: pd.DataFrame) -> float:
    """Least-squares slope of the optimal log2 lr on log2 L (theory: predicted_lr_exponent)."""
    if len(g) < 2:
        return float("nan")
    return float(np.polyfit(np.log2(g["model.depth"].astype(float)), g["best_log2_lr"].astype(float), 1)[0])


def _rows(t: pd.DataFrame, opt: pd.DataFrame, treatment: float = TREATMENT,
          n_expected: int | None = None) -> list[dict]:
    """The check; ``treatment``: the alpha whose runs are read as CompleteP (a control reads 0)."""
    grid = np.sort(t["log2_lr"].unique())
    depths = sorted(t["model.depth"].unique())
    span = depths[-1] / depths[0]
    rows = [check_row("depth range of the sweep", f">= {RANGE}x", f"{span:g}x", span >= RANGE)]
    treat, ctrl = _arm(opt, 1, treatment), _arm(opt, 1, CONTROL, False)
    both = pd.concat([treat, ctrl])
    ratio = (both["best_loss"] / both["loss0"]).to_numpy(float)
    worst = float(np.max(ratio)) if len(ratio) else float("nan")
    missing = (n_expected - len(t)) if n_expected is not None else 0
    rows.append(check_row("premise: every run finished and the loss at each optimum fell to "
                          f"<= {LEARNED:g} x its step-0 value (CompleteP and unscaled, one-layer blocks)",
                          f"0 runs missing, max loss ratio <= {LEARNED:g}",
                          f"{missing} missing, max ratio {worst:.3g}",
                          missing == 0 and bool(np.isfinite(worst)) and worst <= LEARNED))
    edge = treat[treat["edge"]]
    rows.append(check_row("premise: every CompleteP optimum is inside the lr grid (an edge would censor "
                          "its drift)", "0 optima at an edge",
                          ", ".join(f"L = {d}" for d in edge["model.depth"]) or 0,
                          len(edge) == 0 and len(treat) > 0 and len(grid) >= 3))
    d_t = dt._drift(treat)
    label = "CompleteP (alpha = 1)" if treatment == TREATMENT else f"alpha = {treatment:g} (as treatment)"
    rows.append(check_row(f"{label}: drift of the optimal log2 lr over depths (log2 units = grid steps)",
                          f"<= {MAX_DRIFT:g}", d_t, bool(d_t <= MAX_DRIFT)))
    d_un = dt._drift(ctrl)
    rows.append(check_row("unscaled (alpha = 0, no rule): drift of the optimal log2 lr over depths (log2 "
                          "units = grid steps)", f"> {MAX_DRIFT:g}", d_un, bool(d_un > MAX_DRIFT)))
    at_edge = ", ".join(f"L = {d}" for d in ctrl.loc[ctrl["edge"], "model.depth"])
    rows.append(report_row("unscaled: optima at an edge of the lr grid (only understates its drift)",
                           "reported", at_edge or 0))
    log2_span = float(np.log2(span)) if span > 0 else float("nan")
    arms = opt[["model.block_layers", "model.branch_alpha", "model.depth_lr"]].drop_duplicates()
    for blocks, alpha, on in sorted(tuple(a) for a in arms.itertuples(index=False)):
        g = _arm(opt, blocks, alpha, on)
        e = predicted_lr_exponent(ResNet(branch_alpha=float(alpha), depth_lr=bool(on)), "adam")
        name = f"{ARMS.get(alpha, f'alpha = {alpha:g}')}, {blocks}-layer blocks, {_rule(on)}"
        rows.append(report_row(f"{name}: optimal log2 lr per depth; slope in log2 L; drift",
                               f"theory: slope {e:+g}, drift {abs(e) * log2_span:g}",
                               ", ".join(f"{d}: {k:g}" for d, k in zip(g["model.depth"], g["best_log2_lr"]))
                               + f"; slope {_slope(g):+.2f}; drift {dt._drift(g):g}"))
        if blocks == 2:
            rows.append(report_row(f"{name}: first block's inner-feature movement at the optimum",
                                   "Yao et al.: falls with depth at depth-muP",
                                   dt._inner_movement(t, opt, 0.0, alpha)[0]))
    return rows


def analyze(ctx: Context) -> Analysis:
    treatment = float(ctx.theory.get("treatment", TREATMENT))
    t = _frame(ctx)
    opt = optima(t)
    rows = _rows(t, opt, treatment, len(ctx.sweep.runs()))
    fig = dt._figure(t, ctx.out_dir / "depth_transfer_adam.png", ARMS, {True: "rule", False: "no rule"})
    title = "Adam: final training loss vs log2 lr per depth (seed means)"
    return Analysis.from_rows(rows, figures=[(title, fig)],
                              tables=[("Optimal log2 lr per block type, alpha, rule and depth", opt)])


def _sgd_rule(s: Sweep) -> Sweep:
    """Every run's branch (``hidden``) lr x L / L_0 on top of its own rule: CompleteP then trains
    with the SGD rule's factor (L / L_0)^{2 alpha - 1} = L / L_0 instead of Adam's 1."""
    L0 = s.setting.model.base_depth
    grid = tuple(("model.depth,optim.group_lr", tuple((L, f"hidden={L / L0:g}") for L in v))
                 if k == "model.depth" else (k, v) for k, v in s.grid)
    return dataclasses.replace(s, grid=grid)


def _frozen(s: Sweep) -> Sweep:
    """Every group's lr multiplier 0 (nothing trains), at the preset's shallowest and deepest L."""
    depths = dict(s.grid)["model.depth"]
    return s.with_overrides({"optim.group_lr": "input=0,hidden=0,output=0"}).with_grid(
        {"model.depth": [depths[0], depths[-1]]})


EXPERIMENT = Experiment(
    name="depth-transfer-adam",
    paper="Dey et al. Don't be lazy: CompleteP enables compute-efficient deep transformers. arXiv "
          "2505.01618; Yang, Yu, Zhu, Hayou. Tensor Programs VI: Feature Learning in Infinite-Depth "
          "Neural Networks. arXiv 2310.02244",
    figure="loss vs log2 lr across depths under Adam: CompleteP (branch 1/L) vs unscaled (and, in the "
           "paper preset, depth-muP with and without the Adam depth rule)",
    claim="Under Adam, CompleteP's (branch 1/L) loss-minimizing lr moves by at most one log2 grid step "
          "over a 16x depth range; the unscaled ResNet's moves by more.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 400 runs (10 chunks), about 40 s CPU, 2 min wall on 2 shared cores",
    controls=(
        Control("unscaled-as-treatment", "the alpha = 0 runs are read as the treatment: the CompleteP "
                "drift row must fail", theory={"treatment": 0.0}),
        Control("sgd-rule", "CompleteP's branch lr x L / L_0 (the SGD rule's factor L^(2 alpha - 1) "
                "in place of Adam's L^(alpha - 1) = 1; every arm): the CompleteP drift row must fail",
                _sgd_rule),
        Control("frozen", "every group's lr multiplier 0 (optim.group_lr; depths 2 and 32 only): "
                "nothing trains, the loss-decrease premise row must fail", _frozen),
    ),
    criteria=f"PASS iff the depths span >= {RANGE}x, every run finished and the loss at each one-layer "
             f"CompleteP and unscaled optimum fell to <= {LEARNED} x its step-0 value, every CompleteP "
             f"optimum is inside the lr grid, CompleteP's (alpha = 1, Adam rule factor 1) optimal log2 lr "
             f"drifts by <= {MAX_DRIFT:g} over the depths and the unscaled ResNet's (alpha = 0, no rule) "
             f"by > {MAX_DRIFT:g} (unit log2 lr grid; optimum = lowest seed-mean final train loss, "
             f"diverged = infinite).",
)
