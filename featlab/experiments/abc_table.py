r"""abc-table: SP, NTK, muP and mean field as rows of one table, each row's r measured.

Paper: Yang & Hu, "Tensor Programs IV: Feature Learning in Infinite-Width Neural Networks",
arXiv 2011.14522 (Def. 3.2: r; Thm 3.3: stability; Thm 3.5: feature learning iff r = 0, kernel
regime iff r > 0). Formulas and the named rows: :mod:`featlab.theory.abc`.

Claim: after a few SGD steps the hidden features move by Delta h^L = Theta(n^{-r}): not at all in
the limit in the kernel regime (NTK, r = 1/2), by Theta(1) under muP and mean field (r = 0), and
without bound under SP at a width-independent lr (r = -1, unstable; for L >= 2 hidden layers).

Setting: Gaussian teacher-student regression (d = 16, n = 256, a width-4 tanh teacher), a ReLU
MLP with L = 2 hidden layers, no biases, full-batch GD with lr 0.05 at the base width N_0 = 64,
T = 3 steps; widths 64..1024 (quick, 3 seeds) or 64..4096 (paper, 5 seeds); rows sp, ntk, mup, mf
(model.parametrization; all equal at N_0). A user row: ``--set model.parametrization=abc --set
"model.abc=a=..;b=..;c=.."`` (or ``--set model.parametrization=ntk``) trains that row alone; an
unstable explicit row is refused before training (its r and the failed condition are in the
message). The table lists every named row's theory beside what was measured.

Measured: q = mean |h^L_T - h^L_0| (probe ``feature_movement``, last hidden layer, step T) and its
width exponent s (log-log slope per seed; mean +- SE over seeds; :mod:`.width_scaling`).

Check: every run finishes (premise); for each trained stable row |s - (-r)| <= 0.15 + 2 SE; for
each trained unstable row s >= 0.25 (the features grow with width). Measured (quick, ``featlab falsify
abc-table``): sp +1.11 +- 0.07, ntk -0.55 +- 0.07, mup and mf -0.085 +- 0.063 (identical: mf is
muP shifted by the TP IV symmetry).

Controls (each must FAIL): the theory fed to the check shifted to r + 1/2 (every stable row
misses); the input and hidden layers frozen (optim.group_lr=input=0,hidden=0: the features
cannot move, q = 0, no exponent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import MLP, OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.experiments.width_scaling import WidthSweep, width_slopes
from featlab.models.mlp import exponents
from featlab.theory.abc import NAMED, classify, named

__all__ = ["EXPERIMENT"]

BASE_WIDTH = 64
STEPS = 3
TOL = 0.15            # band on |s + r| on top of 2 SE
GROWS = 0.25          # an unstable row's exponent must reach this


def _setting() -> Setting:
    return Setting(
        data=TeacherStudentData(n=256, d=16, n_test=64, teacher_width=4, teacher_activation="tanh",
                                noise=0.1),
        model=MLP(depth=3, width=BASE_WIDTH, activation="relu", base_width=BASE_WIDTH),
        optim=OptimConfig(name="gd", lr=0.05),
        train=TrainConfig(steps=STEPS, log_points=STEPS + 1, log_schedule="linear"),
    )


def quick() -> WidthSweep:
    return WidthSweep(_setting(), {"model.parametrization": ["sp", "ntk", "mup", "mf"],
                                   "model.width": [64, 128, 256, 512, 1024]}, seeds=3)


def paper() -> WidthSweep:
    return WidthSweep(_setting(), {"model.parametrization": ["sp", "ntk", "mup", "mf"],
                                   "model.width": [64, 128, 256, 512, 1024, 2048, 4096]}, seeds=5)


def _row_key(par: str, abc: str) -> str:
    return f"abc[{abc}]" if par == "abc" else par


def _frame(ctx: Context) -> tuple[pd.DataFrame, int]:
    """One row per run: parametrization, abc, width, seed, status, q at the final step."""
    depth = ctx.sweep.setting.model.depth
    t = ctx.store.table(ctx.sweep_id, ["model.width", "model.parametrization", "model.abc"])
    if "model.parametrization" not in t:
        t["model.parametrization"] = ctx.sweep.setting.model.parametrization
    if "model.abc" not in t:
        t["model.abc"] = ctx.sweep.setting.model.abc
    t["model.abc"] = t["model.abc"].fillna("")
    name = f"feature_movement_h{depth - 1}"
    m = ctx.store.metrics(ctx.sweep_id, [name])
    m = m[m["step"] == m.groupby("run_id")["step"].transform("max")]
    t = t.join(m.set_index("run_id")["value"].rename("q"), on="run_id")
    t["model.width"] = t["model.width"].astype(int)
    t["row"] = [_row_key(p, a) for p, a in zip(t["model.parametrization"], t["model.abc"])]
    return t, depth


def _theory(par: str, abc: str, depth: int, shift: float) -> dict:
    row = classify(exponents(MLP(depth=depth, parametrization=par, abc=abc)))
    return {**row, "r": row["r"] + shift}


def _rows(t: pd.DataFrame, depth: int, shift: float) -> tuple[list[dict], pd.DataFrame]:
    n_bad = int((t["status"] != "done").sum())
    rows = [check_row("runs finished (premise)", f"all {len(t)}", len(t) - n_bad, n_bad == 0)]
    ok = t[t["status"] == "done"]
    sl = width_slopes(ok, "q", ["row", "model.parametrization", "model.abc"])
    out = []
    for _, g in sl.iterrows():
        th = _theory(g["model.parametrization"], g["model.abc"], depth, shift)
        s, se = g["slope"], g["se"]
        meas = f"{s:.3f} +- {se:.3f}"
        if th["stable"]:
            passed = bool(abs(s + th["r"]) <= TOL + 2 * se)
            claim = f"-r = {-th['r'] + 0.0:g} within {TOL} + 2 SE ({th['regime']})"
        else:
            passed = bool(s >= GROWS)
            claim = f">= {GROWS}: grows with width (r = {th['r']:g}, unstable)"
        rows.append(check_row(f"{g['row']}: width exponent of Delta h^{depth - 1} at step {STEPS}",
                              claim, meas, passed))
        out.append({"row": g["row"], "r": th["r"], "regime": th["regime"], "slope": s, "se": se})
    return rows, pd.DataFrame(out)


def _table(depth: int, measured: pd.DataFrame, shift: float) -> pd.DataFrame:
    """Every named row's exponents and TP IV classification, plus trained user rows."""
    by = measured.set_index("row") if len(measured) else pd.DataFrame()
    rows = []
    names = list(NAMED) + [r for r in by.index if r not in NAMED]
    for name in names:
        if name in NAMED:
            p = named(name, depth)
        else:
            p = exponents(MLP(depth=depth, parametrization="abc", abc=name[4:-1]))
        th = classify(p)
        trained = name in by.index
        rows.append({"row": name, "a": ", ".join(f"{x:g}" for x in p.a),
                     "b": ", ".join(f"{x:g}" for x in p.b), "c": p.c, "r (TP IV)": th["r"],
                     "stable": th["stable"], "nontrivial": th["nontrivial"], "regime": th["regime"],
                     "measured exponent": by.loc[name, "slope"] if trained else np.nan,
                     "SE": by.loc[name, "se"] if trained else np.nan,
                     "predicted": (-(th["r"] + shift) if th["stable"] else f">= {GROWS}")
                     if trained else "not trained"})
    return pd.DataFrame(rows)


