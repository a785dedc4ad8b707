r"""sgd-vs-ridge: best-tuned one-pass SGD vs best-tuned ridge across sample sizes; the sample inflation.

Paper: Zou, Wu, Braverman, Gu, Foster, Kakade, "The Benefits of Implicit Regularization from SGD in
Least Squares Problems", NeurIPS 2021 (arXiv 2108.04552). Claims (abstract): (1) for every problem
instance and every ridge penalty, averaged one-pass SGD with a tuned constant step, given
*logarithmically* more samples than ridge, is no worse than ridge; (2) there are instances where
optimally tuned ridge needs *quadratically* more samples than SGD. Their figures plot, per spectrum,
the SGD sample size needed to match ridge against the ridge sample size (not reproduced point by point).

Here (theory = exact, simulation = featlab.linear.simulate):
* SGD: Polyak average :math:`\bar w_N = \frac1{N+1}\sum_{t\le N} w_t` of constant-step one-pass SGD from 0,
  batch 1; its exact expected excess risk by the second-moment recursion, for every N and every step in
  a grid of 12 log-spaced steps from 1e-3 x to 1 x 1/(3 tr H) (Zou et al.'s step condition
  gamma < 1/(alpha tr H), alpha = 3 for Gaussian x); tuned = the minimum over the grid at each N
  (featlab.linear.compare.sgd_tuned_curves). A first version tuned up to 0.9 of the mean-square
  stability limit: there the risk over seeds is heavy-tailed and 24 seeds gave 5.1 SE at gamma = 0.55.
* Ridge: the deterministic equivalent (featlab.theory.linear.ridge_equivalent), tuned over 25 penalties
  log-spaced in [1e-7, 10] at each n.
* Sample inflation: for each ridge sample size n, the SGD samples N with R_sgd(N) = R_ridge(n) (log-log
  interpolation), reported as N/n; and conversely n_ridge/N for each SGD sample size N.

Claims checked, per spectrum (quick: ``power`` p = 200, lambda_i = i^-2, w*_i = 1, sigma^2 = 0.1;
``spiked`` p = 400, 10 eigenvalues 1 and 390 equal to 1e-3, w* flat with ||w*||^2 = 1, sigma^2 = 0.1):
1. Exactness of the SGD theory: simulated averaged-iterate risk at the simulated steps (those tuned
   at N = 64, 256, 1024) agrees with the exact recursion within c SE at every logged N (c: the t quantile
   of 4 normal SDs, tolerance shrinking like 1/sqrt(S)).
2. Ridge theory: simulated ridge at the DE-tuned penalty for n = 16, 64, 256, 1024 agrees with the
   deterministic equivalent within c SE + 5% relative (the equivalent is asymptotic; 5% is the stated
   allowance for its finite-n error at these effective dimensions, not fitted to this run).
3. Claim (1): SGD's sample inflation N/n over n = 16..n_max grows at most logarithmically: the ratio
   (N/n) / log n never exceeds 1.25 x its value at n = 16 (bounded, as for N/n = C log n). Over the
   1.2-1.8 decades of n used here this excludes polynomial inflation n^c with c >~ 0.4 (n^0.5 gives 1.9
   on n = 16..234), not c ~ 0.2. Measured on ``power``: N/n = 2.8 log n within 4% for n = 16..857 (theory).
   (First version: slope of log(N/n) vs log(log n) <= 1 -- exactly-logarithmic growth sits on that
   boundary; it read 1.01 on n <= 256 after the step grid was restricted to Zou et al.'s range.)
   Power (checked, added 2026-12-01): on the n range used, the same criterion must reject a
   polynomial inflation N/n ~ n^c for every c >= 1/2 (the smallest rejected c is reported; about
   0.3 on quick's n = 16..857).
4. Claim (2) (reported on the two spectra above): ridge's inflation n_ridge/N over N = 16..1024 and its
   slope in log N. On these two spectra ridge is *not* polynomially worse against the Polyak average.
   These rows are ``report_row`` s (they were check rows hard-coded True until 2026-12-01).
5. Claim (2), checked on a separating instance derived here (exact theory on both sides): lambda_i = 1/i,
   w* = e_1 (all of the signal on the top direction), sigma^2 = 1, p = 2000 (quick) / 4000 (paper), and
   SGD with *tail* averaging (the mean of the second half of the iterates, w_{N/2}..w_{N-1}; exact by
   featlab.theory.linear.sgd_averaged_risk, tested against Monte Carlo). Why it separates: tail-averaged
   SGD's bias on a top direction decays like exp(-N gamma lambda_1), while tuned ridge pays
   lambda_reg^2 / lambda_1 there and sigma^2 df(lambda_reg) / n ~ 1/(lambda_reg n) in variance on a 1/i
   spectrum, so its risk decays like n^-2/3 against SGD's ~ log N / N: n_ridge ~ N^{3/2} up to logs.
   Both theories are also checked against simulation on this instance: tail-averaged SGD at the
   steps tuned for N = 1024 and 4096 (the simulator's ``excess_risk_tail``, every logged N, c SE) and
   tuned ridge at n = 256, 1024 (c SE + 5%, as in item 2).
   The check: ridge's inflation still grows faster than logarithmically at the largest N, i.e. over
   the upper half of the N range (log scale, N >= sqrt(N_min N_max)) the least-squares slope of
   log((n_ridge/N) / log N) against log N is >= 0.1 (0 for pure log growth, < 0 for a saturating
   inflation; the N^{3/2} heuristic gives up to 1/2). Both sides are tuned: SGD over 16
   constant steps (1e-3..1 x 1/(3 tr H)), ridge over 181 penalties (20 per decade, 1e-8..10), so a
   coarse grid cannot manufacture the gap in ridge's disfavour. Against the Polyak average (item 4's
   iterate) the same instance gives n_ridge/N of only ~1.2-1.45 (theory, measured while deriving it):
   the gap is a property of tail averaging, whose use in the paper is recalled, not verified. History
   (choices made after seeing numbers): the first criterion mirrored claim 1's, max (n/N)/log N >=
   1.25 x its first value, on N = 64..1024; tail averaging read 1.29 there, and the Polyak control
   also "passed" (1.71) because its inflation rises from 0.47 to 1.28 and then saturates. The
   criterion above (upper half of the range, N = 64..4096 in both presets) separates them: tail
   averaging 0.23 (p = 2000) / 0.21 (p = 4000), Polyak -0.09; tests/test_linear_experiments2.py
   keeps the Polyak control failing. Second search (search tool): the
   paper's full text is stored (SPIQA copies of 2108.04552v2) but indexed only up to the abstract, so
   the theorem's instance was not reachable; a third-party reproduction repository (not the paper) uses
   lambda_i in {i^-1, i^-2} x w*_i in {1, i^-1, i^-10} and second-half (tail) averaging for the figure.
   Third search: the instance was still not found (only a 2025 follow-up's abstract: "ridge can be
   polynomially worse even when tuned optimally"), hence the derived instance of item 5.
Negative controls (``featlab falsify sgd-vs-ridge``): ``last-iterate-sgd`` (claim 1's theory with
SGD's last iterate: its inflation grows polynomially on the power law, claim 1's row fails),
``polyak-not-tail`` (the Polyak average on the separating instance: the separation row fails) and
``noisier-data`` (the runs see twice the label noise the theory is told: the sim-vs-theory rows fail).
Presets: ``quick`` (above; 32 seeds); ``paper``: p doubled, n up to 4096, 128 seeds.
Choices (ours): spectra, targets, noise, grids, the averaged iterate (Zou et al.'s) rather than the last.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.linear.analysis import agreement, run_frame
from featlab.linear.compare import ridge_tuned_curves, sample_inflation, sgd_step_grid, sgd_tuned_curves
from featlab.linear.config import LinearData, LinearOptim, LinearSetting, LinearTrain, spectrum, target
from featlab.linear.plots import tuned_comparison_figure
from featlab.sweep import Sweep
from featlab.theory.linear.sgd_risk import sgd_averaged_risk

Z = 4.0
DE_ALLOWANCE = 0.05
#: Claim (2)'s separating instance (item 5): p and the SGD sample sizes N per preset.
SEPARATION = {"quick": (2000, (64, 128, 256, 512, 1024, 2048, 4096)),
              "paper": (4000, (64, 128, 256, 512, 1024, 2048, 4096))}
SEPARATION_SLOPE = 0.1       # min slope of log((n_ridge/N)/log N) vs log N over the upper half of N
SEPARATION_REGS = np.geomspace(1e-8, 10.0, 181)
RIDGE_REGS = np.geomspace(1e-7, 10.0, 25)
CASE = ("data.spectrum", "data.p", "data.a", "data.spikes", "data.tail", "data.target", "data.r2",
        "data.sigma2", "optim.name", "optim.lr", "optim.lam_reg", "data.n", "train.steps")
#: Simulated points on the separating instance: tail-tuned SGD at these N, tuned ridge at these n.
SEPARATION_SIM = {"sgd_N": (1024, 4096), "ridge_n": (256, 1024)}


def _instances(scale: int) -> dict[str, LinearData]:
    return {"power": LinearData(p=200 * scale, spectrum="power", a=2.0, target="flat", sigma2=0.1),
            "spiked": LinearData(p=400 * scale, spectrum="spiked", spikes=10, spike=1.0, tail=1e-3,
                                 target="flat", r2=1.0, sigma2=0.1)}


GROWTH_MAX = 1.25           # claim 1: max (N/n)/log n <= 1.25 x its value at the smallest n
POWER_C = 0.5               # claim 1's power: the criterion must reject N/n ~ n^c for this c


@functools.lru_cache(maxsize=8)
def _theory(data: LinearData, n_max: int, iterate: str = "avg") -> dict:
    """Tuned SGD curve (N = 1..64 n_max: SGD's inflation reaches ~2.8 log n ~ 23 at n ~ 4000 on
    the power law, so 16 n_max was too short for the paper preset) and tuned ridge curves
    (coarse n grid up to 64 n_max). ``iterate``: SGD's averaged (``avg``) or last iterate (a control)."""
    lam, w = spectrum(data), target(data)
    sgd = sgd_tuned_curves(lam, w, data.sigma2, sgd_step_grid(lam, 12, 1e-3), 64 * n_max, iterate=iterate)
    ns = np.unique(np.geomspace(4, 64 * n_max, 48).astype(int))
    ridge = ridge_tuned_curves(lam, w, data.sigma2, ns, RIDGE_REGS)
    return {"sgd": sgd, "ridge": ridge}


