r"""Testing a phase boundary's *law*, not just its monotonicity.

A benign/harmful theorem predicts a boundary curve. On a phase grid (x = signal strength such
as \|\mu\| or SNR, y = d or n) it is a power law x_b(y) \propto y^s with a predicted exponent
s (Kou et al. 2023: \|\mu\| \propto d^{1/4}; Cao et al. 2022: SNR \propto n^{-1/q}; Huang et
al. 2025: SNR \propto n^{-1/2}). The test:

1. **Estimate.** The measured threshold contour: for each row y_k, the x where the cell mean
   of the metric first falls to the threshold (:func:`~featlab.theory.signal_noise.contour_crossings`);
   \hat s is the least-squares slope of log x_b on log y (:func:`~featlab.theory.signal_noise.loglog_slope`).
2. **Standard error by a seed bootstrap.** Seeds are resampled with replacement, the *same*
   resampled seeds in every cell (runs with one seed share data draws across cells, so cells are
   correlated and must be resampled jointly), cell means and the slope are recomputed; SE =
   the bootstrap standard deviation of \hat s (:func:`seed_bootstrap_slope`).
3. **Interval.** PASS iff |\hat s - s| <= tol, tol = z SE + delta: z standard errors (default
   3) plus a stated systematic allowance delta (0 unless the theorem hides log factors, as
   \tilde\Omega does; each experiment states and justifies its delta).
4. **Power against the nearest wrong laws** s_w in {0 (no y-dependence), s/2, 2 s}: if the true
   exponent were s_w and the estimator had the same SE, the test accepts with probability
   \Phi((tol - (s_w - s))/SE) - \Phi((-tol - (s_w - s))/SE); the power is one minus that
   (:func:`power_against`). The law is *tested* only where the grid has power >= ``min_power``
   (default 0.8) against every wrong law; otherwise the power row fails and so does the check.
   A grid whose contour crosses fewer than 3 rows cannot estimate the slope: the law row fails
   (it is never silently dropped).
5. **One-sided claims.** A theorem that gives only a *sufficient* condition (Chen et al. 2023:
   SAM is benign once \|\mu\| >= C, at every d) is contradicted only by a boundary that rises
   with y: ``side="upper"`` tests \hat s <= s + tol and its power against the wrong laws above
   s (for SAM: GD's 1/4 and half of it), P(\hat s > s + tol | s_w) = 1 - \Phi((s + tol - s_w)/SE).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from featlab.theory.signal_noise import contour_crossings, loglog_slope

__all__ = ["LawTest", "seed_bootstrap_slope", "power_against", "law_test", "law_rows",
           "wrong_laws"]


#: fewest seeds for which the seed bootstrap gives a usable standard error
MIN_SEEDS = 4


def wrong_laws(s: float) -> tuple[float, ...]:
    """The nearest wrong laws of exponent ``s``: no dependence, half and double the exponent."""
    return (0.0, s / 2.0, 2.0 * s) if s != 0 else (-0.25, 0.25)


def _cell_cube(df: pd.DataFrame, x_key: str, y_key: str, metric: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values (Y, X, S) with NaN for missing/diverged runs, xs, ys) from a run table."""
    ok = df[df["status"] == "done"] if "status" in df else df
    xs = np.sort(df[x_key].unique()).astype(float)
    ys = np.sort(df[y_key].unique()).astype(float)
    seeds = np.sort(df["seed"].unique())
    cube = np.full((len(ys), len(xs), len(seeds)), np.nan)
    iy = np.searchsorted(ys, ok[y_key].to_numpy(dtype=float))
    ix = np.searchsorted(xs, ok[x_key].to_numpy(dtype=float))
    isd = np.searchsorted(seeds, ok["seed"].to_numpy())
    cube[iy, ix, isd] = ok[metric].to_numpy(dtype=float)
    return cube, xs, ys


def _slope_of(means: np.ndarray, xs: np.ndarray, ys: np.ndarray, level: float
              ) -> tuple[float, int, np.ndarray, np.ndarray]:
    x_cross, y_cross = contour_crossings(means, xs, ys, level, log_x=False)
    if len(x_cross) < 3:
        return float("nan"), len(x_cross), x_cross, y_cross
    slope, _ = loglog_slope(y_cross, x_cross)
    return slope, len(x_cross), x_cross, y_cross


