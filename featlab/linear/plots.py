"""Figures for the linear-model experiments: theory curves beside simulations, on shared axes.

Same conventions as :mod:`featlab.plots` (Agg backend, Okabe-Ito colours, PNG at 150 dpi, the figure
is closed and its path returned). :func:`line_panels` draws panels of series (a line, a line with a
confidence band, or markers with error bars); :func:`value_heatmap` a value over a 2-D grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from featlab.plots import OKABE_ITO, _save, _style

import matplotlib.pyplot as plt  # noqa: E402  (featlab.plots selected the Agg backend)
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

__all__ = ["Series", "Panel", "line_panels", "value_heatmap", "tuned_comparison_figure"]


@dataclass
class Series:
    """One curve. ``kind``: "line" (theory), "band" (mean with [lo, hi] band), "points" (markers with
    [lo, hi] error bars), "dashed" (a bound or a reference shape)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None
    kind: str = "line"
    color: int | None = None


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    logx: bool = True
    logy: bool = True


def _draw(ax, s: Series, color: str) -> None:
    x, y = np.asarray(s.x, float), np.asarray(s.y, float)
    if s.kind == "band":
        ax.plot(x, y, color=color, label=s.label)
        if s.lo is not None:
            ax.fill_between(x, np.asarray(s.lo, float), np.asarray(s.hi, float), color=color, alpha=0.25, lw=0)
    elif s.kind == "points":
        yerr = None if s.lo is None else np.vstack([y - np.asarray(s.lo, float), np.asarray(s.hi, float) - y])
        ax.errorbar(x, y, yerr=yerr, fmt="o", ms=4, color=color, label=s.label, capsize=2)
    elif s.kind == "dashed":
        ax.plot(x, y, "--", color=color, label=s.label)
    else:
        ax.plot(x, y, color=color, label=s.label, lw=1.2, marker=None)


def _plain_log_labels(axis, lim: tuple[float, float]) -> None:
    """Plain numbers on a log axis (0.5, 2, 100 rather than 5 x 10^-1); minor ticks at 2 and 5 are
    labelled only when the axis spans under two decades, where decade labels alone are too sparse."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    lo, hi = (max(v, 1e-300) for v in lim)
    axis.set_minor_formatter(plain if np.log10(hi / lo) < 2 else NullFormatter())


def line_panels(panels: list[Panel], path: str | Path, title: str = "", ncols: int | None = None) -> Path:
    """Panels side by side (wrapping after ``ncols``); each series in its own Okabe-Ito colour."""
    ncols = ncols or min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    with _style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.4 * nrows), layout="constrained",
                                 squeeze=False)
        for ax, panel in zip(axes.flat, panels):
            for k, s in enumerate(panel.series):
                _draw(ax, s, OKABE_ITO[(s.color if s.color is not None else k) % len(OKABE_ITO)])
            ax.set_xscale("log" if panel.logx else "linear")
            ax.set_yscale("log" if panel.logy else "linear")
            for axis, log, lim in ((ax.xaxis, panel.logx, ax.get_xlim()), (ax.yaxis, panel.logy, ax.get_ylim())):
                if log:
                    _plain_log_labels(axis, lim)
            ax.set(title=panel.title, xlabel=panel.xlabel, ylabel=panel.ylabel)
            ax.grid(alpha=0.3, which="both", lw=0.5)
            ax.legend()
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
        return _save(fig, path)


def value_heatmap(x: Sequence[float], y: Sequence[float], values: np.ndarray, path: str | Path, *,
                  xlabel: str, ylabel: str, title: str, cbar: str, annotate: bool = True) -> Path:
    """values (len(y), len(x)) as a heatmap on the (x, y) grid, each cell annotated with its value."""
    values = np.asarray(values, float)
    with _style():
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(x), 1.0 + 0.7 * len(y)), layout="constrained")
        im = ax.imshow(values, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(x)), [f"{v:g}" for v in x])
        ax.set_yticks(range(len(y)), [f"{v:g}" for v in y])
        if annotate:
            for i in range(values.shape[0]):
                for j in range(values.shape[1]):
                    if np.isfinite(values[i, j]):
                        ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                                color="white" if values[i, j] < np.nanmean(values) else "black")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        fig.colorbar(im, ax=ax, label=cbar)
        return _save(fig, path)


def tuned_comparison_figure(curves: list[dict], path: str | Path, title: str = "") -> Path:
    """sgd-vs-ridge: per instance, tuned risk vs samples (top) and the two sample inflations (bottom).

    Each item of ``curves``: name, theory {"sgd", "ridge": TunedCurves}, sgd_pts / ridge_pts lists of
    (n, mean, lo, hi) from the simulation, infl {"n", "sgd_over_ridge", "ridge_over_sgd"}, n_max."""
    top, bottom = [], []
    for c in curves:
        sgd, ridge, n_max = c["theory"]["sgd"], c["theory"]["ridge"], c["n_max"]
        keep = ridge.n <= n_max
        series = [Series("tuned SGD, exact recursion", sgd.n[:n_max], sgd.best[:n_max], color=0),
                  Series("tuned ridge, deterministic equivalent", ridge.n[keep], ridge.best[keep], color=1)]
        for label, pts, color in (("SGD simulation", c["sgd_pts"], 0), ("ridge simulation", c["ridge_pts"], 1)):
            if pts:
                n, m, lo, hi = map(np.array, zip(*pts))
                series.append(Series(label, n, m, lo, hi, kind="points", color=color))
        top.append(Panel(c["name"], "samples", "excess risk", series))
        i = c["infl"]
        bottom.append(Panel(f"{c['name']}: sample inflation", "samples of the method matched", "ratio", [
            Series("N_sgd / n to match ridge(n)", i["n"], i["sgd_over_ridge"], color=0),
            Series("n_ridge / N to match SGD(N)", i["n"], i["ridge_over_sgd"], color=1),
            Series("log n", i["n"], np.log(i["n"]), kind="dashed", color=4)]))
    return line_panels(top + bottom, path, title=title, ncols=len(top))
