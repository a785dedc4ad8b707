r"""The generic report of a sweep: figures of any metric over any grid axes, no experiment code.

For a sweep file without an ``experiment`` (``featlab sweep study.toml``), :func:`analyze` reads
the stored runs and draws, for each metric of ``[report] metrics``:

* a heatmap of its mean over seeds on two axes (``report.heatmap``, default the first two;
  remaining axes averaged), with the theory contour control = threshold when given;
* a line plot against one axis (``report.line``, default the first) with a +-1 standard-error
  band over seeds, :math:`\mathrm{SE} = s/\sqrt{k}` for k finished runs of a cell, one line per
  value of the other heatmap axis;
* with ``[theory] control``: a collapse plot of the per-cell mean against the control
  parameter (cells of the whole grid should fall on one curve if it is the right one);

plus the training dynamics of ``report.dynamics`` (mean +- std over runs, per line-axis value)
and a table of per-cell means and standard errors. Diverged runs are excluded from every mean.
The check is empty (the badge reads NO CHECK): a sweep file states a setting, not a claim.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.experiments.base import Analysis, Context, Experiment
from featlab.expr import compile_expr, variables
from featlab.grid_plots import axis_scale, metric_heatmap, metric_lines
from featlab.plots import collapse_plot, dynamics_bands
from featlab.sweepfile import SWEEP_FILE, ReportSpec

__all__ = ["analyze", "generic_experiment", "MAX_TABLE_ROWS"]

MAX_TABLE_ROWS = 200
_MAX_GROUPS = 8


def _axis_values(values: tuple) -> list:
    """Axis values in plotting order: sorted when numeric, as given otherwise."""
    return sorted(values) if axis_scale(values) != "category" else list(values)


def _key(v):
    return tuple(v) if isinstance(v, list) else v


def _runs_frame(ctx: Context, metrics: list[str]) -> pd.DataFrame:
    """One row per stored run: axis values (as the Sweep gives them), status, final metrics."""
    by_hash = {r.hash: r for r in ctx.sweep.runs()}
    table = ctx.store.table(ctx.sweep_id)
    hashes = ctx.store.sql("SELECT run_id, config_hash FROM runs WHERE sweep_id = ?", [ctx.sweep_id])
    df = table.merge(hashes, on="run_id")
    df = df[df["config_hash"].isin(by_hash)].copy()
    for axis in ctx.sweep.axes:
        df[axis] = [_key(dict(by_hash[h].point)[axis]) for h in df["config_hash"]]
    df["_spec"] = [by_hash[h] for h in df["config_hash"]]
    for m in metrics:
        if m not in df:
            df[m] = np.nan
    return df


def _cell_stats(df: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    ok = df[df["status"] != "diverged"]
    g = ok.groupby(by, sort=False)[metric] if by else ok.assign(_all=0).groupby("_all")[metric]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["se"] = out["std"].fillna(0.0) / np.sqrt(out["count"].clip(lower=1))
    return out


def _grid(stats: pd.DataFrame, xa: str, ya: str, xs: list, ys: list, col: str) -> np.ndarray:
    z = np.full((len(ys), len(xs)), np.nan)
    lookup = {(r[xa], r[ya]): r[col] for _, r in stats.iterrows()}
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            z[i, j] = lookup.get((xv, yv), np.nan)
    return z


def _control_of(expr, specs: pd.Series) -> float:
    return float(np.mean([expr(variables(s.setting)) for s in specs]))


def analyze(ctx: Context, spec: ReportSpec) -> Analysis:
    """Figures and tables of ``spec`` for the stored sweep ``ctx.sweep_id``."""
    sweep, out = ctx.sweep, ctx.out_dir
    metrics = list(spec.metrics)
    df = _runs_frame(ctx, metrics)
    axes = sweep.axes
    values = {a: _axis_values(v) for a, v in sweep.grid}
    line = spec.line or (axes[0] if axes else None)
    pair = list(spec.heatmap) if spec.heatmap else axes[:2]
    other = next((a for a in pair if a != line), None) if len(pair) == 2 else None
    expr = compile_expr(spec.control) if spec.control else None
    clabel = spec.label or spec.control or ""
    figures, tables, notes = [], [], []
    if len(axes) > 2:
        notes.append(f"Heatmaps and line plots average over the axes they do not show "
                     f"({', '.join(a for a in axes if a not in pair)} on the heatmaps).")
    for m in metrics:
        if df[m].isna().all():
            notes.append(f"metric {m} was not logged by these runs; it is left out.")
            continue
        if len(pair) == 2:
            xa, ya = pair
            st = _cell_stats(df, [xa, ya], m)
            z = _grid(st, xa, ya, values[xa], values[ya], "mean")
            control = None
            if expr is not None:
                specs = df.groupby([xa, ya], sort=False)["_spec"].apply(list).reset_index()
                specs["c"] = [_control_of(expr, pd.Series(s)) for s in specs["_spec"]]
                control = _grid(specs, xa, ya, values[xa], values[ya], "c")
            path = metric_heatmap(z, values[xa], values[ya], xlabel=xa, ylabel=ya, cbar_label=m,
                                  path=out / f"heatmap_{m}.png", control=control,
                                  threshold=spec.threshold, control_label=clabel)
            extra = (f"; dashed: theory boundary {clabel} = {spec.threshold:g}"
                     if control is not None and spec.threshold is not None else "")
            figures.append((f"{m}, mean over seeds, over {xa} x {ya}{extra}", path))
        if line is not None:
            by = [line] + ([other] if other and len(values[other]) <= _MAX_GROUPS else [])
            st = _cell_stats(df, by, m)
            groups = values[by[1]] if len(by) == 2 else [None]
            mean = np.array([[st.loc[(st[line] == x) & ((st[by[1]] == g) if len(by) == 2 else True),
                                     "mean"].mean() for x in values[line]] for g in groups])
            se = np.array([[st.loc[(st[line] == x) & ((st[by[1]] == g) if len(by) == 2 else True),
                                   "se"].mean() for x in values[line]] for g in groups])
            labels = [f"{g:g}" if isinstance(g, float) else str(g) for g in groups] if len(by) == 2 else [""]
            path = metric_lines(values[line], mean, se, xlabel=line, ylabel=m,
                                path=out / f"lines_{m}.png", groups=labels,
                                group_label=by[1] if len(by) == 2 else "")
            figures.append((f"{m} against {line}, mean ± 1 standard error over seeds"
                            + (f", one line per {by[1]}" if len(by) == 2 else ""), path))
        if expr is not None and axes:
            st = _cell_stats(df, axes, m)
            specs = df.groupby(axes, sort=False)["_spec"].apply(list).reset_index()
            st = st.merge(specs, on=axes)
            c = np.array([_control_of(expr, pd.Series(s)) for s in st["_spec"]])
            path = collapse_plot(c, st["mean"].to_numpy(float), path=out / f"collapse_{m}.png",
                                 xlabel=clabel, ylabel=m,
                                 threshold=float(np.nanmedian(st["mean"])),
                                 c_fit=spec.threshold if spec.threshold and spec.threshold > 0 else None,
                                 c_label=f"theory: {clabel}")
            figures.append((f"{m} of every cell against the control parameter {clabel}"
                            + (f" (vertical line: {clabel} = {spec.threshold:g}; horizontal: median)"
                               if spec.threshold else " (horizontal: median)"), path))
    if spec.dynamics:
        logs = ctx.store.metrics(ctx.sweep_id, spec.dynamics)
        present = [n for n in spec.dynamics if n in set(logs["name"])]
        if present:
            if line is not None:
                labels = {rid: str(v) for rid, v in zip(df["run_id"], df[line])}
                logs = logs.assign(**{line: logs["run_id"].map(labels)})
            path = dynamics_bands(logs, present, path=out / "dynamics.png", group=line,
                                  logx=bool((logs["step"] > 0).any()))
            figures.append(("training dynamics, mean ± std over runs"
                            + (f", per {line}" if line else ""), path))
    if metrics and axes:
        cols = []
        for m in metrics:
            st = _cell_stats(df, axes, m).rename(columns={"mean": f"{m} mean", "se": f"{m} SE",
                                                          "count": "runs"})
            cols.append(st[[*axes, f"{m} mean", f"{m} SE", "runs"]])
        cells = cols[0]
        for c in cols[1:]:
            cells = cells.merge(c.drop(columns="runs"), on=axes, how="outer")
        cells = cells.astype({a: str for a in axes if axis_scale(values[a]) == "category"})
        if len(cells) > MAX_TABLE_ROWS:
            notes.append(f"The cell table shows the first {MAX_TABLE_ROWS} of {len(cells)} cells.")
        tables.append(("per-cell mean and standard error over seeds (diverged runs excluded)",
                       cells.head(MAX_TABLE_ROWS)))
    return Analysis(check={}, figures=figures, tables=tables, notes=notes)


def generic_experiment(name: str, spec: ReportSpec) -> Experiment:
    """An :class:`Experiment` whose analysis is the generic report (no presets, no check)."""
    return Experiment(name=SWEEP_FILE, paper=f"sweep file {name}", figure="generic report",
                      claim="(a sweep file states a setting, not a claim)", presets={},
                      analyze=lambda ctx: analyze(ctx, spec), default_preset=name)