def seed_bootstrap_slope(df: pd.DataFrame, x_key: str, y_key: str, metric: str, level: float,
                         n_boot: int = 200, seed: int = 0) -> dict[str, object]:
    """Contour slope d log x / d log y at ``level`` and its seed-bootstrap standard error.

    df: one row per run with columns x_key, y_key, "seed", metric (and "status"). Returns
    {"slope", "se", "n_cross", "x_cross", "y_cross", "boot", "boot_ok"}; se is inf when fewer
    than 90% of the bootstrap replicates give >= 3 crossings (the slope is not stable) or with
    fewer than :data:`MIN_SEEDS` seeds (too few distinct resamples for a standard error)."""
    cube, xs, ys = _cell_cube(df, x_key, y_key, metric)
    means = np.nanmean(cube, axis=2) if cube.shape[2] else np.full(cube.shape[:2], np.nan)
    slope, n_cross, x_cross, y_cross = _slope_of(means, xs, ys, level)
    S = cube.shape[2]
    rng = np.random.default_rng(seed)
    boot = np.full(n_boot, np.nan)
    present = np.isfinite(cube)
    vals = np.where(present, cube, 0.0)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, S, S), minlength=S).astype(float)     # (S,) seed counts
        num = vals @ w
        den = present.astype(float) @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[b] = _slope_of(np.where(den > 0, num / den, np.nan), xs, ys, level)[0]
    ok = np.isfinite(boot)
    se = float(np.std(boot[ok], ddof=1)) if ok.mean() >= 0.9 and ok.sum() > 2 else float("inf")
    if S < MIN_SEEDS:                 # 2 or 3 seeds have 3 or 10 distinct resamples: no s.e.
        se = float("inf")
    return {"slope": slope, "se": se, "n_cross": n_cross, "x_cross": x_cross, "y_cross": y_cross,
            "boot": boot, "boot_ok": float(ok.mean())}


def power_against(wrong: float, theory: float, se: float, tol: float, side: str = "two") -> float:
    """P(the test rejects) if the true exponent were ``wrong`` (same SE); ``side`` "two" tests
    |s_hat - theory| <= tol, "upper" tests s_hat <= theory + tol."""
    shift = wrong - theory
    if not np.isfinite(se) or se <= 0:
        if not np.isfinite(se):
            return 0.0
        return float(abs(shift) > tol if side == "two" else shift > tol)
    if side == "upper":
        return float(1.0 - norm.cdf((tol - shift) / se))
    accept = norm.cdf((tol - shift) / se) - norm.cdf((-tol - shift) / se)
    return float(1.0 - accept)


@dataclass(frozen=True)
class LawTest:
    """Result of testing an exponent: estimate, SE, interval, power against wrong laws."""

    slope: float
    se: float
    theory: float
    tol: float
    n_cross: int
    z: float
    delta: float
    min_power: float
    power: dict[float, float] = field(default_factory=dict)
    side: str = "two"

    @property
    def in_interval(self) -> bool:
        if not (self.n_cross >= 3 and np.isfinite(self.slope) and np.isfinite(self.se)):
            return False
        if self.side == "upper":
            return bool(self.slope - self.theory <= self.tol)
        return bool(abs(self.slope - self.theory) <= self.tol)

    @property
    def powered(self) -> bool:
        return bool(self.power) and min(self.power.values()) >= self.min_power

    @property
    def z_score(self) -> float:
        return float((self.slope - self.theory) / self.se) if self.se > 0 else float("nan")


def law_test(slope: float, se: float, theory: float, n_cross: int, *, z: float = 3.0,
             delta: float = 0.0, min_power: float = 0.8,
             wrong: tuple[float, ...] | None = None, side: str = "two") -> LawTest:
    """Test |slope - theory| <= z se + delta (``side="upper"``: slope - theory <= z se + delta)
    with its power against the ``wrong`` laws (default :func:`wrong_laws`)."""
    if side not in ("two", "upper"):
        raise ValueError(f"side={side!r}: use 'two' or 'upper'")
    tol = z * se + delta if np.isfinite(se) else float("inf")
    laws = wrong_laws(theory) if wrong is None else wrong
    if side == "upper":
        laws = tuple(w for w in laws if w > theory)
    power = {float(w): power_against(w, theory, se, tol, side) for w in laws}
    return LawTest(float(slope), float(se), float(theory), float(tol), int(n_cross), z, delta,
                   min_power, power, side)


def law_rows(t: LawTest, what: str = "boundary slope", symbol: str = "d log x / d log y") -> list[dict]:
    """Two checked rows: the exponent in its interval, and the power against the wrong laws."""
    from featlab.experiments.base import check_row

    delta = f" + {t.delta:g}" if t.delta else ""
    if t.n_cross < 3 or not np.isfinite(t.slope):
        measured = f"{t.n_cross} rows cross the threshold (need >= 3): the slope is not estimable"
    else:
        measured = (f"{t.slope:.3f} +- {t.se:.3f} (seed-bootstrap s.e., {t.n_cross} rows); "
                    f"{t.z_score:+.1f} s.e. from theory")
    rel = "=" if t.side == "two" else "<="
    within = "within" if t.side == "two" else "plus"
    rows = [check_row(what, f"{symbol} {rel} {t.theory:.4g} {within} {t.z:g} s.e.{delta} "
                            f"(tol {t.tol:.3g})", measured, t.in_interval)]
    power = ", ".join(f"{p:.2f} vs {w:.3g}" for w, p in t.power.items())
    rows.append(check_row(f"{what}: power", f">= {t.min_power:.0%} to reject the nearest wrong laws "
                          f"({', '.join(f'{w:.3g}' for w in t.power)})", power or "none", t.powered))
    return rows
