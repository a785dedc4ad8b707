r"""depth-transfer-adam: under Adam, CompleteP's optimal learning rate stays put across depths, and so
does depth-muP's with the Adam depth rule; the unscaled ResNet's shifts.

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

Arms (one-layer blocks B(h) = W phi(h), checked): CompleteP (alpha = 1, rule on), depth-muP +
Adam rule (alpha = 1/2, branch lr x (L / L_0)^{-1/2}), unscaled (alpha = 0, no rule). Model:
:mod:`featlab.models.resnet`, width N = 64, tanh, L_0 = 1. Data: depth-transfer's Gaussian
teacher-student regression (d = 16, n = 128, a width-8 tanh teacher, noise 0.1). Full-batch Adam
(b1 0.9, b2 0.999, eps 1e-8); quick: 50 steps, depths 2..32 (16x), 4 seeds, log2 lr on the grid
below; paper: 100 steps, depths 2..64 (32x, 4 seeds) and the same three arms also with two-layer
blocks B(h) = V phi(U phi(h)) (reported). Every lr and seed of one (arm, depth) trains as one
population chunk. A diverged run counts as an infinite loss; a depth's optimum is the grid lr of
the lowest seed-mean final training loss (:func:`featlab.experiments.depth_transfer.optima`, with
mup-width-transfer's edge-of-grid flag).

Criteria (stated before the paper preset ran; CHECKS.md):
- the depths span >= 8x;
- premise: every run finished (none missing from the store) and, at every checked optimum, the
  seed-mean final train loss is <= 1/2 of the seed-mean loss at step 0 (the nets learned);
- premise: every checked optimum (one-layer blocks, all three arms) is inside the lr grid, not at
  its edge (an edge optimum would censor the drift);
- CompleteP: the optimal log2 lr drifts (max - min over depths) by <= 1 (log2 units);
- depth-muP + the Adam rule: it drifts by <= 1;
- unscaled (alpha = 0, no rule): it drifts by > 1.
Reported, not counted: each arm's optimal log2 lr per depth, its least-squares slope in log2 L
beside the theory's exponent; in the paper preset the two-layer blocks' drift and the relative
movement of the first block's inner features at the optimum against depth.

Negative controls (``featlab falsify depth-transfer-adam``; each must FAIL):
``unscaled-as-treatment`` (the alpha = 0 runs read as both treatments: the CompleteP and
depth-muP drift rows); ``rule-off`` (depth-muP trained without the Adam rule, whose lr is then
too large by sqrt(L): its drift row); ``frozen`` (every group's lr multiplier 0 via
``optim.group_lr``: nothing trains, the loss-decrease premise row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments import depth_transfer as dt
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.models.resnet import ResNet, predicted_lr_exponent
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT", "ARMS"]

MAX_DRIFT = 1.0        # log2 units (a factor 2 in lr) allowed for the treatments
RANGE = 8              # depth range the check needs
LEARNED = 0.5          # premise: loss at the optimum <= LEARNED x loss at step 0
ARMS = {1.0: "CompleteP", 0.5: "depth-muP", 0.0: "unscaled"}
TREATMENTS = (1.0, 0.5)
CONTROL = 0.0
_ARM_AXIS = "model.branch_alpha,model.depth_lr"
#: (alpha, depth_lr) of the three arms: CompleteP and depth-muP with the Adam rule, unscaled without.
QUICK_ARMS = [(1.0, True), (0.5, True), (0.0, False)]


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
    return Sweep(_setting(50), {_ARM_AXIS: QUICK_ARMS, "model.depth": [2, 4, 8, 16, 32],
                                "optim.lr": dt._lrs(-11.0, 0.0, 1.0)}, seeds=2)


#: (block_layers, alpha, depth_lr) arms of the paper preset: the quick arms, with one- and
#: two-layer blocks.
PAPER_ARMS = [(b, a, on) for b in (1, 2) for a, on in QUICK_ARMS]


def paper() -> Sweep:
    return Sweep(_setting(100), {"model.block_layers," + _ARM_AXIS: PAPER_ARMS,
                                 "model.depth": [2, 4, 8, 16, 32, 64], "optim.lr": dt._lrs(-12.0, 0.0, 1.0)},
                 seeds=4)


def _frame(ctx: Context) -> pd.DataFrame:
    """depth-transfer's frame plus the rule flag and each run's loss at step 0."""
    t = ctx.store.table(ctx.sweep_id, [*dt._KEYS, "model.depth_lr", "optim.lr"])
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


def _rule(t: pd.DataFrame, alpha: float, blocks: int = 1) -> str:
    on = t.loc[(t["model.block_layers"] == blocks) & np.isclose(t["model.branch_alpha"], alpha),
               "model.depth_lr"].unique()
    return "/".join("rule on" if v else "rule off" for v in sorted(on)) or "no runs"


def _slope(g: pd.DataFrame) -> float:
    """Least-squares slope of the optimal log2 lr on log2 L (theory: predicted_lr_exponent)."""
    if len(g) < 2:
        return float("nan")
    return float(np.polyfit(np.log2(g["model.depth"].astype(float)), g["best_log2_lr"].astype(float), 1)[0])


def _rows(t: pd.DataFrame, opt: pd.DataFrame, treatment: float | None = None,
          n_expected: int | None = None) -> list[dict]:
    """The check. ``treatment``: an alpha read in place of both treatments (the control)."""
    grid = np.sort(t["log2_lr"].unique())
    depths = sorted(t["model.depth"].unique())
    span = depths[-1] / depths[0]
    rows = [check_row("depth range of the sweep", f">= {RANGE}x", f"{span:g}x", span >= RANGE)]
    checked = opt[opt["model.block_layers"] == 1]
    curve = t[t["model.block_layers"] == 1].groupby(["model.branch_alpha", "model.depth", "log2_lr"])
    mean0 = curve["loss0"].mean()
    ratio = [float(r["best_loss"] / mean0.get((r["model.branch_alpha"], r["model.depth"], r["best_log2_lr"]),
                                              np.nan)) for _, r in checked.iterrows()]
    worst = max(ratio) if ratio else float("nan")
    missing = (n_expected - len(t)) if n_expected is not None else 0
    rows.append(check_row("premise: every run finished and the loss at each optimum fell to <= "
                          f"{LEARNED:g} x its step-0 value (one-layer blocks)",
                          f"0 runs missing, max loss ratio <= {LEARNED:g}",
                          f"{missing} missing, max ratio {worst:.3g}",
                          missing == 0 and bool(np.isfinite(worst)) and worst <= LEARNED))
    edge = checked[checked["edge"]]
    rows.append(check_row("premise: every optimal lr is inside the lr grid (one-layer blocks)",
                          "0 optima at an edge",
                          ", ".join(f"{ARMS.get(a, a)} L = {d}" for a, d in zip(edge["model.branch_alpha"],
                                                                              edge["model.depth"])) or 0,
                          len(edge) == 0 and len(grid) >= 3))
    for alpha in TREATMENTS:
        read = alpha if treatment is None else treatment
        d = dt._drift(dt._arm(opt, 1, read))
        label = f"{ARMS[alpha]} (alpha = {alpha:g}, {_rule(t, read)})"
        if read != alpha:
            label += f", the alpha = {read:g} runs read as it"
        rows.append(check_row(f"{label}: drift of the optimal log2 lr over depths (log2 units)",
                              f"<= {MAX_DRIFT:g}", d, bool(d <= MAX_DRIFT)))
    d_un = dt._drift(dt._arm(opt, 1, CONTROL))
    rows.append(check_row(f"unscaled (alpha = 0, {_rule(t, CONTROL)}): drift of the optimal log2 lr over "
                          "depths (log2 units)", f"> {MAX_DRIFT:g}", d_un, bool(d_un > MAX_DRIFT)))
    log2_span = float(np.log2(span)) if span > 0 else float("nan")
    for blocks in (1, 2):
        for alpha, name in ARMS.items():
            g = dt._arm(opt, blocks, alpha)
            if not len(g):
                continue
            on = bool(t.loc[np.isclose(t["model.branch_alpha"], alpha), "model.depth_lr"].iloc[0])
            e = predicted_lr_exponent(ResNet(branch_alpha=alpha, depth_lr=on), "adam")
            rows.append(report_row(f"{name}, {blocks}-layer blocks ({_rule(t, alpha, blocks)}): optimal "
                                   "log2 lr per depth; slope in log2 L",
                                   f"theory: slope {e:+g}, drift {abs(e) * log2_span:g}",
                                   ", ".join(f"{d}: {k:g}" for d, k in zip(g["model.depth"], g["best_log2_lr"]))
                                   + f"; slope {_slope(g):+.2f}"))
            if blocks == 2:
                rows.append(report_row(f"{name}, 2-layer blocks: drift (log2 units)",
                                       "flat where the rule holds", dt._drift(g)))
                rows.append(report_row(f"{name}, 2-layer blocks: first block's inner-feature movement "
                                       "at the optimum", "Yao et al.: falls with depth at depth-muP",
                                       dt._inner_movement(t, opt, 0.0, alpha)[0]))
    return rows


def analyze(ctx: Context) -> Analysis:
    treatment = ctx.theory.get("treatment")
    t = _frame(ctx)
    opt = dt.optima(t)
    rows = _rows(t, opt, None if treatment is None else float(treatment), len(ctx.sweep.runs()))
    fig = dt._figure(t, ctx.out_dir / "depth_transfer_adam.png", ARMS)
    return Analysis.from_rows(rows, figures=[("Adam: final training loss vs log2 lr per depth (seed means)", fig)],
                              tables=[("Optimal log2 lr per block type, alpha and depth", opt)])


def _rule_off(s: Sweep) -> Sweep:
    """The preset with depth-muP's (alpha = 1/2) depth rule switched off, every other arm kept."""
    axis, arms = next((k, v) for k, v in s.grid if k.endswith(_ARM_AXIS))
    return s.with_grid({axis: [(*a[:-1], False) if a[-2] == 0.5 else a for a in arms]})


