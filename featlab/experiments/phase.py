"""Shared analysis of a benign/harmful phase diagram (used by kou2023-phase and cao2022-phase).

From the stored sweep: cell means over seeds (diverged runs excluded) of the test error on a
grid (x axis, y axis); the theory's control parameter per cell; the fitted constant C of the
predicted boundary {control = C}; the fraction of cells whose predicted regime matches the
measured one (benign iff mean error <= threshold); the measured threshold contour and its
log-log slope against the theory's slope. Figures: heatmap + thresholded map with both
boundaries, and the collapse of the grid onto the control parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from featlab.experiments.base import Analysis, Context, check_row, report_row
from featlab.plots import collapse_plot, phase_heatmap
from featlab.theory.phase_law import law_rows, law_test, seed_bootstrap_slope
from featlab.theory.signal_noise import fit_threshold

__all__ = ["PhaseSpec", "cell_grid", "analyze_phase", "premise_row"]


@dataclass(frozen=True)
class PhaseSpec:
    """How to read a phase diagram: axes, metric, the theory's control/boundary, and the check."""

    x_key: str                       # e.g. "data.mu_norm"
    y_key: str                       # e.g. "data.d"
    x_label: str
    y_label: str
    metric: str                      # e.g. "test_error_noisy"
    threshold: float                 # benign iff cell mean <= threshold
    control: Callable[[pd.DataFrame], np.ndarray]     # per-cell control parameter
    control_label: str                                # matplotlib (LaTeX) label
    boundary_x: Callable[[float, np.ndarray], np.ndarray]  # C, y values -> x on the boundary
    theory_slope: float              # d log x_boundary / d log y (ctx.theory["slope"] overrides)
    z: float = 3.0                   # check: |slope - theory| <= z s.e. + delta
    delta: float = 0.0               # stated systematic allowance (log factors of the theorem)
    min_power: float = 0.8           # check: power against the nearest wrong laws
    floor: float | None = None       # e.g. label-noise floor p for the collapse plot
    control_text: str = "control"    # plain-text name for check tables
    extra_axes: tuple[str, ...] = ()
    premise_metric: str = "train_error"   # the runs fitted their training data ...
    premise_bound: float = 0.0            # ... every run: premise_metric <= premise_bound
    min_cells: int = 2                    # check: >= this many benign and harmful cells each
    premise_scope: str = "all"            # "benign": only the runs of cells measured benign
    side: str = "two"                     # "upper": a sufficient condition (slope <= theory + tol)
    wrong: tuple[float, ...] | None = None  # nearest wrong laws (default: 0, s/2, 2s)


def cell_grid(df: pd.DataFrame, spec: PhaseSpec) -> pd.DataFrame:
    """Per-cell means over seeds of the metric and train loss (diverged runs excluded)."""
    ok = df[df["status"] == "done"]
    cells = (ok.groupby([spec.y_key, spec.x_key])
             .agg(error=(spec.metric, "mean"), error_sd=(spec.metric, "std"),
                  train_loss=("train_loss", "mean"), runs=("run_id", "count"),
                  **{k: (k, "first") for k in spec.extra_axes if k not in (spec.x_key, spec.y_key)})
             .reset_index())
    return cells


def premise_row(df: pd.DataFrame, spec: PhaseSpec, cells_of: list[str],
                benign_cells: pd.DataFrame | None = None) -> tuple[dict, pd.DataFrame]:
    """Checked row: every finished run fitted its training data (premise_metric <= bound);
    returns the row and the cells that hold a run that did not. With ``premise_scope ==
    "benign"`` only the runs of the cells measured benign (``benign_cells``) are held to it:
    a cell called benign must be benign *over*fitting, while an unfitted run in a harmful cell
    does not enlarge the benign region."""
    ok = df[df["status"] == "done"]
    scope, everywhere = "every run", ""
    if spec.premise_scope == "benign" and benign_cells is not None and spec.premise_metric in ok:
        n_fit = int((ok[spec.premise_metric] <= spec.premise_bound + 1e-12).sum())
        everywhere = f" (all cells, not tested: {n_fit} of {len(ok)})"
        ok = ok.merge(benign_cells[cells_of], on=cells_of, how="inner")
        scope = "every run of the cells measured benign"
    if spec.premise_metric not in ok:
        return check_row("premise: data fitted", f"{spec.premise_metric} <= {spec.premise_bound:g}",
                         f"metric {spec.premise_metric} not stored", False), pd.DataFrame()
    fitted = ok[spec.premise_metric] <= spec.premise_bound + 1e-12
    bad = (ok[~fitted].groupby(cells_of).size().rename("unfitted runs").reset_index()
           if (~fitted).any() else pd.DataFrame(columns=[*cells_of, "unfitted runs"]))
    where = "" if bad.empty else "; not fitted in cells " + ", ".join(
        "(" + ", ".join(f"{r[k]:g}" for k in cells_of) + ")" for _, r in bad.head(6).iterrows()) + (
        " ..." if len(bad) > 6 else "")
    row = check_row("premise: training data fitted",
                    f"{scope}: final {spec.premise_metric} <= {spec.premise_bound:g} (benign "
                    f"*over*fitting presumes the noisy training labels are fitted)",
                    f"{int(fitted.sum())} of {len(ok)} runs{where}{everywhere}",
                    bool(len(ok)) and bool(fitted.all()))
    return row, bad


