r"""depth-transfer: depth-muP's optimal learning rate stays put across depths; the unscaled ResNet's shifts.

Papers: Yang, Yu, Zhu, Hayou, "Tensor Programs VI: Feature Learning in Infinite-Depth Neural
Networks" (arXiv 2310.02244) and Bordelon, Noci, Li, Hanin, Pehlevan, "Depthwise Hyperparameter
Transfer in Residual Networks" (arXiv 2309.16620): with the residual branches scaled by 1/sqrt(L)
(depth-muP) the loss-vs-lr curves of SGD line up across depths, while an unscaled ResNet's
optimum moves. Yao, Wu, Gao 2025 (arXiv 2512.21075) report that with two-layer blocks depth-muP
loses feature learning in each block's first internal layer as L grows.

Model: :mod:`featlab.models.resnet`, h^l = h^{l-1} + L^{-alpha} B_l(h^{l-1}), width N = 64, tanh,
one-layer blocks B(h) = W phi(h) (checked) and two-layer blocks B(h) = V phi(U phi(h)) (reported),
alpha = 1/2 (depth-muP) against alpha = 0 (unscaled); no depth lr rule (``depth_lr = False``: for
SGD at alpha = 1/2 the rule is 1 anyway). Data: the Gaussian teacher-student regression of
mup-width-transfer (d = 16, n = 128, a width-8 tanh teacher, noise 0.1); full-batch GD, 50 steps
(quick) / 100 (paper); depths 2..32 (16x, quick, one-layer blocks only, 4 seeds) or 2..64 (32x,
paper, both block types, 4 seeds); log2 lr on a half-step grid (quick) / unit grid (paper). Every lr and seed of one (depth, arm) trains as one population chunk. A diverged run
counts as an infinite loss; the optimum of a depth is the grid lr of the lowest seed-mean final
training loss (:func:`optima`).

Criteria (stated before the paper preset ran; CHECKS.md):
- the depths span >= 8x;
- premise: every checked optimum (one-layer blocks, both arms) is inside the lr grid, not at its
  edge (an edge optimum would censor the drift);
- depth-muP (alpha = 1/2, one-layer blocks): the optimal log2 lr drifts (max - min over depths)
  by <= 1 grid step;
- unscaled (alpha = 0, one-layer blocks): it drifts by > 1 grid step.
Reported, not counted: the two-layer blocks' drift under depth-muP, and the relative movement of
the first block's inner features, mean |u_T - u_0| / mean |u_0| at the optimal lr, against depth
(its log-log slope: negative = the collapse Yao et al. describe); in the paper preset also for
featlab's inner-layer correction (the inner layers' lr x (L / L_0)^kappa, kappa = 1/2, 1;
:mod:`featlab.models.resnet`): which kappa keeps the drift and the inner movement flat is the
measured answer to "which correction restores transfer" (reported: the correction is featlab's
hypothesis, not a verified rule of Yao et al.).

Negative controls (``featlab falsify depth-transfer``; each must FAIL):
``unscaled-as-treatment`` (the alpha = 0 runs read as the treatment: the depth-muP drift row);
``shallow-range`` (depths 2 and 4 only: the range row and the unscaled-drift row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.experiments.mup_width_transfer import optima as transfer_optima, plot_lr_curves
from featlab.models.resnet import ResNet
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT", "optima"]

MAX_DRIFT = 1.0        # log2 units (a factor 2 in lr) allowed for depth-muP
RANGE = 8              # depth range the check needs
ARMS = {0.5: "depth-muP", 0.0: "unscaled"}


def _setting(steps: int) -> Setting:
    return Setting(
        data=TeacherStudentData(n=128, d=16, n_test=256, teacher_width=8, teacher_activation="tanh",
                                noise=0.1),
        model=ResNet(depth=2, width=64, block_layers=1, branch_alpha=0.5, depth_lr=False,
                     activation="tanh"),
        optim=OptimConfig(name="gd", lr=0.1),
        train=TrainConfig(steps=steps, log_points=2),
    )


def _lrs(lo: float, hi: float, step: float = 0.5) -> list[float]:
    """2^k for k = lo, lo + step, ..., hi (a log2 grid at ``step`` resolution)."""
    return [round(2.0 ** (lo + step * i), 10) for i in range(int(round((hi - lo) / step)) + 1)]


def quick() -> Sweep:
    return Sweep(_setting(50), {"model.branch_alpha": [0.0, 0.5], "model.depth": [2, 4, 8, 16, 32],
                                "optim.lr": _lrs(-5.5, -0.5)}, seeds=4)


#: (block_layers, alpha, kappa) arms of the paper preset: one- and two-layer blocks unscaled and at
#: depth-muP, and depth-muP two-layer blocks with featlab's inner-layer lr correction kappa = 1/2, 1.
PAPER_ARMS = [(1, 0.0, 0.0), (1, 0.5, 0.0), (2, 0.0, 0.0), (2, 0.5, 0.0), (2, 0.5, 0.5), (2, 0.5, 1.0)]


def paper() -> Sweep:
    return Sweep(_setting(100), {"model.block_layers,model.branch_alpha,model.inner_lr_exponent": PAPER_ARMS,
                                 "model.depth": [2, 4, 8, 16, 32, 64], "optim.lr": _lrs(-8, 1)},
                 seeds=4)


_KEYS = ["model.block_layers", "model.branch_alpha", "model.inner_lr_exponent", "model.depth"]


def _frame(ctx: Context) -> pd.DataFrame:
    t = ctx.store.table(ctx.sweep_id, [*_KEYS, "optim.lr"])
    t["model.depth"] = t["model.depth"].astype(int)
    t["model.block_layers"] = t["model.block_layers"].astype(int)
    t["model.inner_lr_exponent"] = t["model.inner_lr_exponent"].astype(float)
    t["log2_lr"] = np.round(np.log2(t["optim.lr"].astype(float)), 6)
    ok = (t["status"] == "done") & np.isfinite(t["train_loss"].astype(float))
    t["loss"] = np.where(ok, t["train_loss"].astype(float), np.inf)
    return t


def optima(t: pd.DataFrame) -> pd.DataFrame:
    """Per (block_layers, alpha, kappa, depth): mup-width-transfer's optimum of the lr curve
    (:func:`featlab.experiments.mup_width_transfer.optima`); kappa = 0 where not logged."""
    if "model.inner_lr_exponent" not in t:
        t = t.assign(**{"model.inner_lr_exponent": 0.0})
    return transfer_optima(t, tuple(_KEYS))


def _arm(opt: pd.DataFrame, blocks: int, alpha: float, kappa: float = 0.0) -> pd.DataFrame:
    return opt[(opt["model.block_layers"] == blocks) & np.isclose(opt["model.branch_alpha"], alpha)
               & np.isclose(opt["model.inner_lr_exponent"], kappa)]


def _drift(g: pd.DataFrame) -> float:
    """max - min of the optimal log2 lr over depths (log2 units)."""
    return float(g["best_log2_lr"].max() - g["best_log2_lr"].min()) if len(g) else float("nan")


def _inner_movement(t: pd.DataFrame, opt: pd.DataFrame, kappa: float = 0.0,
                    alpha: float = 0.5) -> tuple[str, float]:
    """Two-layer blocks, branch exponent ``alpha`` (default depth-muP), inner correction kappa:
    relative movement of the first block's inner features at each depth's optimal lr, and its
    log-log slope in depth (depth-transfer-adam calls it for its other alphas)."""
    col, base = "feature_movement_inner1", "act_scale_inner1"
    g = _arm(opt, 2, alpha, kappa)
    if col not in t or base not in t or g.empty:
        return f"no two-layer alpha = {alpha:g} runs", float("nan")
    pts = []
    for _, r in g.iterrows():
        s = t[(t["model.block_layers"] == 2) & np.isclose(t["model.branch_alpha"], alpha)
              & np.isclose(t["model.inner_lr_exponent"], kappa) & (t["model.depth"] == r["model.depth"]) & (t["log2_lr"] == r["best_log2_lr"])]
        rel = (s[col].astype(float) / s[base].astype(float)).mean()
        pts.append((int(r["model.depth"]), float(rel)))
    pts.sort()
    L, m = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts])
    ok = np.isfinite(m) & (m > 0)
    slope = float(np.polyfit(np.log(L[ok]), np.log(m[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    return ", ".join(f"L = {int(a)}: {b:.3g}" for a, b in pts) + f"; slope {slope:+.2f}", slope


def _rows(t: pd.DataFrame, opt: pd.DataFrame, treatment: float) -> list[dict]:
    grid = np.sort(t["log2_lr"].unique())
    depths = sorted(t["model.depth"].unique())
    span = depths[-1] / depths[0]
    rows = [check_row("depth range of the sweep", f">= {RANGE}x", f"{span:g}x", span >= RANGE)]
    checked = opt[opt["model.block_layers"] == 1]
    edge = checked[checked["edge"]]
    rows.append(check_row("premise: every optimal lr is inside the lr grid (one-layer blocks)",
                          "0 optima at an edge",
                          ", ".join(f"alpha {a:g} L = {d}" for a, d in zip(edge["model.branch_alpha"],
                                                                         edge["model.depth"])) or 0,
                          len(edge) == 0 and len(grid) >= 3))
    d_mu, d_un = _drift(_arm(opt, 1, treatment)), _drift(_arm(opt, 1, 0.0))
    label = "depth-muP" if treatment == 0.5 else f"alpha = {treatment:g} (as treatment)"
    rows.append(check_row(f"{label}: drift of the optimal log2 lr over depths (log2 units)",
                          f"<= {MAX_DRIFT:g}", d_mu, bool(d_mu <= MAX_DRIFT)))
    rows.append(check_row("unscaled (alpha = 0): drift of the optimal log2 lr over depths (log2 units)",
                          f"> {MAX_DRIFT:g}", d_un, bool(d_un > MAX_DRIFT)))
    for blocks in (1, 2):
        for alpha, name in ARMS.items():
            g = _arm(opt, blocks, alpha)
            if len(g):
                rows.append(report_row(f"{name}, {blocks}-layer blocks: optimal log2 lr per depth",
                                       "flat under depth-muP", ", ".join(
                                           f"{d}: {k:g}" for d, k in zip(g["model.depth"], g["best_log2_lr"]))))
    for kappa in sorted(opt.loc[opt["model.block_layers"] == 2, "model.inner_lr_exponent"].unique()):
        g = _arm(opt, 2, 0.5, kappa)
        if not len(g):
            continue
        tag = "" if kappa == 0 else f", inner lr x (L/L_0)^{kappa:g} (featlab's correction)"
        rows.append(report_row(f"depth-muP, 2-layer blocks{tag}: drift (log2 units)",
                               "Yao et al.: transfer degrades; a correction should restore it", _drift(g)))
        rows.append(report_row(f"depth-muP, 2-layer blocks{tag}: first block's inner-feature movement at "
                               "the optimum", "falls with depth (Yao et al.'s collapse)",
                               _inner_movement(t, opt, kappa)[0]))
    return rows


def _figure(t: pd.DataFrame, path, names: dict[float, str] | None = None,
            rule: dict[bool, str] | None = None):
    """One panel per (block_layers, alpha, kappa): seed-mean final loss vs log2 lr, one curve per
    depth; ``names`` {alpha: arm name} for the titles (default :data:`ARMS`); ``rule`` {flag:
    label}: one panel per ``model.depth_lr`` value as well (depth-transfer-adam)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["model.block_layers", "model.branch_alpha", "model.inner_lr_exponent"]
    keys = t[cols + (["model.depth_lr"] if rule else [])].drop_duplicates()
    arms = sorted(tuple(r) for r in keys.itertuples(index=False))
    fig, axes = plt.subplots(1, len(arms), figsize=(3.2 * len(arms), 3.3), sharey=True, squeeze=False)
    depths = sorted(t["model.depth"].unique())
    for ax, (b, a, kappa, *on) in zip(axes[0], arms):
        g = t[(t["model.block_layers"] == b) & np.isclose(t["model.branch_alpha"], a)
              & np.isclose(t["model.inner_lr_exponent"], kappa)]
        if on:
            g = g[g["model.depth_lr"] == on[0]]
        plot_lr_curves(ax, g, "model.depth", depths, "L = {}")
        ax.set_title(f"{(names or ARMS).get(a, a)}, {b}-layer blocks" + (f", kappa {kappa:g}" if kappa else "")
                     + (f", {rule[on[0]]}" if on else ""), fontsize=9)
    axes[0][0].set_ylabel("final train loss (diverged omitted)")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=140, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def analyze(ctx: Context) -> Analysis:
    treatment = float(ctx.theory.get("treatment", 0.5))
    t = _frame(ctx)
    opt = optima(t)
    rows = _rows(t, opt, treatment)
    fig = _figure(t, ctx.out_dir / "depth_transfer.png")
    return Analysis.from_rows(rows, figures=[("Final training loss vs log2 lr per depth (seed means)", fig)],
                              tables=[("Optimal log2 lr per block type, alpha and depth", opt)])