EXPERIMENT = Experiment(
    name="depth-transfer-adam",
    paper="Dey et al. Don't be lazy: CompleteP enables compute-efficient deep transformers. arXiv "
          "2505.01618; Yang, Yu, Zhu, Hayou. Tensor Programs VI: Feature Learning in Infinite-Depth "
          "Neural Networks. arXiv 2310.02244",
    figure="loss vs log2 lr across depths under Adam: CompleteP (branch 1/L), depth-muP with the "
           "Adam depth rule, unscaled",
    claim="Under Adam, CompleteP's loss-minimizing lr, and depth-muP's with the branch lr x L^-1/2, "
          "move by at most one log2 unit over an 8x or larger depth range; the unscaled ResNet's moves "
          "by more.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: (to be measured)",
    controls=(
        Control("unscaled-as-treatment", "the alpha = 0 runs are read as both treatments: the "
                "CompleteP and depth-muP drift rows must fail", theory={"treatment": 0.0}),
        Control("rule-off", "depth-muP trained without the Adam depth rule (its lr too large by "
                "sqrt(L)): its drift row must fail", _rule_off),
        Control("frozen", "every group's lr multiplier 0 (optim.group_lr): nothing trains, the "
                "loss-decrease premise row must fail",
                lambda s: s.with_overrides({"optim.group_lr": "input=0,hidden=0,output=0"})),
    ),
    criteria=f"PASS iff the depths span >= {RANGE}x, every run finished and each one-layer optimum's "
             f"loss fell to <= {LEARNED} x its step-0 value, every one-layer optimum is inside the lr "
             f"grid, CompleteP's (alpha = 1) and depth-muP-with-the-Adam-rule's (alpha = 1/2) optimal "
             f"log2 lr drift by <= {MAX_DRIFT} over the depths and the unscaled ResNet's (alpha = 0, "
             f"no rule) by > {MAX_DRIFT} (optimum = lowest seed-mean final train loss, diverged = "
             f"infinite).",
)
