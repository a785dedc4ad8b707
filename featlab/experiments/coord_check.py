r"""coord-check: mup's coordinate check with a verdict: muP's activations are width-stable, SP's grow.

Paper: Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer", arXiv 2203.03466 (the coordinate check of its mup package, ``coord_check``: per-layer
mean |h| at steps t = 1..k against width on log-log axes, one panel per t; flat under muP,
growing with width for t >= 2 under SP; TP V Table 3 for the parametrizations).

Claim: under muP every hidden layer's mean |h^l| at every step t stays Theta(1) as the width grows
(log-log slope 0); under SP at the same learning rate the activations grow with width from t = 2
on, first in the deepest layer (TP IV: SP at a width-independent lr has r = -1).

Setting: Gaussian teacher-student regression (d = 16, n = 64, one fixed batch), a ReLU MLP with
3 hidden layers (``model.depth`` = 4), no biases, full-batch GD with lr 0.1 at the base width
N_0 = 64 (where SP = muP); t = 1..4 (t = 1 is the initialization, t = k after k - 1 steps);
widths 64..2048 (quick, 3 seeds) or 64..4096 (paper, 5 seeds). All seeds of one width and
parametrization train as one population chunk.

Measured: mean |h^l_t| (probe ``act_scale``; stored per run and step in the metrics table) and its
width exponent s_{l,t} (log-log slope per seed, mean +- SE over seeds; :mod:`.width_scaling`).

Check: every treatment (muP) run finishes (premise; the SP runs that diverge are counted in a
reported row, since SP's blow-up is what its row tests); muP: |s_{l,t}| <= 0.1 + 2 SE for every hidden layer l and
step t; SP (checked): at least one (l, t) with s_{l,t} > 0.1 + 2 SE, the offending layer named.
Measured (quick, ``featlab falsify coord-check``): muP |s| <= 0.01 at every (l, t); SP first
fails at t = 3 in h2, worst s(h3, t = 4) = +4.17 +- 0.62.

Controls (each must FAIL): lr = 1e-4 (SP's activations barely move: the 'SP fails' row must
fail); the SP runs read as the treatment (the muP rows must fail).
"""

from __future__ import annotations

import pandas as pd

from featlab.config import MLP, OptimConfig, Setting, TrainConfig
from featlab.data.teacher_student import TeacherStudentData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.experiments.width_scaling import WidthSweep, width_slopes

__all__ = ["EXPERIMENT", "coord_frame"]

BASE_WIDTH = 64
K = 4                 # t = 1..K  (K - 1 optimizer steps)
BAND = 0.1            # |slope| band around 0, on top of 2 SE


def _setting(depth: int = 4) -> Setting:
    return Setting(
        data=TeacherStudentData(n=64, d=16, n_test=16, teacher_width=4, teacher_activation="tanh",
                                noise=0.1),
        model=MLP(depth=depth, width=BASE_WIDTH, activation="relu", base_width=BASE_WIDTH),
        optim=OptimConfig(name="gd", lr=0.1),
        train=TrainConfig(steps=K - 1, log_points=K, log_schedule="linear"),
    )


def quick() -> WidthSweep:
    return WidthSweep(_setting(), {"model.parametrization": ["sp", "mup"],
                                   "model.width": [64, 128, 256, 512, 1024, 2048]}, seeds=3)


def paper() -> WidthSweep:
    return WidthSweep(_setting(), {"model.parametrization": ["sp", "mup"],
                                   "model.width": [64, 128, 256, 512, 1024, 2048, 4096]}, seeds=5)


def coord_frame(store, sweep_id: str) -> pd.DataFrame:
    """Tidy coordinate-check table: parametrization, layer, t, width, seed, mean_abs_h, status."""
    t = store.table(sweep_id, ["model.width", "model.parametrization"])
    m = store.metrics(sweep_id)
    m = m[m["name"].str.startswith("act_scale_")]
    m = m.assign(layer=m["name"].str.removeprefix("act_scale_"), t=m["step"].astype(int) + 1)
    out = m.merge(t[["run_id", "seed", "status", "model.width", "model.parametrization"]], on="run_id")
    out["model.width"] = out["model.width"].astype(int)
    return out.rename(columns={"value": "mean_abs_h"})[
        ["model.parametrization", "layer", "t", "model.width", "seed", "mean_abs_h", "status", "run_id"]]


def _worst(sl: pd.DataFrame) -> pd.Series:
    """The (layer, t) row with the largest |slope| - 2 SE."""
    return sl.loc[(sl["slope"].abs() - 2 * sl["se"]).fillna(float("inf")).idxmax()]