def _points(data: LinearData, ns: list[int]) -> list[tuple]:
    lam, w = spectrum(data), target(data)
    sgd = sgd_tuned_curves(lam, w, data.sigma2, sgd_step_grid(lam, 12, 1e-3), max(ns))   # tuning only
    base = (data.spectrum, data.p, data.a, data.spikes, data.tail, data.target, data.r2, data.sigma2)
    steps = sorted({round(float(sgd.params[sgd.argbest[n - 1]]), 8) for n in ns if n >= 64})
    out = [base + ("sgd", g, 0.0, 100, max(ns)) for g in steps]
    for n in ns:
        best = ridge_tuned_curves(lam, w, data.sigma2, [n], RIDGE_REGS).argbest[0]
        out.append(base + ("ridge", 0.1, round(float(RIDGE_REGS[best]), 10), n, 1))
    return out


def separating_instance(p: int) -> LinearData:
    """Claim (2)'s instance (item 5): lambda_i = 1/i, w* = e_1, sigma^2 = 1."""
    return LinearData(p=p, spectrum="power", a=1.0, target="first", sigma2=1.0)


def _separation_points(preset: str) -> list[tuple]:
    """Tail-tuned SGD (one run of max N steps per tuned step) and DE-tuned ridge on the instance."""
    p, Ns = SEPARATION[preset]
    data = separating_instance(p)
    sep = _separation(p, Ns, True)
    base = (data.spectrum, data.p, data.a, data.spikes, data.tail, data.target, data.r2, data.sigma2)
    T = max(SEPARATION_SIM["sgd_N"])
    gammas = sorted({round(float(sep["gamma"][list(Ns).index(N)]), 8) for N in SEPARATION_SIM["sgd_N"]})
    out = [base + ("sgd", g, 0.0, 100, T) for g in gammas]
    lam, w = spectrum(data), target(data)
    for n in SEPARATION_SIM["ridge_n"]:
        best = ridge_tuned_curves(lam, w, 1.0, [n], SEPARATION_REGS).argbest[0]
        out.append(base + ("ridge", 0.1, round(float(SEPARATION_REGS[best]), 12), n, 1))
    return out