def _figure(t: pd.DataFrame, depth: int, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ok = t[(t["status"] == "done") & (t["q"] > 0)]
    for row, g in ok.groupby("row"):
        s = g.groupby("model.width")["q"].agg(["mean", "sem"])
        ax.errorbar(s.index, s["mean"], yerr=s["sem"].fillna(0), marker="o", capsize=2, label=row)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width N")
    ax.set_ylabel(f"mean |h^{depth - 1}_T - h^{depth - 1}_0|  (T = {STEPS})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=150, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def analyze(ctx: Context) -> Analysis:
    shift = float(ctx.theory.get("r_shift", 0.0))
    t, depth = _frame(ctx)
    rows, measured = _rows(t, depth, shift)
    table = _table(depth, measured, shift)
    for _, r in table[table["predicted"] == "not trained"].iterrows():
        rows.append(report_row(f"{r['row']}: r and regime (TP IV Def. 3.2, Thm 3.3, 3.5)",
                               "theory only (not trained here)", f"r = {r['r (TP IV)']:g}, {r['regime']}"))
    fig = _figure(t, depth, ctx.out_dir / "feature_movement.png")
    return Analysis.from_rows(rows, figures=[("Feature movement of the last hidden layer vs width "
                                              "(mean +- SE over seeds)", fig)],
                              tables=[("abc-parametrizations: TP IV theory and measured width "
                                       "exponents", table)])


def _frozen(sweep: WidthSweep) -> WidthSweep:
    return sweep.with_overrides({"optim.group_lr": "input=0,hidden=0"})


EXPERIMENT = Experiment(
    name="abc-table",
    paper="Yang & Hu. Tensor Programs IV: Feature Learning in Infinite-Width Neural Networks. "
          "arXiv 2011.14522 (Def. 3.2, Thm 3.3, Thm 3.5)",
    figure="abc-parametrization table (SP, NTK, muP, MF): r and regime",
    claim="Hidden features move by Theta(n^-r) after a few SGD steps: r = 1/2 (NTK, kernel), r = 0 "
          "(muP, MF: feature learning), r = -1 (SP at a width-independent lr: unstable).",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 60 runs, about 40 s on 2 CPU cores",
    controls=(
        Control("r-shifted", "the check is fed r + 1/2 for every row: each stable row's exponent "
                "row must fail", theory={"r_shift": 0.5}),
        Control("features-frozen", "input and hidden layers frozen (group_lr): the features "
                "cannot move, no exponent; every exponent row must fail", _frozen),
    ),
    criteria=f"PASS iff every run finishes, every trained stable row's width exponent s of the "
             f"last hidden layer's feature movement at step {STEPS} satisfies |s + r| <= {TOL} + "
             f"2 SE (r from TP IV Def. 3.2), and every trained unstable row has s >= {GROWS}.",
)