def _rows(tidy: pd.DataFrame, sl: pd.DataFrame, treatment: str) -> list[dict]:
    runs = tidy.drop_duplicates("run_id")
    label = "muP" if treatment == "mup" else f"{treatment} (as treatment)"
    arm = runs["model.parametrization"] == treatment
    n_bad = int((runs[arm]["status"] != "done").sum())
    rows = [check_row(f"{label} runs finished (premise)", f"all {int(arm.sum())}",
                      int(arm.sum()) - n_bad, n_bad == 0 and bool(arm.any()))]
    other = runs[~arm]
    rows.append(report_row("control-arm runs that diverged (SP at a fixed lr may, at large width)",
                           "reported", f"{int((other['status'] != 'done').sum())} of {len(other)}"))
    mu = sl[sl["model.parametrization"] == treatment]
    for layer, g in mu.groupby("layer", sort=True):
        w = _worst(g)
        ok = bool(((g["slope"].abs() <= BAND + 2 * g["se"]) & g["slope"].notna()).all())
        rows.append(check_row(f"{label} {layer}: worst width exponent of mean |h| over t = 1..{K}",
                              f"|s| <= {BAND} + 2 SE at every t", f"t = {int(w['t'])}: {w['slope']:+.3f} "
                              f"+- {w['se']:.3f}", ok))
    sp = sl[sl["model.parametrization"] == "sp"]
    grow = sp[sp["slope"] > BAND + 2 * sp["se"]]
    if len(grow):
        first = grow.sort_values(["t", "layer"]).iloc[0]
        w = _worst(grow)
        meas = (f"fails first at t = {int(first['t'])} in {first['layer']}; worst {w['layer']} at "
                f"t = {int(w['t'])}: {w['slope']:+.3f} +- {w['se']:.3f}")
    else:
        meas = "no layer grows" if len(sp) else "no SP runs"
    rows.append(check_row("SP at the same lr fails the coordinate check",
                          f"some hidden layer has s > {BAND} + 2 SE", meas, bool(len(grow))))
    for par, g in sl.groupby("model.parametrization"):
        init = g[g["t"] == 1]
        rows.append(report_row(f"{par}: width exponents at initialization (t = 1)", "0 (both)",
                               ", ".join(f"{r['layer']}: {r['slope']:+.3f}" for _, r in init.iterrows())))
    return rows


def _figure(tidy: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pars = [p for p in ("sp", "mup") if p in set(tidy["model.parametrization"])]
    steps = sorted(tidy["t"].unique())
    fig, axes = plt.subplots(len(pars), len(steps), figsize=(2.6 * len(steps), 2.4 * len(pars)),
                             sharex=True, squeeze=False)
    ok = tidy[(tidy["status"] == "done") & (tidy["mean_abs_h"] > 0)]
    for i, par in enumerate(pars):
        for j, t in enumerate(steps):
            ax = axes[i][j]
            g = ok[(ok["model.parametrization"] == par) & (ok["t"] == t)]
            for layer, h in g.groupby("layer", sort=True):
                s = h.groupby("model.width")["mean_abs_h"].mean()
                ax.plot(s.index, s.values, marker="o", ms=3, label=layer)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{'muP' if par == 'mup' else 'SP'}, t = {t}", fontsize=9)
            if i == len(pars) - 1:
                ax.set_xlabel("width")
            if j == 0:
                ax.set_ylabel("mean |h|")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def analyze(ctx: Context) -> Analysis:
    treatment = str(ctx.theory.get("treatment", "mup"))
    tidy = coord_frame(ctx.store, ctx.sweep_id)
    ok = tidy[tidy["status"] == "done"]
    sl = width_slopes(ok, "mean_abs_h", ["model.parametrization", "layer", "t"])
    rows = _rows(tidy, sl, treatment)
    tidy.drop(columns="run_id").to_csv(ctx.out_dir / "coord_check.csv", index=False)
    fig = _figure(tidy, ctx.out_dir / "coord_check.png")
    return Analysis.from_rows(
        rows, figures=[("Coordinate check: mean |h| vs width, one panel per step t (seed means)", fig)],
        tables=[("Width exponent of mean |h| per parametrization, layer and step (mean +- SE over "
                 "seeds)", sl)],
        notes=["The tidy per-run table (parametrization, layer, t, width, seed, mean |h|) is "
               "coord_check.csv beside this report; the store's metrics table holds act_scale_* "
               "per run and step."])


def _tiny_lr(sweep: WidthSweep) -> WidthSweep:
    return sweep.with_overrides({"optim.lr": 1e-4})


EXPERIMENT = Experiment(
    name="coord-check",
    paper="Yang et al. Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter "
          "Transfer. arXiv 2203.03466 (coordinate check; Table 3)",
    figure="coordinate check (mup coord_check): mean |h| vs width, one panel per step",
    claim="Under muP every hidden layer's mean |h| stays flat in width at t = 1..4; under SP at the "
          "same lr it grows with width from t = 2 on.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 36 runs, about 40 s on 2 CPU cores",
    controls=(
        Control("lr-tiny", "lr = 1e-4: SP's activations barely move; the 'SP fails' row must fail",
                _tiny_lr),
        Control("sp-as-treatment", "the SP runs are read as the treatment: its layers' rows must "
                "fail", theory={"treatment": "sp"}),
    ),
    criteria=f"PASS iff every run finishes, every muP hidden layer's width exponent of mean |h| "
             f"satisfies |s| <= {BAND} + 2 SE at every t = 1..{K}, and SP at the same lr has a "
             f"hidden layer with s > {BAND} + 2 SE at some t (the layer is named).",
)