def _sweep(scale: int, ns: list[int], seeds: int, preset: str) -> Sweep:
    inst = _instances(scale)
    points = [pt for d in inst.values() for pt in _points(d, ns)] + _separation_points(preset)
    s = LinearSetting(data=inst["power"], optim=LinearOptim(name="sgd", lr=0.1),
                      train=LinearTrain(steps=max(ns), log_points=16))
    return Sweep(s, {",".join(CASE): points}, seeds=seeds)


def quick() -> Sweep:
    return _sweep(1, [16, 64, 256, 1024], 32, "quick")


def paper() -> Sweep:
    return _sweep(2, [16, 64, 256, 1024, 4096], 128, "paper")


def _instance_of(setting: LinearSetting) -> str:
    if setting.data.target == "first":
        return "separating"
    return "spiked" if setting.data.spectrum == "spiked" else "power"


def _noise(ctx: Context, data: LinearData) -> float:
    """The noise level the theory is computed for: the run's own (a control may state another)."""
    return data.sigma2 * float(ctx.theory.get("sigma2_scale", 1.0))


def _tail_rows(ctx: Context, f: pd.DataFrame) -> list:
    """Separating instance: simulated tail-averaged SGD vs its exact recursion, per simulated step."""
    g = f[f["optim.name"] == "sgd"]
    metrics = ctx.store.metrics(ctx.sweep_id, ["excess_risk_tail"]).merge(g[["run_id", "seed", "optim.lr"]],
                                                                           on="run_id")
    data = g["setting"].iloc[0].data
    lam, w = spectrum(data), target(data)
    rows = []
    for lr, m in metrics.groupby("optim.lr"):
        wide = m.pivot(index="seed", columns="step", values="value").sort_index()
        steps = np.array([t for t in wide.columns if t >= 1])
        exact = np.array([sgd_averaged_risk(lam, w, _noise(ctx, data), np.full(t + 1, lr), (t + 1) // 2,
                                            t + 1 - (t + 1) // 2) for t in steps])
        agr = agreement(wide[steps].to_numpy(), exact, Z)
        rows.append(check_row(f"separating: SGD (gamma = {lr:.3g}) tail average, sim vs exact recursion",
                              f"within c SE at every logged N (c = t quantile of {Z:g} SDs)", agr.describe(),
                              agr.passed))
    return rows


def _sgd_rows(ctx: Context, f: pd.DataFrame, name: str, th: dict) -> tuple[list, list]:
    """Claim 1 for one instance; returns (rows, sim points (N, mean, lo, hi) at the tuned step)."""
    g = f[f["optim.name"] == "sgd"]
    metrics = ctx.store.metrics(ctx.sweep_id, ["excess_risk_avg"]).merge(g[["run_id", "seed", "optim.lr"]],
                                                                          on="run_id")
    rows, pts = [], []
    sgd = th["sgd"]
    for lr, m in metrics.groupby("optim.lr"):
        wide = m.pivot(index="seed", columns="step", values="value").sort_index()
        steps = wide.columns.to_numpy()
        steps = steps[steps >= 1]
        sim = wide[steps].to_numpy()                                            # (S, K)
        k = int(np.argmin(np.abs(sgd.params - lr)))                            # this step in the tuning grid
        s0 = g["setting"].iloc[0].data
        exact = sgd_tuned_curves(spectrum(s0), target(s0), _noise(ctx, s0), [lr], int(steps.max())).risk[0, steps - 1]
        agr = agreement(sim, exact, Z)
        rows.append(check_row(f"{name}: SGD (gamma = {lr:.3g}) averaged iterate, sim vs exact recursion",
                              f"within c SE at every logged N (c = t quantile of {Z:g} SDs)", agr.describe(),
                              agr.passed))
        tuned_here = steps[sgd.argbest[steps - 1] == k]
        for N in tuned_here:
            col = sim[:, list(steps).index(N)]
            se = col.std(ddof=1) / np.sqrt(len(col))
            pts.append((N, col.mean(), col.mean() - 1.96 * se, col.mean() + 1.96 * se))
    return rows, sorted(pts)


def _ridge_rows(ctx: Context, f: pd.DataFrame, name: str) -> tuple[list, list]:
    g = f[f["optim.name"] == "ridge"]
    sims, des, pts = [], [], []
    for n, gg in g.groupby("data.n"):
        s = gg["setting"].iloc[0]
        lam, w = spectrum(s.data), target(s.data)
        de = ridge_tuned_curves(lam, w, _noise(ctx, s.data), [int(n)], [s.optim.lam_reg]).best[0]
        r = gg.sort_values("seed")["excess_risk"].to_numpy()
        sims.append(r)
        des.append(de)
        se = r.std(ddof=1) / np.sqrt(len(r))
        pts.append((int(n), r.mean(), r.mean() - 1.96 * se, r.mean() + 1.96 * se))
    S = min(len(r) for r in sims)
    sim = np.stack([r[:S] for r in sims], axis=1)                               # (S, K)
    de = np.array(des)
    agr = agreement(sim, de, Z)
    se = sim.std(0, ddof=1) / np.sqrt(S)
    rel = np.abs(sim.mean(0) - de) / de
    tol = agr.z * se / de + DE_ALLOWANCE
    row = check_row(f"{name}: tuned ridge, sim vs deterministic equivalent",
                    f"rel. error <= c SE/risk + {DE_ALLOWANCE:g} at every n (asymptotic theory)",
                    f"max rel. error {rel.max():.3g} (tolerance there {tol[rel.argmax()]:.3g}); "
                    f"max |mean - DE|/SE = {agr.max_z:.2f}", bool(np.all(rel <= tol)))
    return [row], pts


def rejected_power(ns: np.ndarray, growth_max: float = GROWTH_MAX) -> float:
    """The smallest c for which a polynomial inflation N/n = C n^c over ``ns`` fails claim 1's
    criterion max_n (N/n)/log n > growth_max x its value at ns[0] (inf if none up to c = 4)."""
    ns = np.asarray(ns, float)
    cs = np.linspace(0.0, 4.0, 4001)[:, None]                                   # (C, 1)
    ratio = (ns / ns[0]) ** cs * np.log(ns[0]) / np.log(ns)                     # (C, K)
    bad = np.max(ratio, axis=1) > growth_max
    return float(cs[np.argmax(bad), 0]) if bad.any() else np.inf


def _inflation_rows(name: str, th: dict, n_lo: int, n_hi: int) -> tuple[list, dict]:
    sgd, ridge = th["sgd"], th["ridge"]
    ns = ridge.n[(ridge.n >= n_lo) & (ridge.n <= n_hi)]
    r_ridge = ridge.best[(ridge.n >= n_lo) & (ridge.n <= n_hi)]
    infl_sgd = sample_inflation(ns, r_ridge, sgd.n, sgd.best)                  # N_sgd / n
    Ns = ns
    infl_ridge = sample_inflation(Ns, sgd.best[Ns - 1], ridge.n, ridge.best)   # n_ridge / N
    ok = np.isfinite(infl_sgd)
    per_log = infl_sgd / np.log(ns)                                             # (N/n) / log n
    growth = float(np.max(per_log) / per_log[0]) if ok.all() else np.inf
    rows = [check_row(f"{name}: SGD samples to match tuned ridge (Zou et al. claim 1)",
                      f"N_sgd/n grows at most like log n: max (N/n)/log n <= {GROWTH_MAX:g} x its value at the smallest n",
                      f"N_sgd/n = {infl_sgd[0]:.3g} at n = {ns[0]} .. {infl_sgd[-1]:.3g} at n = {ns[-1]} "
                      f"(max {np.max(infl_sgd):.3g}); (N/n)/log n from {per_log[0]:.3g}, max/first = {growth:.3g}",
                      bool(ok.all() and growth <= GROWTH_MAX))]
    c_min = rejected_power(ns)
    rows.append(check_row(f"{name}: power of claim 1's criterion on n = {ns[0]}..{ns[-1]}",
                          f"a polynomial inflation N/n ~ n^c fails the {GROWTH_MAX:g} bound for c >= {POWER_C:g}",
                          f"smallest rejected c = {c_min:.3g}", c_min <= POWER_C))
    okr = np.isfinite(infl_ridge)
    rslope = np.polyfit(np.log(Ns[okr]), np.log(infl_ridge[okr]), 1)[0] if okr.sum() >= 3 else np.nan
    rows.append(report_row(f"{name}: ridge samples to match tuned SGD (claim 2)",
                           "polynomially more on some spectra (not expected on every spectrum)",
                           f"n_ridge/N = {infl_ridge[0]:.3g} at N = {Ns[0]} .. {infl_ridge[-1]:.3g} at N = {Ns[-1]} "
                           f"(max {np.nanmax(infl_ridge):.3g}); slope in log N {rslope:.3f}"))
    return rows, {"n": ns, "sgd_over_ridge": infl_sgd, "ridge_over_sgd": infl_ridge}


@functools.lru_cache(maxsize=4)
def _separation(p: int, Ns: tuple[int, ...], tail: bool = True) -> dict:
    """Tuned tail-averaged SGD at each N (``tail=False``: the Polyak average of w_0..w_{N-1}) and the
    tuned-ridge sample size that matches it (exact theory)."""
    lam = 1.0 / np.arange(1, p + 1, dtype=np.float64)
    w = np.zeros(p)
    w[0] = 1.0
    gammas = sgd_step_grid(lam, 16, 1e-3)                                   # (G,)
    G = len(gammas)
    lam_g, w_g = np.tile(lam, (G, 1)), np.tile(w, (G, 1))                   # (G, p): one row per step
    start = (lambda N: N // 2) if tail else (lambda N: 0)  # noqa: E731
    curves = np.array([sgd_averaged_risk(lam_g, w_g, np.ones(G), np.repeat(gammas[:, None], N, 1),
                                         start(N), N - start(N)) for N in Ns])          # (K, G)
    sgd = curves.min(1)
    ns = np.unique(np.geomspace(4, 256 * max(Ns), 96).astype(int))
    ridge = ridge_tuned_curves(lam, w, 1.0, ns, SEPARATION_REGS)
    return {"N": np.array(Ns), "sgd": sgd, "gamma": gammas[curves.argmin(1)], "ridge_n": ns, "ridge": ridge.best,
            "lam_reg": ridge.params[ridge.argbest],
            "inflation": sample_inflation(np.array(Ns), sgd, ridge.n, ridge.best)}


def _separation_row(preset: str, tail: bool = True) -> dict:
    p, Ns = SEPARATION.get(preset, SEPARATION["quick"])
    sep = _separation(p, Ns, tail)
    infl, N = sep["inflation"], sep["N"]
    upper = N >= np.sqrt(N.min() * N.max())
    finite = bool(np.isfinite(infl).all())
    slope = float(np.polyfit(np.log(N[upper]), np.log(infl[upper] / np.log(N[upper])), 1)[0]) if finite else np.nan
    what = "tail-averaged" if tail else "Polyak-averaged"
    return check_row(f"1/i spectrum, w* = e_1 (p = {p}): ridge samples to match {what} SGD (claim 2, exact theory)",
                     f"faster than logarithmic at large N: slope of log((n_ridge/N)/log N) vs log N over "
                     f"N >= {int(N[upper].min())} is >= {SEPARATION_SLOPE:g}",
                     "n_ridge/N = " + ", ".join(f"{x:.3g} (N = {n})" for x, n in zip(infl, N))
                     + f"; slope {slope:.3f}", bool(finite and slope >= SEPARATION_SLOPE))


def _separation_table(preset: str) -> pd.DataFrame:
    p, Ns = SEPARATION.get(preset, SEPARATION["quick"])
    tail, polyak = _separation(p, Ns, True), _separation(p, Ns, False)
    return pd.DataFrame({"N (SGD samples)": tail["N"], "tuned tail-averaged SGD risk": tail["sgd"],
                         "n_ridge/N (tail)": tail["inflation"], "tuned Polyak SGD risk": polyak["sgd"],
                         "n_ridge/N (Polyak)": polyak["inflation"]})


def analyze(ctx: Context) -> Analysis:
    f = run_frame(ctx)
    f = f[f["status"] == "done"].copy()
    f["optim.name"] = [s.optim.name for s in f["setting"]]
    f["optim.lr"] = [s.optim.lr for s in f["setting"]]
    f["data.n"] = [s.data.n for s in f["setting"]]
    f["instance"] = [_instance_of(s) for s in f["setting"]]
    main = f[f["instance"] != "separating"]                  # the separating instance has its own N range
    n_max = int(max(s.train.steps for s in main["setting"]))
    n_lo = int(main.loc[main["optim.name"] == "ridge", "data.n"].min())
    rows, curves, table = [], [], []
    for name, g in f.groupby("instance", sort=False):
        if name == "separating":
            rows += _tail_rows(ctx, g) + _ridge_rows(ctx, g, name)[0]
            continue
        data = g["setting"].iloc[0].data
        th = _theory(data, n_max)
        r1, sgd_pts = _sgd_rows(ctx, g, name, th)
        r2, ridge_pts = _ridge_rows(ctx, g, name)
        if ctx.theory.get("sgd_iterate", "avg") != "avg":               # control: another SGD iterate
            th = _theory(data, n_max, ctx.theory["sgd_iterate"])
        r3, infl = _inflation_rows(name, th, n_lo, n_max)
        rows += r1 + r2 + r3
        curves.append({"name": name, "theory": th, "sgd_pts": sgd_pts, "ridge_pts": ridge_pts, "infl": infl,
                       "n_max": n_max})
        for k, n in enumerate(infl["n"]):
            table.append({"instance": name, "n": int(n), "tuned ridge (DE)": th["ridge"].best[list(th["ridge"].n).index(n)],
                          "tuned SGD (exact)": th["sgd"].best[n - 1], "N_sgd/n": infl["sgd_over_ridge"][k],
                          "n_ridge/N": infl["ridge_over_sgd"][k],
                          "best gamma": th["sgd"].params[th["sgd"].argbest[n - 1]]})
    rows.append(_separation_row(ctx.preset, tail=ctx.theory.get("separation_average", "tail") == "tail"))
    fig = tuned_comparison_figure(curves, ctx.out_dir / "sgd_vs_ridge.png",
                                  title=f"Tuned SGD vs tuned ridge ({ctx.preset})")
    return Analysis.from_rows(rows,
                    figures=[("Top: tuned excess risk vs samples (theory lines, simulation points with 95% CI). "
                              "Bottom: sample inflation of each method to match the other.", fig)],
                    tables=[("Tuned risks and sample inflation (theory)", pd.DataFrame(table)),
                            ("Claim (2) on the separating instance (exact theory)", _separation_table(ctx.preset))])


def _noisier(factor: float):
    """The main spectra's simulated points with label noise x ``factor`` (steps and penalties as
    tuned; the separating instance's large-p points are left out to keep the control cheap)."""
    k, t = CASE.index("data.sigma2"), CASE.index("data.target")

    def broken(sweep: Sweep) -> Sweep:
        key, points = sweep.grid[0]
        return sweep.with_grid({key: [pt[:k] + (pt[k] * factor,) + pt[k + 1:] for pt in points
                                      if pt[t] != "first"]})
    return broken


CRITERIA = ("Exactness: simulated averaged (and, on the separating instance, tail-averaged) SGD within c SE of "
            "the exact recursion at every logged N (c: t quantile of 4 normal SDs); simulated tuned ridge within "
            f"c SE + {DE_ALLOWANCE:g} relative of the deterministic equivalent. Claim 1, per spectrum: max over "
            f"n of (N_sgd/n)/log n <= {GROWTH_MAX:g} x its value at the smallest n, and (power) that criterion "
            f"rejects a polynomial inflation N/n ~ n^c for every c >= {POWER_C:g} on the n range used. Claim 2 on "
            "the separating instance (1/i spectrum, w* = e_1, exact theory): the slope of log((n_ridge/N)/log N) "
            f"vs log N over the upper half of N is >= {SEPARATION_SLOPE:g}. Claim 2 on the two main spectra is "
            "reported only.")

CONTROLS = (
    Control("last-iterate-sgd", "SGD's last iterate (no averaging) in place of the average in claim 1's "
            "theory: its inflation over ridge grows polynomially on the power law, so claim 1's row must fail",
            theory={"sgd_iterate": "last"}),
    Control("polyak-not-tail", "the Polyak average in place of the tail average on the separating instance: "
            "ridge's inflation saturates, so the claim-2 separation row must fail",
            theory={"separation_average": "polyak"}),
    Control("noisier-data", "the main spectra's runs with twice the label noise, the theory computed for the "
            "stated noise; the sim-vs-exact rows (SGD and ridge) must fail",
            sweep=_noisier(2.0), theory={"sigma2_scale": 0.5}),
)


EXPERIMENT = Experiment(
    name="sgd-vs-ridge",
    paper="Zou, Wu, Braverman, Gu, Foster, Kakade, NeurIPS 2021 (arXiv 2108.04552)",
    figure="tuned SGD vs tuned ridge: samples needed by each to match the other",
    claim="Averaged one-pass SGD with a tuned constant step needs at most logarithmically more samples than "
          "optimally tuned ridge (theory exact, simulation within c SE); on a 1/i spectrum with w* = e_1, tuned "
          "ridge needs more than logarithmically (polynomially) more samples than tail-averaged SGD.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: ~30 s; paper: ~10 min",
    controls=CONTROLS,
    criteria=CRITERIA,
)