def analyze_phase(ctx: Context, spec: PhaseSpec, title: str) -> Analysis:
    """Phase diagram analysis: figures, the law test of the boundary, the premise, and C."""
    axes = sorted({spec.x_key, spec.y_key, *spec.extra_axes})
    df = ctx.store.table(ctx.sweep_id, axes=axes)
    cells = cell_grid(df, spec)
    xs = np.sort(cells[spec.x_key].unique())
    ys = np.sort(cells[spec.y_key].unique())
    grid = (cells.pivot(index=spec.y_key, columns=spec.x_key, values="error")
            .reindex(index=ys, columns=xs).to_numpy())
    control = spec.control(cells)
    benign = cells["error"].to_numpy() <= spec.threshold
    C, match = fit_threshold(control, benign)
    theory = float(ctx.theory.get("slope", spec.theory_slope))
    boot = seed_bootstrap_slope(df, spec.x_key, spec.y_key, spec.metric, spec.threshold)
    law = law_test(boot["slope"], boot["se"], theory, boot["n_cross"], z=spec.z,
                   delta=float(ctx.theory.get("delta", spec.delta)), min_power=spec.min_power,
                   side=spec.side, wrong=spec.wrong)
    x_cross, y_cross = boot["x_cross"], boot["y_cross"]
    y_dense = np.geomspace(ys.min(), ys.max(), 200) if ys.min() > 0 else np.linspace(ys.min(), ys.max(), 200)
    boundary = (spec.boundary_x(C, y_dense), y_dense) if np.isfinite(C) else None
    figs = [
        ("Measured test error over the grid (left) and thresholded at "
         f"{spec.threshold:g} (right); line: theory boundary {spec.control_label} = C with C fitted; "
         "markers: measured contour.",
         phase_heatmap(grid, xs, ys, xlabel=spec.x_label, ylabel=spec.y_label,
                       path=ctx.out_dir / "phase.png", title=title, threshold=spec.threshold,
                       boundary=boundary, boundary_label=f"theory, C = {C:.3g}",
                       measured_boundary=(x_cross, y_cross) if len(x_cross) else None,
                       cbar_label=spec.metric.replace("_", " "))),
        (f"Every cell's test error against the theory's control parameter {spec.control_label}: "
         "the grid collapses onto one curve if the theory's scaling is right.",
         collapse_plot(control, cells["error"].to_numpy(), path=ctx.out_dir / "collapse.png",
                       xlabel=spec.control_label, title=title, threshold=spec.threshold,
                       c_fit=C if np.isfinite(C) and C > 0 else None,
                       color_by=cells[spec.y_key].to_numpy(), color_label=spec.y_label,
                       floor=spec.floor)),
    ]
    n_benign = int(benign.sum())
    n_harmful = len(benign) - n_benign
    premise, unfitted = premise_row(df, spec, [spec.y_key, spec.x_key], cells[benign])
    rows = [
        check_row("both regimes present", f">= {spec.min_cells} benign and >= {spec.min_cells} "
                  f"harmful cells (cell mean {spec.metric} <= / > {spec.threshold:g})",
                  f"{n_benign} benign / {n_harmful} harmful cells",
                  n_benign >= spec.min_cells and n_harmful >= spec.min_cells),
        premise,
        *law_rows(law, "boundary slope", "d log x / d log y"),
        report_row("regime match (fitted C)", f"({spec.control_text} >= C) <=> (error <= "
                   f"{spec.threshold:g}); C is fitted to maximize this, so it cannot fail",
                   f"{match:.1%} (C = {C:.3g})"),
    ]
    summary = pd.DataFrame({
        "quantity": ["cells", "runs", "benign cells", "fitted C", "match", "measured slope",
                     "slope s.e. (seed bootstrap)", "theory slope", "tolerance",
                     *[f"power vs slope {w:.3g}" for w in law.power],
                     "mean train loss (all cells)"],
        "value": [len(cells), int(cells["runs"].sum()), n_benign, C, match, law.slope, law.se,
                  law.theory, law.tol, *law.power.values(), float(cells["train_loss"].mean())],
    })
    tables = [("Summary", summary)]
    if not unfitted.empty:
        tables.append(("Cells with runs that did not fit their training data", unfitted))
    return Analysis.from_rows(
        rows, extra={"fitted_C": C, "match": match, "slope": law.slope, "slope_se": law.se,
                     "power": {f"{w:.3g}": p for w, p in law.power.items()}},
        figures=figs, tables=tables,
        notes=["Runs with the same seed share their data draws across grid points that "
               "differ only in per-run fields such as ||mu|| or SNR (common random "
               "numbers): cell means along such a row are correlated, which makes "
               "row-to-row streaks in the heatmap and a smoother contour within a row. The "
               "slope's standard error resamples seeds jointly across cells for that reason.",
               f"Cell means exclude diverged runs; threshold {spec.threshold:g} on "
               f"{spec.metric}.",
               "Law test: |slope - theory| <= z s.e. + delta, with the power against the nearest "
               "wrong laws (no dependence, half, double the exponent) computed at the measured "
               "s.e.; see featlab.theory.phase_law."])
