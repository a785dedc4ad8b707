r"""scaling-law-linear: risk over (model size M, data N) of a sketched linear model trained by one-pass SGD.

Paper: Lin, Wu, Kakade, Bartlett, Lee, "Scaling Laws in Linear Regression: Compute, Parameters, and
Data", NeurIPS 2024 (arXiv 2406.08466), Theorem 4.1 / Fig. 1. Setting: x ~ N(0, H), lambda_i ~ i^-a,
model f_v(x) = <S x, v> with a Gaussian sketch S (M x p, N(0, 1/M)), one-pass SGD on N samples with
geometric step decay. Claim: E R - sigma^2 = Theta(M^{-(a-1)}) + Theta((N gamma)^{-(a-1)/a}) (up to log
factors), so with compute C = M N the optimum is M* ~ C^{1/(a+1)} and the risk ~ C^{-(a-1)/(a+1)}.

Claims checked (a = 2: exponents 1 in M and 1/2 in N; quick: p = 400, M = 4..64, N = 64..2048, w*_i = 1,
sigma^2 = 0.1, gamma_0 = 0.2, halving every N/log2 N steps; 16 seeds):
1. Exactness: for each run's own sketch S the expected excess risk is the SGD recursion on the reduced
   problem (featlab.theory.linear.sketched_sgd_risk); the simulated mean over seeds agrees with the
   mean of the per-seed exact risks within c SE at every (M, N) (c = the t quantile of 4 normal SDs).
2. Fitted exponents, simulation vs exact theory *on the same grid* (the finite-size curvature of a
   fit on a short range is then common to both and cancels): L = E + A M^-alpha at the largest N and
   L = E + A N^-alpha at the largest M, fitted to the simulated means and to the exact means with the
   same fitter; pass iff |alpha_sim - alpha_exact| <= 4 SE, SE the standard deviation of that
   difference over a paired bootstrap of seeds (sketch and data resampled together), so the tolerance
   shrinks like 1/sqrt(S). The row counts only where it has power: when 4 SE <= |alpha_exact| / 2 (it
   could reject a simulated exponent off by half the exact one); otherwise it is reported as
   uninformative and does not count (since 2026-12-01: on the paper grid at N = 8192 the exact M-curve
   is nearly flat, alpha_exact = 10.0 with SE 4.4, and the row passed without being able to fail).
3. Exponents vs the asymptotic prediction (theory only; tolerance a quarter of the predicted exponent,
   i.e. half way to the nearest wrong law, half the exponent: 0.25 in M, 0.125 in N for a = 2; until
   2026-12-01 a fixed 0.25 for both, which in N accepted 0.25..0.75 and so could not tell 1/2 from
   its half -- power rows now check that half and double each exponent are rejected): the M term of Thm 4.1 is the approximation error Theta(M^{1-a}), so the M
   exponent is fitted to the exact approximation error of the runs' sketches (mean over seeds) and
   compared with a - 1 (a pure power law, log-log least squares: the term has no floor, it vanishes at
   M = p; 95% CI from a bootstrap over sketches); the N exponent is the fit of the exact risk at the largest M, compared with
   (a-1)/a. Measured before this design (quick grid, exact theory): the fixed-N slice L(M) at N = 2048
   gives 1.27 (1.15 with M up to 128): at finite N the SGD term also changes with M and bends that
   slice, so it is reported (row 2) but not compared with a - 1.
4. Compute-optimal frontier (min over grid points with M N <= C): its fitted slope in log C is reported
   beside the predicted -(a-1)/(a+1) = -1/3 (a ``report_row``, never counted: the grid is coarse; until
   2026-12-01 it was a check row hard-coded True).
Criteria history (CHECKS.md): the M row first compared the fixed-N slice L(M) with a - 1 (1.27 on
the quick grid) and was moved to the approximation term after that measurement.
Negative controls (``featlab falsify scaling-law-linear``): ``wrong-exponent-a3`` (the prediction is
told a = 3: the asymptotic exponent rows fail) and ``data-a3`` (the runs' spectrum is i^-3, the
prediction keeps a = 2: the M-exponent row fails).
Choices (ours): p, w*, sigma^2, gamma_0, the grids. Paper preset: p = 1000, 6 M and 7 N values, 64 seeds.
Runtime: quick trains 480 runs in 27.5 s measured on the shared 2-core machine at load ~10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.linear.analysis import agreement, run_frame
from featlab.linear.config import LinearData, LinearModel, LinearOptim, LinearSetting, LinearTrain
from featlab.linear.plots import Panel, Series, line_panels
from featlab.linear.predict import sgd_exact
from featlab.sweep import Sweep
from featlab.theory.linear import fit_power_law

Z = 4.0
EXPONENT_TOL = 0.25      # tolerance of an asymptotic exponent row, as a fraction of the predicted exponent
SEED_BOOT = 60          # paired seed-bootstrap resamples for the exponent rows


def _sweep(p: int, Ms: list[int], Ns: list[int], seeds: int) -> Sweep:
    s = LinearSetting(data=LinearData(p=p, spectrum="power", a=2.0, target="flat", sigma2=0.1),
                      model=LinearModel(name="sketch", M=Ms[0]),
                      optim=LinearOptim(name="sgd", lr=0.2, schedule="geometric"),
                      train=LinearTrain(steps=Ns[0], log_points=1))
    return Sweep(s, {"model.M": Ms, "train.steps": Ns}, seeds=seeds)


def quick() -> Sweep:
    return _sweep(400, [4, 8, 16, 32, 64], [64, 128, 256, 512, 1024, 2048], 16)


def paper() -> Sweep:
    return _sweep(1000, [8, 16, 32, 64, 128, 256], [128, 256, 512, 1024, 2048, 4096, 8192], 64)


def _alpha(x: np.ndarray, L: np.ndarray) -> float:
    return float(fit_power_law(x, L, n_boot=0).params["alpha"])


def power_row(what: str, measured: float, predicted: float) -> dict:
    """Power of an exponent row: the nearest wrong laws, half and double the predicted exponent,
    lie outside the tolerance around the measurement (|wrong - measured| > tol), so the row could
    tell them from the prediction."""
    tol = EXPONENT_TOL * predicted
    gaps = {f"{w:g}": abs(w - measured) for w in (predicted / 2, 2 * predicted)}
    return check_row(f"power of the {what} exponent row", f"|wrong - measured| > {tol:.3g} for the wrong "
                     f"exponents {predicted / 2:g} (half) and {2 * predicted:g} (double)",
                     ", ".join(f"|{w} - {measured:.3f}| = {g:.3f}" for w, g in gaps.items()),
                     all(g > tol for g in gaps.values()))


def _fit_row(what: str, x: np.ndarray, L: np.ndarray, predicted: float, source: str) -> tuple[dict, object]:
    """Asymptotic comparison: fitted alpha (bootstrap CI over grid points) within EXPONENT_TOL of ``predicted``."""
    fit = fit_power_law(x, L, n_boot=100, rng=0)
    lo, hi = fit.ci["alpha"]
    a = fit.params["alpha"]
    tol = EXPONENT_TOL * predicted
    return check_row(f"exponent in {what} vs asymptotic prediction", f"{source}: |alpha - {predicted:g}| <= {tol:.3g}",
                     f"alpha = {a:.3f} (95% CI {lo:.3f}..{hi:.3f}), E = {fit.params['E']:.3g}",
                     abs(a - predicted) <= tol), fit


def _approx_row(x: np.ndarray, approx: np.ndarray, predicted: float) -> tuple[dict, float]:
    """Asymptotic M exponent from the approximation term: a pure power law (no offset: the term vanishes
    at M = p), log-log least squares on the seed mean; 95% CI from a seed bootstrap (sketches resampled)."""
    slope = -np.polyfit(np.log(x), np.log(approx.mean(0)), 1)[0]
    gen = np.random.default_rng(0)
    S = approx.shape[0]
    boot = [-np.polyfit(np.log(x), np.log(approx[gen.integers(0, S, S)].mean(0)), 1)[0] for _ in range(200)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    tol = EXPONENT_TOL * predicted
    return check_row("exponent in M (approximation term) vs asymptotic prediction",
                     f"exact approximation error of the runs' sketches ~ M^-alpha: |alpha - {predicted:g}| <= {tol:.3g}",
                     f"alpha = {slope:.3f} (95% CI over sketches {lo:.3f}..{hi:.3f})",
                     abs(slope - predicted) <= tol), float(slope)


def _paired_exponent_row(what: str, x: np.ndarray, sim: np.ndarray, exact: np.ndarray) -> dict:
    """Row 2: sim (S, K) and exact (S, K) per seed along one axis; alpha of the seed means, paired seed bootstrap."""
    a_sim, a_ex = _alpha(x, sim.mean(0)), _alpha(x, exact.mean(0))
    n_boot = SEED_BOOT
    gen = np.random.default_rng(0)
    S = sim.shape[0]
    diffs = []
    for _ in range(n_boot):
        idx = gen.integers(0, S, S)
        diffs.append(_alpha(x, sim[idx].mean(0)) - _alpha(x, exact[idx].mean(0)))
    se = float(np.std(diffs, ddof=1))
    d = a_sim - a_ex
    name = f"exponent in {what}: simulation vs exact theory, same grid"
    crit = f"|alpha_sim - alpha_exact| <= {Z:g} SE (paired seed bootstrap, {n_boot} resamples)"
    value = (f"alpha_sim = {a_sim:.3f}, alpha_exact = {a_ex:.3f}, diff = {d:+.3f}, SE = {se:.3f} "
             f"({abs(d) / se if se > 0 else np.inf:.2f} SE)")
    if not Z * se <= abs(a_ex) / 2:     # could not reject a simulation off by half the exact exponent
        return report_row(name, crit + f"; counted only when {Z:g} SE <= |alpha_exact| / 2",
                          value + f": uninformative ({Z:g} SE > |alpha_exact| / 2: too few seeds, or a nearly "
                          "flat curve), not counted")
    return check_row(name, crit + f"; counted only when {Z:g} SE <= |alpha_exact| / 2", value, abs(d) <= Z * se)


def analyze(ctx: Context) -> Analysis:
    f = run_frame(ctx)
    f = f[f["status"] == "done"]
    a = f["setting"].iloc[0].data.a
    a_pred = float(ctx.theory.get("a", a))           # the spectrum exponent the prediction is told
    Ms, Ns = sorted(f["model.M"].unique()), sorted(f["train.steps"].unique())
    S = int(f.groupby(["model.M", "train.steps"]).size().min())
    sim_s = np.full((S, len(Ms), len(Ns)), np.nan)                          # per seed (first S seeds)
    exact_s = np.full_like(sim_s, np.nan)
    approx_s = np.full((S, len(Ms)), np.nan)
    per_point = []
    rows = []
    for (M, N), g in f.groupby(["model.M", "train.steps"]):
        g = g.sort_values("seed").iloc[:S]
        th = sgd_exact(g["setting"].iloc[0], g["seed"].tolist())
        i, j = Ms.index(M), Ns.index(N)
        sim_s[:, i, j], exact_s[:, i, j] = g["excess_risk"].to_numpy(), th["excess_risk"][:, -1]
        approx_s[:, i] = th["approx"][:, -1]
        per_point.append((g["excess_risk"].to_numpy(), th["excess_risk"][:, -1]))
    sim, exact = sim_s.mean(0), exact_s.mean(0)
    # sim and exact share the sketches: compare seed-paired means of (sim - exact) with 0
    diffs = np.stack([s - t for s, t in per_point], axis=1)               # (S, K)
    base = np.array([t.mean() for _, t in per_point])
    agr = agreement(diffs + base, base, Z)
    rows.append(check_row("simulation vs exact recursion (each run's own sketch)",
                          "mean within c SE at every (M, N); tolerance shrinks ~ 1/sqrt(S)", agr.describe(),
                          agr.passed))
    xM, xN = np.array(Ms, float), np.array(Ns, float)
    rows.append(_paired_exponent_row(f"M at N = {Ns[-1]}", xM, sim_s[:, :, -1], exact_s[:, :, -1]))
    rows.append(_paired_exponent_row(f"N at M = {Ms[-1]}", xN, sim_s[:, -1, :], exact_s[:, -1, :]))
    row_m, slope_m = _approx_row(xM, approx_s, a_pred - 1)
    row_n, fit_n = _fit_row(f"N at M = {Ms[-1]}", xN, exact[-1, :], (a_pred - 1) / a_pred, "exact risk")
    rows += [row_m, power_row("M (approximation term)", slope_m, a_pred - 1), row_n,
             power_row(f"N at M = {Ms[-1]}", float(fit_n.params["alpha"]), (a_pred - 1) / a_pred)]
    slice_m = fit_power_law(xM, exact[:, -1], n_boot=0)
    # compute-optimal frontier
    C = np.outer(Ms, Ns)
    Cs = np.unique(C)
    frontier = np.array([exact[C <= c].min() for c in Cs])
    slope = np.polyfit(np.log(Cs[len(Cs) // 3:]), np.log(frontier[len(Cs) // 3:]), 1)[0]
    rows.append(report_row("compute-optimal frontier slope", f"~ -(a-1)/(a+1) = {-(a_pred - 1) / (a_pred + 1):.3g}",
                           f"{slope:.3g} (upper two thirds of C)"))
    panels = [
        Panel(f"risk vs M (N = {Ns[-1]})", "M (sketch size)", "excess risk", [
            Series("simulation", Ms, sim[:, -1], kind="points", color=0),
            Series("exact (mean over sketches)", Ms, exact[:, -1], color=1),
            Series(f"slice fit: alpha = {slice_m.params['alpha']:.2f}", Ms, slice_m.predict(Ms), kind="dashed", color=2),
            Series("approximation error (exact)", Ms, approx_s.mean(0), color=4),
            Series(f"its fit: alpha = {slope_m:.2f}", Ms, approx_s.mean(0)[0] * (xM / xM[0]) ** -slope_m,
                   kind="dashed", color=5)]),
        Panel(f"risk vs N (M = {Ms[-1]})", "N (samples)", "excess risk", [
            Series("simulation", Ns, sim[-1, :], kind="points", color=0),
            Series("exact (mean over sketches)", Ns, exact[-1, :], color=1),
            Series(f"fit: alpha = {fit_n.params['alpha']:.2f}", Ns, fit_n.predict(Ns), kind="dashed", color=2)]),
        Panel("compute-optimal frontier", "compute C = M N", "min excess risk", [
            Series("frontier (exact)", Cs, frontier, color=1),
            Series(f"C^-{(a - 1) / (a + 1):.2f} (Lin et al.)", Cs, frontier[-1] * (Cs / Cs[-1]) ** (-(a - 1) / (a + 1)),
                   kind="dashed", color=3)]),
    ]
    fig = line_panels(panels, ctx.out_dir / "scaling.png", title=f"Sketched linear regression, lambda_i = i^-{a:g} ({ctx.preset})")
    table = pd.DataFrame([{"M": M, "N": N, "sim": sim[i, j], "exact": exact[i, j], "approx": approx_s[:, i].mean()}
                          for i, M in enumerate(Ms) for j, N in enumerate(Ns)])
    return Analysis.from_rows(rows,
                    figures=[("Excess risk vs M and N, fitted power laws, compute-optimal frontier.", fig)],
                    tables=[("Excess risk per (M, N)", table)])


CRITERIA = (f"Simulated mean within c SE of the exact per-sketch recursion at every (M, N) (c: t quantile of {Z:g} "
            f"normal SDs). Fitted exponents in M (largest N) and N (largest M): |alpha_sim - alpha_exact| <= {Z:g} SE "
            f"of a paired seed bootstrap. Asymptotic: the exact approximation term's M exponent within "
            f"{EXPONENT_TOL:g} x (a - 1) of a - 1, the exact risk's N exponent within {EXPONENT_TOL:g} x (a-1)/a of "
            f"(a-1)/a (a quarter of the exponent: half way to the nearest wrong law, half the exponent), and (power) "
            f"half and double each predicted exponent lie beyond that tolerance from the measurement. The "
            f"compute-optimal frontier slope is reported only.")

CONTROLS = (
    Control("wrong-exponent-a3", "the prediction is told a = 3 (exponents 2 in M and 2/3 in N) for data with "
            "a = 2; the asymptotic exponent rows must fail", theory={"a": 3.0}),
    Control("data-a3", "the runs' spectrum is lambda_i = i^-3 while the prediction keeps a = 2; the asymptotic "
            "M-exponent row must fail (the approximation term decays like M^-2)",
            sweep=lambda s: s.with_overrides({"data.a": 3.0}), theory={"a": 2.0}),
)


EXPERIMENT = Experiment(
    name="scaling-law-linear",
    paper="Lin, Wu, Kakade, Bartlett, Lee, NeurIPS 2024 (arXiv 2406.08466)",
    figure="Fig. 1 / Thm 4.1: risk in (M, N) for lambda_i ~ i^-a",
    claim="Sketched linear regression trained by one-pass SGD has excess risk ~ M^-(a-1) + N^-(a-1)/a: "
          "simulation matches the exact per-sketch recursion, its fitted exponents match those of the exact "
          "theory on the same grid, and the theory's exponents match the asymptotic prediction.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: ~30 s training (shared machine); paper: ~10 min",
    controls=CONTROLS,
    criteria=CRITERIA,
)