EXPERIMENT = Experiment(
    name="depth-transfer",
    paper="Yang, Yu, Zhu, Hayou. Tensor Programs VI: Feature Learning in Infinite-Depth Neural "
          "Networks. arXiv 2310.02244; Bordelon et al. Depthwise Hyperparameter Transfer in "
          "Residual Networks. arXiv 2309.16620",
    figure="loss vs log2 lr across depths, depth-muP (branch 1/sqrt L) vs unscaled",
    claim="With branches scaled by 1/sqrt(L), SGD's loss-minimizing lr moves by at most one log2 "
          "grid step over an 8x depth range; without the scaling it moves by more.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 440 runs (10 chunks), about 1 min on 2 CPU cores",
    controls=(
        Control("unscaled-as-treatment", "the alpha = 0 runs are read as the treatment: the "
                "depth-muP drift row must fail", theory={"treatment": 0.0}),
        Control("shallow-range", "depths 2 and 4 only: the range row and the unscaled-drift row "
                "must fail", lambda s: s.with_grid({"model.depth": [2, 4]})),
    ),
    criteria=f"PASS iff the depths span >= {RANGE}x, every one-layer-block optimum is inside the lr "
             f"grid, depth-muP's (alpha = 1/2) optimal log2 lr drifts by <= {MAX_DRIFT} grid step over "
             f"the depths and the unscaled ResNet's (alpha = 0) by > {MAX_DRIFT} (optimum = lowest "
             f"seed-mean final train loss, diverged = infinite).",
)
