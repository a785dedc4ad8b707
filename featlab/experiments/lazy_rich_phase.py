r"""lazy-rich-phase: the output scale alpha moves a network between lazy (NTK) and rich training.

Papers: Chizat, Oyallon, Bach, "On Lazy Training in Differentiable Programming" (NeurIPS 2019,
arXiv 1812.07956); Geiger, Spigler, Jacot, Wyart, "Disentangling feature and lazy training in deep
neural networks" (J. Stat. Mech. 2020, arXiv 1906.08034); the kernel distance of Fort et al.
(NeurIPS 2020, arXiv 2010.15110).

Model (:mod:`featlab.models.centered`): f_alpha(x) = alpha (h(x; w) - h(x; w_0)) for a two-layer
tanh MLP h, trained by full-batch GD on (1/alpha^2) R(f_alpha) (lr multipliers 1/alpha^2, with
the NTK parametrization's per-layer rates 1/fan_in), R the squared loss on a Gaussian
teacher-student task (:mod:`featlab.data.teacher_student`). Every alpha starts from f = 0 with
the same tangent kernel, so the alphas differ only in how far the weights, and the kernel, move.

Claims:
- (Chizat et al., Thm 2.3-2.4) as alpha -> infinity, training follows the linearized model:
  the trained net's predictions equal kernel (NTK) regression with the initial tangent kernel
  stopped at the same step, and the kernel does not move (S(K_0, K_T) -> 0);
- small alpha is not lazy: the kernel moves by O(1) and the test error differs from the
  linearized model's;
- (Geiger et al.) the crossover is governed by alpha sqrt(N): at a fixed alpha a wider net is
  lazier.
The ``ntk`` probe (:mod:`featlab.probes`) logs S(K_0, K_t) = 1 - <K_0, K_t> / (||K_0|| ||K_t||)
and the test loss of the linearized model after the same t steps (closed form in K_0's
eigenbasis), so the theory's prediction sits in the same table as the measurement.

Criteria (stated before the paper preset ran; means over seeds per (width, alpha)):
- premise: no run diverges and every run's final train loss is <= 0.5 x its step-0 value;
- lazy (largest alpha), every width: |test loss - linearized test loss| <= 1% of the
  linearized one, and S(K_0, K_T) <= 1e-3;
- rich (smallest alpha), every width: S(K_0, K_T) >= 0.02 and |test - linearized| >= 10% of
  the linearized test loss;
- S(K_0, K_T) falls with alpha: for every alpha step at every width, the paired (same seed)
  change is <= 2 s.e. above 0;
- wider is lazier (Geiger): at the smallest alpha, S at the largest width < S at the smallest
  width (paired over seeds, by more than 2 s.e.).
Reported: S against alpha sqrt(N) (the collapse Geiger et al. predict), the first layer's relative
movement, and the trained vs linearized test losses.

Presets:
- ``quick``: d = 8, n = 64, n_test = 256, teacher width 4, label noise 0.1; widths {32, 128};
  alpha in {1/16, 1/4, 1, 4, 16}; lr 0.25, 300 steps; 3 seeds (30 runs).
- ``paper``: the same task with widths {32, 128, 512} and alpha in {1/16, 1/8, 1/4, 1/2, 1, 2,
  4, 8, 16}, 600 steps, 4 seeds (108 runs): a (width, alpha) phase map.
These settings are featlab's; the papers' own experiments (CIFAR-10, MNIST) are not reproduced.

Negative controls (``featlab falsify lazy-rich-phase``; each must FAIL): ``lr-tiny`` (lr 1e-4:
nothing moves at any alpha: the rich rows), ``alpha-large-only`` (only alpha = 16: no rich
regime: the rich rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.models.centered import CenteredMLP
from featlab.plots import save_figure
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT"]


def _setting(steps: int) -> Setting:
    return Setting(data=TeacherStudentData(n=64, d=8, n_test=256, teacher_width=4, noise=0.1),
                   model=CenteredMLP(depth=2, width=32, activation="tanh", alpha=1.0),
                   optim=OptimConfig(name="gd", lr=0.25),
                   train=TrainConfig(steps=steps, log_points=3, dtype="float64"))


def quick() -> Sweep:
    return Sweep(_setting(300), {"model.width": [32, 128],
                                 "model.alpha": [0.0625, 0.25, 1.0, 4.0, 16.0]}, seeds=3)


def paper() -> Sweep:
    return Sweep(_setting(600), {"model.width": [32, 128, 512],
                                 "model.alpha": [2.0 ** k for k in range(-4, 5)]}, seeds=4)


def _frame(ctx: Context) -> pd.DataFrame:
    t = ctx.store.table(ctx.sweep_id, ["model.width", "model.alpha"])
    m = ctx.store.metrics(ctx.sweep_id, ["train_loss"])
    t = t.join(m[m["step"] == 0].set_index("run_id")["value"].rename("train_loss_0"), on="run_id")
    t["model.width"] = t["model.width"].astype(int)
    return t


def _paired_z(t: pd.DataFrame, a: dict, b: dict, col: str) -> float:
    """Mean over seeds of col(b) - col(a), in standard errors (paired by seed)."""
    sel = lambda q: t[(t["model.width"] == q["w"]) & (t["model.alpha"] == q["a"])].set_index("seed")[col]  # noqa: E731
    diff = (sel(b) - sel(a)).dropna()
    if len(diff) < 2:
        return float("nan")
    return float(diff.mean() / max(diff.std(ddof=1) / np.sqrt(len(diff)), 1e-15))


def _rows(t: pd.DataFrame) -> list[dict]:
    done = t[t["status"] == "done"]
    widths, alphas = sorted(t["model.width"].unique()), sorted(t["model.alpha"].unique())
    cell = done.groupby(["model.width", "model.alpha"]).agg(
        test=("test_loss", "mean"), lin=("lin_test_loss", "mean"), dist=("ntk_distance", "mean"),
        move=("weight_movement_input", "mean")).reset_index()
    cell["gap"] = (cell["test"] - cell["lin"]).abs() / cell["lin"]
    lo, hi = alphas[0], alphas[-1]
    lazy, rich = cell[cell["model.alpha"] == hi], cell[cell["model.alpha"] == lo]
    fmt = lambda g, c, f: ", ".join(f"N {int(r['model.width'])}: {r[c]:{f}}" for _, r in g.iterrows())  # noqa: E731
    fitted = bool(len(done) == len(t) and (done["train_loss"] <= 0.5 * done["train_loss_0"]).all())
    rows = [
        check_row("premise: every run trains", "no divergence; final train loss <= 0.5 x step 0",
                  f"{len(done)} of {len(t)} done; max ratio "
                  f"{float((done['train_loss'] / done['train_loss_0']).max()):.3g}", fitted),
        check_row(f"lazy (alpha = {hi:g}): trained net = linearized model",
                  "|test - linearized test| <= 1% and S(K_0, K_T) <= 1e-3 at every width",
                  f"gap {fmt(lazy, 'gap', '.2e')}; S {fmt(lazy, 'dist', '.2e')}",
                  bool(len(alphas) > 1 and (lazy["gap"] <= 0.01).all() and (lazy["dist"] <= 1e-3).all())),
        check_row(f"rich (alpha = {lo:g}): the kernel moves and the test loss differs",
                  "S(K_0, K_T) >= 0.02 and |test - linearized| >= 10% at every width",
                  f"S {fmt(rich, 'dist', '.3f')}; gap {fmt(rich, 'gap', '.2f')}",
                  bool(len(alphas) > 1 and (rich["dist"] >= 0.02).all() and (rich["gap"] >= 0.1).all())),
    ]
    worst = -np.inf
    for w in widths:
        for a, b in zip(alphas, alphas[1:]):
            worst = max(worst, _paired_z(done, {"w": w, "a": a}, {"w": w, "a": b}, "ntk_distance"))
    rows.append(check_row("kernel distance falls with alpha",
                          "largest paired increase per alpha step <= 2 s.e. (every width)",
                          f"{worst:.2f} s.e.", bool(len(alphas) > 1 and np.isfinite(worst) and worst <= 2)))
    z = _paired_z(done, {"w": widths[0], "a": lo}, {"w": widths[-1], "a": lo}, "ntk_distance")
    rows.append(check_row(f"wider is lazier (alpha = {lo:g})",
                          f"S at N = {widths[-1]} below S at N = {widths[0]} by > 2 s.e. (paired)",
                          f"{z:.2f} s.e.", bool(len(widths) > 1 and z < -2)))
    cell["alpha_sqrt_N"] = cell["model.alpha"] * np.sqrt(cell["model.width"])
    rows.append(report_row("S against alpha sqrt(N) (Geiger et al.: one curve)",
                           "crossover at alpha sqrt(N) = O(1)",
                           "; ".join(f"{r['alpha_sqrt_N']:.3g}: {r['dist']:.3g}"
                                     for _, r in cell.sort_values("alpha_sqrt_N").iterrows())))
    rows.append(report_row("first-layer movement ||W_T - W_0|| / ||W_0||", "O(1/alpha)",
                           fmt(rich, "move", ".3f") + f" (alpha {lo:g}); "
                           + fmt(lazy, "move", ".2e") + f" (alpha {hi:g})"))
    return rows


def _figure(t: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = t[t["status"] == "done"]
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.3), layout="constrained")
    for w, g in done.groupby("model.width"):
        c = g.groupby("model.alpha").agg(dist=("ntk_distance", "mean"), test=("test_loss", "mean"),
                                         lin=("lin_test_loss", "mean"))
        axes[0].plot(c.index * np.sqrt(w), c["dist"].clip(lower=1e-12), marker="o", label=f"N = {w}")
        line, = axes[1].plot(c.index, c["test"], marker="o", label=f"trained, N = {w}")
        axes[1].plot(c.index, c["lin"], ls="--", color=line.get_color(), label=f"linearized, N = {w}")
    axes[0].set(xscale="log", yscale="log", xlabel=r"$\alpha\sqrt{N}$", ylabel=r"$S(K_0, K_T)$")
    axes[1].set(xscale="log", xlabel=r"$\alpha$", ylabel="test loss")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6)
    return save_figure(fig, path)


def analyze(ctx: Context) -> Analysis:
    t = _frame(ctx)
    if t.empty:
        return Analysis.from_rows([check_row("runs", "finished runs", 0, False)])
    table = (t[t["status"] == "done"].groupby(["model.width", "model.alpha"])
             .agg(test_loss=("test_loss", "mean"), lin_test_loss=("lin_test_loss", "mean"),
                  ntk_distance=("ntk_distance", "mean"), movement=("weight_movement_input", "mean"),
                  runs=("run_id", "count")).reset_index())
    fig = _figure(t, ctx.out_dir / "lazy_rich.png")
    return Analysis.from_rows(_rows(t), figures=[(
        "Left: kernel distance S(K_0, K_T) against alpha sqrt(N). Right: test loss of the trained "
        "net (solid) and of the linearized model at the same step (dashed).", fig)],
        tables=[("Means over seeds", table)])


CRITERIA = (
    "Means over seeds per (width, alpha). PASS iff: no run diverges and each final train loss <= 0.5 "
    "x its step-0 value (premise); at the largest alpha, |test - linearized test| <= 1% and S(K_0, "
    "K_T) <= 1e-3 at every width; at the smallest alpha, S >= 0.02 and |test - linearized| >= 10% "
    "at every width; S falls with alpha (no paired increase > 2 s.e.); at the smallest alpha the "
    "widest net's S is below the narrowest's by > 2 s.e. Reported: S vs alpha sqrt(N), movement.")

EXPERIMENT = Experiment(
    name="lazy-rich-phase",
    paper="Chizat, Oyallon, Bach, NeurIPS 2019 (arXiv 1812.07956); Geiger et al. 2020 (arXiv 1906.08034)",
    figure="lazy vs rich: kernel distance and the linearized model over (width, alpha)",
    claim="A centered network trained on (1/alpha^2) R(alpha (h - h_0)) follows its linearized (NTK) "
          "model as alpha grows (the kernel stops moving); at small alpha the kernel moves and the test "
          "error differs; the crossover scales with alpha sqrt(N).",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 30 runs, ~1-2 min on 2 CPU cores; paper: 108 runs, ~10 min",
    criteria=CRITERIA,
    controls=(
        Control("lr-tiny", "lr = 1e-4: nothing moves at any alpha; the rich rows must fail",
                sweep=lambda s: s.with_overrides({"optim.lr": 1e-4})),
        Control("alpha-large-only", "only alpha = 16: no rich regime; the rich rows must fail",
                sweep=lambda s: s.with_grid({"model.alpha": [16.0]})),
    ),
)
