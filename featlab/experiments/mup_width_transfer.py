r"""mup-width-transfer: muP's optimal learning rate stays put across widths; SP's shifts.

Paper: Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer", arXiv 2203.03466 (Fig. 1 and Table 3: training loss against log2 lr for several
widths; under muP the curves' minima line up, under SP they move).

Claim: with the lr swept on a log2 grid, the lr that minimizes the training loss after a fixed
number of steps moves by at most one grid step over a 16x width range under muP, and by more
under SP (whose largest stable GD step shrinks like 1/width).

Setting: two tasks, one zipped grid axis ``data.kind,data.n,data.n_test`` (:data:`TASK_AXIS`),
each checked on its own:
- teacher: Gaussian teacher-student regression (d = 16, n = 128, n_test = 256, a width-8 tanh
  teacher, noise 0.1);
- digits: scikit-learn's 8x8 handwritten digits (:mod:`featlab.data.digits`; 64 pixels
  standardized with training statistics, 10 classes, a stratified split per seed; n = 256 and
  n_test = 256 in quick, 1024 and 512 in paper) with the one-hot squared loss
  (``data.loss="mse"``).
Both: a 3-layer tanh MLP without biases, full-batch GD for 50 steps, base width N_0 = 32 (SP =
muP there); widths 32..512 (16x), log2 lr in -5..2 (quick, 2 seeds; every lr and seed of one
task, width and parametrization in one population chunk) or widths 32..1024, log2 lr -7..3, 100
steps, 4 seeds (paper). A diverged run counts as an infinite loss. The optimum of a width is the
grid lr with the lowest seed-mean final training loss. The task axis is zipped, so ``--set
data.n=...`` is refused (it moves with the task) and ``--set`` reaches only the base setting's
data (the digits); from Python, ``sweep.with_grid({TASK_AXIS: [("digits", 512, 512)]})`` runs one
task alone or at another size.

Why the squared loss on the digits: with cross-entropy (n = 256, 50 steps, log2 lr -3..8,
widths 32 and 512, one seed) the optimum at N = 32 was log2 lr 3, but at N = 512 the final
training loss kept falling up to the edge of the grid in both parametrizations (SP: 3e-6 at
lr 8 and exactly 0 in float32 at lr 64..256; muP: 6e-6 at lr 256): the wide nets memorize 256
images, the bounded softmax gradient does not diverge, and the fixed-step training loss has no
interior optimum to track. On the quick grid (-5..2) every cross-entropy optimum sat at the top
edge, log2 lr = 2, so the premise failed and SP "drifted" 0. With the squared loss SP meets the
1/width stability limit it meets on the teacher task.

Check, per task (the same rule for both; stated for the digits before any paper run): the sweep
spans >= 16x in width; premise: every optimum is inside the lr grid (not at its edge, where the
drift would be censored); muP's drift (max - min optimal log2 lr over widths) <= 1 grid step;
SP's drift > 1 grid step. Measured (quick, ``featlab falsify mup-width-transfer``): PASS 8 of 8;
teacher: muP optima -1, -1, -1, -2, -1 (drift 1), SP -1, -2, -3, -3, -4 (drift 3); digits: muP
-2, -2, -2, -1, -2 (drift 1), SP -2, -2, -3, -4, -4 (drift 2). muP's drift is at the limit on
both tasks: its optimum sits next to the edge of stability, and one width moves by a step.

Controls (each must FAIL): the SP runs read as the treatment (the muP-drift rows must fail);
widths 32 and 64 only (a 2x range: the range rows and the SP-drift rows must fail).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import MLP, OptimConfig, Setting, TrainConfig
from featlab.data.digits import DigitsData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.experiments.width_scaling import WidthSweep

__all__ = ["EXPERIMENT", "optima", "plot_lr_curves", "TASK_AXIS"]

BASE_WIDTH = 32
MAX_DRIFT = 1         # grid steps allowed for muP
RANGE = 16            # width range the check needs
#: The tasks, one zipped grid axis: (data.kind, data.n, data.n_test) per task.
TASK_AXIS = "data.kind,data.n,data.n_test"
TASKS = {"teacher_student": "teacher", "digits": "digits"}      # data.kind -> row label
#: Tasks whose rows count toward the verdict (the others' rows are reported).
CHECKED = frozenset({"teacher_student", "digits"})


#: The teacher task as a grid point (TeacherStudentData's defaults: d = 16, a width-8 tanh
#: teacher, noise 0.1, with n and n_test set) and the digits task (the base setting's data).
TEACHER = ("teacher_student", 128, 256)


def _setting(steps: int, n_digits: int = 256, n_test_digits: int = 256) -> Setting:
    return Setting(
        data=DigitsData(n=n_digits, n_test=n_test_digits, loss="mse"),
        model=MLP(depth=3, width=BASE_WIDTH, activation="tanh", base_width=BASE_WIDTH),
        optim=OptimConfig(name="gd", lr=0.1),
        train=TrainConfig(steps=steps, log_points=2),
    )


def _lrs(lo: int, hi: int) -> list[float]:
    return [2.0 ** k for k in range(lo, hi + 1)]


def quick() -> WidthSweep:
    return WidthSweep(_setting(50), {TASK_AXIS: [TEACHER, ("digits", 256, 256)],
                                     "model.parametrization": ["sp", "mup"],
                                     "model.width": [32, 64, 128, 256, 512],
                                     "optim.lr": _lrs(-5, 2)}, seeds=2)


def paper() -> WidthSweep:
    return WidthSweep(_setting(100, 1024, 512), {TASK_AXIS: [TEACHER, ("digits", 1024, 512)],
                                      "model.parametrization": ["sp", "mup"],
                                      "model.width": [32, 64, 128, 256, 512, 1024],
                                      "optim.lr": _lrs(-7, 3)}, seeds=4)


def _frame(ctx: Context) -> pd.DataFrame:
    t = ctx.store.table(ctx.sweep_id, ["model.width", "model.parametrization", "optim.lr", "data.kind"])
    t["model.width"] = t["model.width"].astype(int)
    t["log2_lr"] = np.round(np.log2(t["optim.lr"].astype(float)), 6)
    ok = (t["status"] == "done") & np.isfinite(t["train_loss"].astype(float))
    t["loss"] = np.where(ok, t["train_loss"].astype(float), np.inf)
    return t


def optima(t: pd.DataFrame, keys: tuple[str, ...] = ("model.parametrization", "model.width")
           ) -> pd.DataFrame:
    """Per group ``keys`` (default: parametrization and width): the log2 lr of the lowest
    seed-mean loss, its loss, and whether it is at an edge of the lr grid (or every lr diverged).
    depth-transfer calls it with its own keys."""
    keys = list(keys)
    grid = np.sort(t["log2_lr"].unique())
    curve = t.groupby([*keys, "log2_lr"])["loss"].mean().reset_index()
    rows = []
    for key, g in curve.groupby(keys):
        best = g.loc[g["loss"].idxmin()]
        k = float(best["log2_lr"])
        rows.append({**dict(zip(keys, key)), "best_log2_lr": k, "best_loss": float(best["loss"]),
                     "edge": bool(k in (grid[0], grid[-1])) or not np.isfinite(best["loss"])})
    return pd.DataFrame(rows)


def _drift(opt: pd.DataFrame, par: str, step: float) -> float:
    g = opt[opt["model.parametrization"] == par]["best_log2_lr"]
    return float((g.max() - g.min()) / step) if len(g) else float("nan")


def _rows(t: pd.DataFrame, opt: pd.DataFrame, treatment: str, task: str = "",
          checked: bool = True) -> list[dict]:
    """The rows of one task's runs ``t`` and optima ``opt``; ``task`` prefixes the quantities
    ("digits: ..."); ``checked=False`` turns the checked rows into reported ones."""
    row = check_row if checked else (lambda q, c, m, passed: report_row(q, c, m))
    pre = f"{task}: " if task else ""
    grid = np.sort(t["log2_lr"].unique())
    step = float(np.min(np.diff(grid))) if len(grid) > 1 else float("nan")
    widths = sorted(t["model.width"].unique())
    span = widths[-1] / widths[0]
    rows = [row(f"{pre}width range of the sweep", f">= {RANGE}x", f"{span:g}x", span >= RANGE)]
    edge = opt[opt["edge"]]
    rows.append(row(f"{pre}premise: every optimal lr is inside the lr grid", "0 optima at an edge",
                    ", ".join(f"{p} N = {w}" for p, w in zip(edge["model.parametrization"],
                                                          edge["model.width"])) or 0,
                    len(edge) == 0 and len(grid) >= 3))
    d_mu, d_sp = _drift(opt, treatment, step), _drift(opt, "sp", step)
    label = "muP" if treatment == "mup" else f"{treatment} (as treatment)"
    rows.append(row(f"{pre}{label}: drift of the optimal log2 lr over widths (grid steps)",
                    f"<= {MAX_DRIFT}", d_mu, bool(d_mu <= MAX_DRIFT)))
    rows.append(row(f"{pre}SP: drift of the optimal log2 lr over widths (grid steps)",
                    f"> {MAX_DRIFT}", d_sp, bool(d_sp > MAX_DRIFT)))
    for par in ("sp", "mup"):
        g = opt[opt["model.parametrization"] == par]
        rows.append(report_row(f"{pre}{par}: optimal log2 lr per width", "muP flat, SP shifting",
                               ", ".join(f"{w}: {k:g}" for w, k in zip(g["model.width"], g["best_log2_lr"]))))
    g = opt[opt["model.parametrization"] == "mup"]
    rows.append(report_row(f"{pre}muP: loss at the optimum per width", "wider is better (TP V)",
                           ", ".join(f"{w}: {v:.4g}" for w, v in zip(g["model.width"], g["best_loss"]))))
    return rows


def plot_lr_curves(ax, g: pd.DataFrame, by: str, values: list, label: str) -> None:
    """On ``ax``: the seed-mean final loss against log2 lr, one line per value of column ``by``
    (colours by rank in ``values``; diverged runs, an infinite loss, omitted), log y axis."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    for i, v in enumerate(values):
        c = g[g[by] == v].groupby("log2_lr")["loss"].mean()
        c = c[np.isfinite(c)]
        ax.plot(c.index, c.values, marker="o", ms=3, color=cmap(i / max(1, len(values) - 1)),
                label=label.format(v))
    ax.set_yscale("log")
    ax.set_xlabel("log2 lr")


