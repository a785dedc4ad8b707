r"""sgd-linear-risk: excess risk of one-pass SGD vs steps -- simulation, exact recursion, Zou et al. bound.

Paper: Zou, Wu, Braverman, Gu, Kakade, "Benign Overfitting of Constant-Stepsize SGD for Linear
Regression", COLT 2021 (arXiv 2103.12692), Theorem 2.1 (upper bound on the Polyak-averaged iterate);
the exact moment recursion follows from Gaussian fourth moments (featlab.theory.linear.sgd_risk; also
Jain et al. 2018). Figure: risk vs number of samples, their Fig. 1 style.

Claims checked:
1. Exactness: for Gaussian x the expected excess risk of the last iterate and of the Polyak average
   (w_0..w_t) is the second-moment recursion. Simulation mean over S seeds agrees at every logged step
   within c SE. c is set for the whole family of comparisons (grid points x 2 iterates x logged
   steps): the normal level at which all of them together give a false alarm with probability
   <= 1e-3 if the recursion is exact (Bonferroni, :func:`featlab.linear.analysis.family_z`; 4.32 for
   ``quick``'s 64 comparisons, 4.69 for ``paper``'s 360), then the Student-t quantile at that level.
2. Power (checked): the same simulated data must reject the nearest wrong recursion, the exact
   curve scaled by 1 - 0.2 and by 1 + 0.2 after step 0 (step 0 is deterministic and would reject any
   scaling trivially, so it is left at its exact value), with the same c: a grid whose tolerance
   c SE / risk exceeds 20% at every logged step cannot tell a 20%-wrong recursion from the right one,
   and then the check does not PASS.
3. Zou et al.'s bound shape (constant step, B = 1, gamma < 1/(3 tr H), the theorem's premise, checked
   in the same row): the exact averaged risk stays
   below 4 x (EffBias + EffVar) at every logged N (their theorem, 2 EffBias + 2 EffVar on the 1/2-loss,
   in our no-1/2 convention; the constants were recalled, then matched against a secondary restatement
   of the theorem, not the paper's own text), and the ratio exact / shape is reported (how tight the
   shape is).
4. Premise: every run finished (no run diverged).

Criteria history (details in CHECKS.md): a fixed 4 SD per comparison (first version) was replaced by
the family-wise rule after the paper preset's S/8 = 64-seed sub-check reached 4.33 SE against 4.29
(one of 720 comparisons, where a per-comparison 4 SD has a ~4% family-wise false-alarm rate). On
2026-12-01 the S/8 sub-check and the ``full.tolerance < few.tolerance`` clause (wide tolerances,
139-469% and true by construction: they could not fail) were replaced by the power rows of item 2,
and ``quick`` went from 64 to 256 seeds: at 64 seeds the smallest per-step tolerance of the last
iterate was 19% (constant step), so a 20%-wrong recursion was barely rejectable.

Negative controls (``featlab falsify sgd-linear-risk``): ``recursion-20pct-high`` (the exact curve
x 1.2 after step 0 fed to the check; the exactness rows fail), ``recursion-step-1.2`` (the recursion
computed with a 20% larger step; exactness rows fail), ``runs-at-0.8-step`` (the runs are trained at
0.8 of the stated step, the recursion at the stated step; exactness rows fail) and ``16-seeds``
(only 16 seeds: the recursion still agrees but the power rows fail -- the grid cannot reject a
20%-wrong recursion).

Presets: ``quick``: p = 100, lambda_i = i^-2, w*_i = i^-1/2, sigma^2 = 0.25, B = 1, gamma_0 = 0.9/(3 tr H),
2000 steps, schedules constant and geometric (halve every T/log2 T), 256 seeds. ``paper``: p = 400,
10^4 steps, batch sizes 1 and 4, constant / geometric / poly (1 + t/100)^-1/2, 512 seeds.
Choices (ours, not the paper's): the spectrum, target, noise and step values.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from featlab.config import override
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row
from featlab.linear.analysis import agreement, family_z, mean_ci, run_frame
from featlab.linear.config import LinearData, LinearOptim, LinearSetting, LinearTrain, spectrum, target
from featlab.linear.plots import Panel, Series, line_panels
from featlab.linear.predict import sgd_exact
from featlab.sweep import Sweep
from featlab.theory.linear import zou2021_bound_shape

ALPHA = 1e-3       # family-wise false-alarm probability of the exactness checks
PERTURB = 0.2      # the nearest wrong recursion the data must reject: exact x (1 -+ PERTURB) after step 0
QUICK_SEEDS = 256
CRITERIA = (f"Every run finishes. Per grid point and iterate (last, Polyak average): the simulated mean is "
            f"within c SE of the exact recursion at every logged step, c the Student-t quantile of the "
            f"Bonferroni level z = Phi^-1(1 - {ALPHA:g}/(2 K)) over all K comparisons (4.32 quick, 4.69 "
            f"paper). Power: with the same c, the recursion scaled by 1 - {PERTURB:g} and 1 + {PERTURB:g} "
            f"after step 0 is rejected at >= 1 logged step for every grid point and iterate. Constant step, "
            f"B = 1: gamma_0 tr H < 1/3 and the exact averaged risk <= 4 (EffBias + EffVar) at every N.")


def _setting(p: int, steps: int, log_points: int) -> LinearSetting:
    data = LinearData(p=p, spectrum="power", a=2.0, target="power", b=0.5, sigma2=0.25)
    lr = 0.9 / (3.0 * float(spectrum(data).sum()))
    return LinearSetting(data=data, optim=LinearOptim(name="sgd", lr=round(lr, 6), batch_size=1),
                         train=LinearTrain(steps=steps, log_points=log_points))


def quick() -> Sweep:
    return Sweep(_setting(100, 2000, 16), {"optim.schedule": ["constant", "geometric"]}, seeds=QUICK_SEEDS)


def paper() -> Sweep:
    s = _setting(400, 10_000, 30)
    s = LinearSetting(s.data, s.model, LinearOptim(name="sgd", lr=s.optim.lr, t0=100.0, power=0.5), s.train)
    return Sweep(s, {"optim.schedule": ["constant", "geometric", "poly"], "optim.batch_size": [1, 4]},
                 seeds=512)


def theory_setting(setting: LinearSetting, theory: dict) -> LinearSetting:
    """The setting the recursion is computed for: the run's own, unless a control states another
    step (``theory["lr"]``, or ``theory["lr_scale"]`` x the run's step)."""
    lr = theory.get("lr", setting.optim.lr * theory.get("lr_scale", 1.0))
    return setting if lr == setting.optim.lr else override(setting, {"optim.lr": float(lr)})


def perturbed(exact: np.ndarray, steps: np.ndarray, factor: float) -> np.ndarray:
    """The exact curve at ``steps`` scaled by ``factor`` after step 0 (step 0 is deterministic)."""
    return np.where(steps >= 1, factor * exact, exact)


def _group_curves(ctx: Context, frame: pd.DataFrame) -> list[dict]:
    """Per grid point: steps, simulated (S, K) arrays and the exact curves at those steps."""
    metrics = ctx.store.metrics(ctx.sweep_id, ["excess_risk", "excess_risk_avg"])
    metrics = metrics.merge(frame[["run_id", "seed"]], on="run_id")
    out = []
    axes = ctx.sweep.axes
    scale = float(ctx.theory.get("scale", 1.0))
    for key, grp in frame.groupby(axes) if axes else [((), frame)]:
        key = key if isinstance(key, tuple) else (key,)
        setting = grp["setting"].iloc[0]
        m = metrics[metrics["run_id"].isin(grp["run_id"])]
        wide = {n: m[m["name"] == n].pivot(index="seed", columns="step", values="value").sort_index()
                for n in ("excess_risk", "excess_risk_avg")}
        steps = wide["excess_risk"].columns.to_numpy()
        exact = sgd_exact(theory_setting(setting, ctx.theory))
        t = np.arange(len(exact["excess_risk"]))
        exact = {n: perturbed(exact[n], t, scale) for n in ("excess_risk", "excess_risk_avg")}
        out.append({"label": ", ".join(f"{a.split('.')[-1]}={v}" for a, v in zip(axes, key)),
                    "setting": setting, "steps": steps, "exact": exact,
                    "sim": {n: w.to_numpy() for n, w in wide.items()}})
    return out


def _zou(setting: LinearSetting, steps: np.ndarray, exact_avg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zou et al. shape at N = t+1 samples, and the exact averaged risk there (t >= 1)."""
    lam, w = spectrum(setting.data), target(setting.data)
    shape = np.array([zou2021_bound_shape(lam, w, setting.data.sigma2, setting.optim.lr, int(t) + 1).total
                      for t in steps])
    return shape, exact_avg[steps]


def _power(sim: np.ndarray, exact: np.ndarray, steps: np.ndarray, Z: float) -> tuple[bool, str]:
    """Does the same data reject exact x (1 -+ PERTURB) after step 0? (Both must be rejected.)"""
    out = []
    for factor in (1 - PERTURB, 1 + PERTURB):
        agr = agreement(sim, perturbed(exact, steps, factor), Z)
        out.append((not agr.passed, f"x{factor:g}: max |mean - theory|/SE = {agr.max_z:.2f}"))
    se = sim.std(0, ddof=1) / np.sqrt(len(sim))
    tol = (agreement(sim, exact, Z).z * se / exact)[steps >= 1]
    text = "; ".join(t for _, t in out) + f"; smallest per-step tolerance {tol.min():.3g} (c SE / risk)"
    return all(ok for ok, _ in out), text


def analyze(ctx: Context) -> Analysis:
    frame = run_frame(ctx)
    done = frame[frame["status"] == "done"]
    rows = [check_row("premise: every run finishes", "no run diverges",
                      f"{len(done)} of {len(frame)} runs finished", len(done) == len(frame) and len(frame) > 0)]
    if done.empty:
        return Analysis.from_rows(rows)
    groups = _group_curves(ctx, done)
    Z = family_z(sum(2 * len(g["steps"]) for g in groups), ALPHA)
    panels, table = [], []
    for g in groups:
        for name, what in (("excess_risk", "last iterate"), ("excess_risk_avg", "Polyak average")):
            sim, exact = g["sim"][name], g["exact"][name][g["steps"]]
            full = agreement(sim, exact, Z)
            rows.append(check_row(f"{g['label']}: {what}, sim vs exact recursion",
                                  f"|mean - exact| <= c SE at every logged step (c: t quantile of {Z:.2f} SDs, "
                                  f"family-wise false alarm <= {ALPHA:g})", full.describe(), full.passed))
            power, text = _power(sim, exact, g["steps"], Z)
            rows.append(check_row(f"{g['label']}: {what}, power against a {PERTURB:.0%}-wrong recursion",
                                  f"the same data reject exact x (1 -+ {PERTURB:g}) after step 0 (same c)",
                                  text, power))
            table.append({"point": g["label"], "iterate": what, "seeds": full.seeds,
                          "max_rel_err": full.max_rel_err, "tolerance": full.tolerance,
                          "max_z": full.max_z, "rejects_20pct": power})
        s = g["setting"]
        series = []
        for k, (name, what) in enumerate((("excess_risk", "last"), ("excess_risk_avg", "average"))):
            mean, lo, hi = mean_ci(g["sim"][name])
            x = np.maximum(g["steps"], 1)
            series.append(Series(f"simulation, {what} (95% CI)", x, mean, lo, hi, kind="band", color=2 * k))
            t = np.arange(1, len(g["exact"][name]))
            series.append(Series(f"exact recursion, {what}", t, g["exact"][name][1:], color=2 * k + 1))
        if s.optim.schedule == "constant" and s.optim.batch_size == 1:
            steps = g["steps"][g["steps"] >= 1]
            shape, avg = _zou(s, steps, g["exact"]["excess_risk_avg"])
            ratio = avg / shape
            step_cond = s.optim.lr * float(spectrum(s.data).sum())
            rows.append(check_row(f"{g['label']}: Zou et al. 2021 bound (averaged iterate)",
                                  "premise gamma tr H < 1/3; exact averaged risk <= 4 (EffBias + EffVar) at every N",
                                  f"gamma tr H = {step_cond:.3g}; max exact/shape = {ratio.max():.3g}, "
                                  f"min = {ratio.min():.3g}", bool(step_cond < 1 / 3 and np.all(ratio <= 4.0))))
            series.append(Series("Zou et al. 2021 shape (EffBias + EffVar)", steps + 1, shape, kind="dashed", color=4))
        panels.append(Panel(g["label"] or "SGD", "step t (samples seen / B)", "excess risk", series))
    fig = line_panels(panels, ctx.out_dir / "risk_vs_steps.png",
                      title=f"One-pass SGD on Gaussian linear regression ({ctx.preset})")
    return Analysis.from_rows(rows,
                              figures=[("Excess risk vs steps: simulation mean with 95% CI over seeds, the exact "
                                        "second-moment recursion, and Zou et al.'s bound shape (constant step).", fig)],
                              tables=[("Simulation vs exact recursion (max over logged steps)", pd.DataFrame(table))])


def _runs_at(factor: float):
    def broken(sweep: Sweep) -> Sweep:
        return sweep.with_overrides({"optim.lr": round(sweep.setting.optim.lr * factor, 8)})
    return broken


CONTROLS = (
    Control("recursion-20pct-high", "the exact curve x 1.2 after step 0 is fed to the check; the exactness "
            "rows (sim vs exact recursion) must fail", theory={"scale": 1.0 + PERTURB}),
    Control("recursion-step-1.2", "the recursion is computed with a 20% larger step than the runs used; "
            "the exactness rows must fail", theory={"lr_scale": 1.2}),
    Control("runs-at-0.8-step", "the runs are trained at 0.8 x the stated step, the recursion is computed "
            "at the stated step; the exactness rows must fail",
            sweep=_runs_at(0.8), theory={"lr_scale": 1 / 0.8}),
    Control("16-seeds", "only 16 seeds: the recursion still agrees, but the power rows must fail (the "
            "data cannot reject a 20%-wrong recursion)", sweep=lambda s: dataclasses.replace(s, seeds=16)),
)


EXPERIMENT = Experiment(
    name="sgd-linear-risk",
    paper="Zou, Wu, Braverman, Gu, Kakade, COLT 2021 (arXiv 2103.12692)",
    figure="excess risk of one-pass SGD vs samples (last and averaged iterate)",
    claim="The expected excess risk of one-pass SGD on Gaussian linear regression is given exactly by the "
          "second-moment recursion (simulation agrees within c SE at every step, c set for a family-wise "
          "false-alarm rate of 1e-3), and the averaged "
          "iterate obeys Zou et al.'s EffBias + EffVar bound.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: ~40 s (256 seeds); paper: ~15 min",
    controls=CONTROLS,
    criteria=CRITERIA,
)
