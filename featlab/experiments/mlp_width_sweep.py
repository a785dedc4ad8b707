r"""mlp-width-sweep: under muP, wider is better at a fixed step; under SP the tuned step blows up.

Paper: Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao, "Tensor Programs V:
Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer", arXiv 2203.03466 (Table 3:
the muP and SP rows this experiment uses; TP IV, arXiv 2011.14522, for why SP at a constant
learning rate is unstable as the width grows).

Claim: with the learning rate tuned at a base width N_0 and transferred unchanged, an MLP in muP
trains stably at every width and its test loss at a fixed step does not get worse as the width
grows ("wider is better"); in SP (lr Theta(1)) the same step diverges once the width is large.

Setting: Gaussian teacher-student regression (d = 16 inputs, a width-8 tanh teacher, label noise
0.1), a 3-layer tanh MLP without biases, full-batch GD with lr = 0.5 at N_0 = 16, squared loss,
a fixed number of steps; widths 16..256 (quick) or 16..1024 (paper), SP and muP (both equal at
N_0). Every width sees the same teacher and samples for a given seed (paired seeds).

Check (computed on the muP runs; the SP rows are reported):
- stable: no muP run diverges;
- learned: at the widest width the final test loss is <= 0.5 x its test loss at step 0;
- wider is better: the seed-mean final test loss at the widest width is <= 0.9 x that at N_0;
- monotone: for every width doubling, the paired (same seed) change of the final test loss is
  <= 2 standard errors above 0.
Measured (quick, BENCHMARKS.md): muP 0.060 -> 0.039 from N = 16 to 256; SP diverges from N = 64.

Controls (each must FAIL the check): the step shrunk to 1e-4 (nothing is learned); the training
labels shuffled (no signal left to learn); the width axis fixed at N_0 (no width to be better with).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import MLP, OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.plots import save_figure
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT"]

BASE_WIDTH = 16


def _setting(steps: int) -> Setting:
    return Setting(
        data=TeacherStudentData(n=128, d=16, n_test=512, teacher_width=8, teacher_activation="tanh",
                                noise=0.1),
        model=MLP(depth=3, width=BASE_WIDTH, activation="tanh", base_width=BASE_WIDTH),
        optim=OptimConfig(name="gd", lr=0.5),
        train=TrainConfig(steps=steps, log_points=3),
    )


def quick() -> Sweep:
    return Sweep(_setting(200), {"model.parametrization": ["sp", "mup"],
                                 "model.width": [16, 32, 64, 128, 256]}, seeds=3)


def paper() -> Sweep:
    return Sweep(_setting(500), {"model.parametrization": ["sp", "mup"],
                                 "model.width": [16, 32, 64, 128, 256, 512, 1024]}, seeds=5)


def _frame(ctx: Context) -> pd.DataFrame:
    """One row per run: width, parametrization, seed, status, final and step-0 test loss."""
    t = ctx.store.table(ctx.sweep_id, ["model.width", "model.parametrization"])
    m = ctx.store.metrics(ctx.sweep_id, ["test_loss"])
    start = m[m["step"] == 0].set_index("run_id")["value"].rename("test_loss_0")
    t = t.join(start, on="run_id")
    t["model.width"] = t["model.width"].astype(int)
    return t


def _rows(t: pd.DataFrame) -> list[dict]:
    mup = t[t["model.parametrization"] == "mup"]
    sp = t[t["model.parametrization"] == "sp"]
    widths = sorted(mup["model.width"].unique())
    ok = mup[mup["status"] == "done"]
    mean = ok.groupby("model.width")["test_loss"].mean()
    lo, hi = widths[0], widths[-1]
    n_div = int((mup["status"] != "done").sum())
    rows = [check_row("muP runs diverged", "0 (stable at every width)", n_div, n_div == 0)]
    wide = ok[ok["model.width"] == hi]
    learned = float((wide["test_loss"] / wide["test_loss_0"]).mean()) if len(wide) else float("nan")
    rows.append(check_row(f"muP learned: test loss / its step-0 value at N = {hi}", "<= 0.5",
                          learned, bool(learned <= 0.5)))
    ratio = float(mean.get(hi, np.nan) / mean.get(lo, np.nan))
    rows.append(check_row(f"muP wider is better: test loss N = {hi} / N = {lo}", "<= 0.9",
                          ratio, bool(ratio <= 0.9) and hi > lo))
    worst, passed = -np.inf, hi > lo
    for a, b in zip(widths, widths[1:]):
        pa = ok[ok["model.width"] == a].set_index("seed")["test_loss"]
        pb = ok[ok["model.width"] == b].set_index("seed")["test_loss"]
        diff = (pb - pa).dropna()
        if len(diff) < 2:
            passed = False
            continue
        z = diff.mean() / max(diff.std(ddof=1) / np.sqrt(len(diff)), 1e-12)
        worst = max(worst, float(z))
        passed &= bool(z <= 2.0)
    rows.append(check_row("muP monotone: largest paired increase per width doubling (SE units)",
                          "<= 2", worst, passed))
    sp_div = sp.groupby("model.width")["status"].apply(lambda s: int((s != "done").sum()))
    rows.append(report_row("SP runs diverged per width", "grows with width (lr Theta(1) is unstable)",
                           ", ".join(f"{w}: {k}" for w, k in sp_div.items())))
    sp_mean = sp[sp["status"] == "done"].groupby("model.width")["test_loss"].mean()
    rows.append(report_row("SP final test loss per width (finished runs)", "not width-stable",
                           ", ".join(f"{w}: {v:.4g}" for w, v in sp_mean.items())))
    rows.append(report_row("muP final test loss per width", "non-increasing",
                           ", ".join(f"{w}: {v:.4g}" for w, v in mean.items())))
    return rows


def _figure(t: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for par, color in (("sp", "#D55E00"), ("mup", "#0072B2")):
        g = t[(t["model.parametrization"] == par) & (t["status"] == "done")]
        s = g.groupby("model.width")["test_loss"].agg(["mean", "sem"])
        ax.errorbar(s.index, s["mean"], yerr=s["sem"].fillna(0), marker="o", color=color,
                    label=par.upper() if par == "sp" else "muP", capsize=2)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width N")
    ax.set_ylabel("final test loss (finished runs)")
    ax.legend()
    return save_figure(fig, path)


def analyze(ctx: Context) -> Analysis:
    t = _frame(ctx)
    rows = _rows(t)
    fig = _figure(t, ctx.out_dir / "width_sweep.png")
    table = t.groupby(["model.parametrization", "model.width"]).agg(
        test_loss=("test_loss", "mean"), runs=("run_id", "count"),
        diverged=("status", lambda s: int((s != "done").sum()))).reset_index()
    return Analysis.from_rows(rows, figures=[("Final test loss vs width (mean +- SE over seeds)", fig)],
                              tables=[("Final test loss by parametrization and width", table)])


def _tiny_lr(sweep: Sweep) -> Sweep:
    return sweep.with_overrides({"optim.lr": 1e-4})


def _shuffled(sweep: Sweep) -> Sweep:
    return sweep.with_overrides({"data.shuffle_labels": True})


def _width_fixed(sweep: Sweep) -> Sweep:
    return sweep.with_grid({"model.width": [BASE_WIDTH]})


EXPERIMENT = Experiment(
    name="mlp-width-sweep",
    paper="Yang et al. Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter "
          "Transfer. arXiv 2203.03466 (Table 3)",
    figure="Table 3 (muP vs SP), 'wider is better' at a fixed step",
    claim="With the lr tuned at the base width, muP trains stably and its test loss at a fixed step "
          "does not get worse with width; SP at the same lr diverges as the width grows.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 30 runs, about 30 s on 2 CPU cores",
    controls=(
        Control("lr-tiny", "lr = 1e-4: nothing is learned; the 'learned' row must fail", _tiny_lr),
        Control("labels-shuffled", "training labels permuted: no signal; the 'learned' row must "
                "fail", _shuffled),
        Control("width-fixed", "only the base width: 'wider is better' must fail", _width_fixed),
    ),
    criteria="PASS iff no muP run diverges, the widest muP net's test loss falls to <= 0.5 x its "
             "step-0 value, the widest muP test loss is <= 0.9 x the base width's, and no width "
             "doubling raises the paired muP test loss by more than 2 SE.",
)