def _figure(t: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pars = [p for p in ("sp", "mup") if p in set(t["model.parametrization"])]
    kinds = _kinds(t)
    fig, axes = plt.subplots(len(kinds), len(pars), figsize=(4.4 * len(pars), 3.4 * len(kinds)),
                             squeeze=False)
    widths = sorted(t["model.width"].unique())
    for axrow, kind in zip(axes, kinds):
        for ax, par in zip(axrow, pars):
            g = t[(t["model.parametrization"] == par) & (t["data.kind"] == kind)]
            plot_lr_curves(ax, g, "model.width", widths, "N = {}")
            ax.set_title(f"{TASKS.get(kind, kind)}: {'muP' if par == 'mup' else 'SP'}")
        axrow[0].set_ylabel("final train loss (diverged omitted)")
        if axrow[0].get_legend_handles_labels()[0]:
            axrow[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=140, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def _kinds(t: pd.DataFrame) -> list[str]:
    """The tasks (data kinds) present, teacher first."""
    present = set(t["data.kind"])
    return [k for k in TASKS if k in present] + sorted(present - set(TASKS))


def analyze(ctx: Context) -> Analysis:
    treatment = str(ctx.theory.get("treatment", "mup"))
    t = _frame(ctx)
    rows, opts = [], []
    for kind in _kinds(t):
        g = t[t["data.kind"] == kind]
        opt = optima(g)
        rows += _rows(g, opt, treatment, TASKS.get(kind, kind), checked=kind in CHECKED)
        opts.append(opt.assign(task=TASKS.get(kind, kind)))
    fig = _figure(t, ctx.out_dir / "width_transfer.png")
    table = pd.concat(opts, ignore_index=True)
    return Analysis.from_rows(rows, figures=[("Final training loss vs log2 lr per width (seed means)", fig)],
                              tables=[("Optimal log2 lr per task, parametrization and width",
                                       table[["task", *[c for c in table.columns if c != "task"]]])])


def _narrow(sweep: WidthSweep) -> WidthSweep:
    return sweep.with_grid({"model.width": [32, 64]})


EXPERIMENT = Experiment(
    name="mup-width-transfer",
    paper="Yang et al. Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter "
          "Transfer. arXiv 2203.03466 (Fig. 1, Table 3)",
    figure="Fig. 1: training loss vs log2 lr across widths, SP vs muP",
    claim="Under muP the loss-minimizing lr moves by at most one log2 grid step over a 16x width "
          "range; under SP it moves by more (a teacher task and the 8x8 digits).",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 320 runs (20 chunks, 2 tasks), about 60 s on 2 shared CPU cores",
    controls=(
        Control("sp-as-treatment", "the SP runs are read as the treatment: the muP-drift row must "
                "fail", theory={"treatment": "sp"}),
        Control("narrow-range", "widths 32 and 64 only: the range row and the SP-drift row must "
                "fail", _narrow),
    ),
    criteria=f"Per task (teacher regression; digits with the one-hot squared loss): PASS iff "
             f"the widths span >= {RANGE}x, every (parametrization, width) optimum is "
             f"inside the lr grid, muP's optimal log2 lr drifts by <= {MAX_DRIFT} grid step over "
             f"the widths and SP's by > {MAX_DRIFT} (optimum = lowest seed-mean final train loss, "
             f"diverged = infinite).",
)
