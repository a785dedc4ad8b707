r"""Reading a stored linear sweep back with each run's setting, and the theory-vs-simulation statistic.

:func:`run_frame` joins the store's runs with the sweep's :class:`~featlab.train.population.RunSpec`
(by config hash), so an analysis gets every run's :class:`LinearSetting` object to ask the theory about.
:func:`agreement` is the check shared by the experiments: with S seeds, simulated mean
:math:`\bar R_k` and standard error :math:`SE_k = s_k/\sqrt S` at each point k, the theory
:math:`R_k` agrees when :math:`|\bar R_k - R_k| \le c\,SE_k` for every k, c the Student-t quantile
with S - 1 degrees of freedom at the two-sided level of 4 normal standard deviations (6.3e-5 per point
for an exact theory; c -> 4 for large S, 4.29 at S = 64, 4.67 at S = 30, 8.47 at S = 8), so the stated relative tolerance
:math:`c\,SE_k/R_k` shrinks like :math:`1/\sqrt S`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

__all__ = ["run_frame", "curves", "Agreement", "agreement", "family_z", "mean_ci", "Power", "power_against"]


def run_frame(ctx) -> pd.DataFrame:
    """One row per stored run: run_id, seed, status, final metrics, grid values, ``setting`` object."""
    table = ctx.store.table(ctx.sweep_id)
    specs = {f"{ctx.sweep_id}:{r.hash}": r for r in ctx.sweep.runs()}
    table = table[table["run_id"].isin(specs)].copy()
    table["setting"] = [specs[i].setting for i in table["run_id"]]
    for key in ctx.sweep.axes:
        table[key] = [dict(specs[i].point)[key] for i in table["run_id"]]
    return table.reset_index(drop=True)


def curves(ctx, names: list[str]) -> pd.DataFrame:
    """Tidy logged metrics (run_id, step, name, value) of the sweep's runs."""
    return ctx.store.metrics(ctx.sweep_id, names)


def mean_ci(values: np.ndarray, axis: int = 0, z: float = 1.96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi): mean over ``axis`` and a normal-approximation CI of half-width z SE."""
    values = np.asarray(values, float)
    S = values.shape[axis]
    mean = values.mean(axis)
    se = values.std(axis, ddof=1) / np.sqrt(S) if S > 1 else np.zeros_like(mean)
    return mean, mean - z * se, mean + z * se


@dataclass(frozen=True)
class Agreement:
    """Simulation (S seeds) vs theory at K points."""

    seeds: int
    max_rel_err: float       # max_k |mean_k - theory_k| / theory_k
    tolerance: float         # max_k z SE_k / theory_k (the stated tolerance; shrinks like 1/sqrt(S))
    max_z: float             # max_k |mean_k - theory_k| / SE_k
    z: float
    passed: bool             # every point within z SE

    def describe(self) -> str:
        return (f"S={self.seeds}: max rel. error {self.max_rel_err:.3g} vs tolerance "
                f"{self.tolerance:.3g} (= {self.z:.3g} SE); max |mean - theory|/SE = {self.max_z:.2f}")


def family_z(comparisons: int, alpha: float = 1e-3) -> float:
    """The normal level z at which ``comparisons`` checks |mean - theory| <= z SE together raise a
    false alarm with probability <= ``alpha`` when the theory is exact (Bonferroni, two-sided):
    z = Phi^{-1}(1 - alpha / (2 comparisons)). E.g. 16 -> 4.00, 128 -> 4.47, 720 -> 4.83."""
    if comparisons < 1 or not 0 < alpha < 1:
        raise ValueError(f"family_z needs comparisons >= 1 and 0 < alpha < 1, got {comparisons}, {alpha}")
    return float(norm.isf(alpha / (2 * comparisons)))


def agreement(sim: np.ndarray, theory: np.ndarray, z: float = 4.0) -> Agreement:
    # z: the tail level in normal standard deviations; the SE multiplier is the matching t quantile
    """sim: (S, K) simulated values (seeds x points); theory: (K,) exact expectations. A point without
    spread over seeds (e.g. the initial risk) must match to 1e-9 relative error."""
    sim = np.asarray(sim, float)
    theory = np.asarray(theory, float)
    S = sim.shape[0]
    z = float(student_t.ppf(norm.cdf(z), S - 1))          # same tail level as z normal SDs
    mean = sim.mean(0)
    se = sim.std(0, ddof=1) / np.sqrt(S)
    err = np.abs(mean - theory)
    fixed = se <= 1e-12 * np.abs(theory)                 # no randomness at this point (e.g. step 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(fixed, np.where(err <= 1e-9 * np.abs(theory), 0.0, np.inf), err / se)
    return Agreement(S, float(np.max(err / np.abs(theory))), float(np.max(z * se / np.abs(theory))),
                     float(np.max(zs)), z, bool(np.all(zs <= z)))


@dataclass(frozen=True)
class Power:
    """Whether the data that agree with a theory also reject it perturbed by 1 -+ ``perturb``."""

    perturb: float
    passed: bool             # both perturbed theories rejected (some point beyond c SE)
    z_low: float             # max |mean - (1 - perturb) theory| / SE
    z_high: float            # max |mean - (1 + perturb) theory| / SE

    def describe(self) -> str:
        return (f"x{1 - self.perturb:g}: max |mean - theory|/SE = {self.z_low:.2f}; "
                f"x{1 + self.perturb:g}: {self.z_high:.2f}")


def power_against(sim: np.ndarray, theory: np.ndarray, z: float = 4.0, perturb: float = 0.2,
                  keep: np.ndarray | None = None) -> Power:
    """Power of :func:`agreement`: does it reject ``theory`` x (1 -+ perturb)? Points where ``keep``
    is True stay unperturbed (e.g. a deterministic step 0, which would reject any scaling
    trivially). A grid that cannot reject a 20%-wrong theory has no power to test it."""
    theory = np.asarray(theory, float)
    keep = np.zeros(theory.shape, bool) if keep is None else np.asarray(keep, bool)
    lo = agreement(sim, np.where(keep, theory, (1 - perturb) * theory), z)
    hi = agreement(sim, np.where(keep, theory, (1 + perturb) * theory), z)
    return Power(perturb, not lo.passed and not hi.passed, lo.max_z, hi.max_z)
