"""Figures of any summary metric over any grid axes (the generic report of a sweep file).

* :func:`metric_heatmap` -- the per-cell mean of one metric over two axes, numeric or
  categorical, with an optional theory contour ``control = threshold``.
* :func:`metric_lines` -- one metric against one axis, mean +- 1 standard error over seeds,
  one line per value of an optional second axis.

Both save through :func:`featlab.plots._save` (so ``--fig-format`` and ``--fig-width`` apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from featlab.plots import CMAP, NAN_COLOR, OKABE_ITO, _cell_edges, _save, _style

import matplotlib.pyplot as plt  # noqa: E402  (featlab.plots selected the Agg backend)
from matplotlib.ticker import NullLocator  # noqa: E402

__all__ = ["metric_heatmap", "metric_lines", "axis_scale"]


def _numeric(values: Sequence) -> bool:
    return all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values)


def axis_scale(values: Sequence) -> str:
    """``log`` for positive numbers spanning a factor >= 10, ``linear`` for other numbers,
    ``category`` for anything else (strings, zipped tuples)."""
    if not _numeric(values):
        return "category"
    v = np.asarray(values, dtype=float)
    return "log" if (v > 0).all() and v.max() / v.min() >= 10 else "linear"


def _positions(values: Sequence, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres and edges of an axis (categories sit at 0, 1, 2, ...)."""
    if scale == "category":
        centres = np.arange(len(values), dtype=float)
        return centres, _cell_edges(centres, "linear")
    centres = np.asarray(values, dtype=float)
    return centres, _cell_edges(centres, scale)


def _label(v) -> str:
    if isinstance(v, tuple):
        return ", ".join(_label(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _set_axis(ax, which: str, values: Sequence, scale: str, label: str) -> None:
    set_scale, set_ticks, set_labels, set_label = (
        (ax.set_xscale, ax.set_xticks, ax.set_xticklabels, ax.set_xlabel) if which == "x"
        else (ax.set_yscale, ax.set_yticks, ax.set_yticklabels, ax.set_ylabel))
    set_label(label)
    if scale != "category":
        set_scale(scale)
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_minor_locator(NullLocator())
    if len(values) <= 12:                        # ticks at the grid values themselves
        set_ticks(np.arange(len(values)) if scale == "category" else np.asarray(values, float))
        set_labels([_label(v) for v in values], fontsize=8)


def metric_heatmap(values: np.ndarray, x: Sequence, y: Sequence, *, xlabel: str, ylabel: str,
                   cbar_label: str, path: str | Path, title: str = "",
                   control: np.ndarray | None = None, threshold: float | None = None,
                   control_label: str = "") -> Path:
    """Heatmap of ``values`` (len(y), len(x)); axes given in sorted order (or as categories).

    ``control`` (same shape) with ``threshold``: the contour control = threshold, interpolated
    between cell centres (in log space on log axes), drawn as the theory boundary."""
    z = np.asarray(values, dtype=float)
    if z.shape != (len(y), len(x)):
        raise ValueError(f"values has shape {z.shape}, expected (len(y), len(x)) = ({len(y)}, {len(x)})")
    xs, ys = axis_scale(x), axis_scale(y)
    (xc, xe), (yc, ye) = _positions(x, xs), _positions(y, ys)
    with _style():
        fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
        cmap = plt.get_cmap(CMAP).with_extremes(bad=NAN_COLOR)
        mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z), cmap=cmap)
        fig.colorbar(mesh, ax=ax, pad=0.02).set_label(cbar_label)
        if control is not None and threshold is not None and len(x) > 1 and len(y) > 1:
            c = np.asarray(control, dtype=float)
            finite = np.isfinite(c)
            if finite.any() and np.nanmin(c) < threshold < np.nanmax(c):
                gx = np.log(xc) if xs == "log" else xc
                gy = np.log(yc) if ys == "log" else yc
                cs = ax.contour(gx, gy, c, levels=[threshold], colors="white", linewidths=2.2)
                if xs == "log" or ys == "log":       # contour drawn in log coordinates: map back
                    for seg in cs.allsegs[0]:
                        sx = np.exp(seg[:, 0]) if xs == "log" else seg[:, 0]
                        sy = np.exp(seg[:, 1]) if ys == "log" else seg[:, 1]
                        ax.plot(sx, sy, color="black", lw=1.4, ls="--")
                    cs.remove()
                ax.plot([], [], color="black", ls="--", label=f"{control_label} = {threshold:g}")
                ax.legend(loc="best", fontsize=8)
        _set_axis(ax, "x", x, xs, xlabel)
        _set_axis(ax, "y", y, ys, ylabel)
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        if title:
            ax.set_title(title)
        return _save(fig, path)


def metric_lines(x: Sequence, mean: np.ndarray, se: np.ndarray, *, xlabel: str, ylabel: str,
                 path: str | Path, groups: Sequence[str] = ("",), group_label: str = "",
                 title: str = "") -> Path:
    """``mean`` (G, len(x)) against ``x`` with a +-1 SE band per group (seeds within a cell)."""
    scale = axis_scale(x)
    xc, _ = _positions(x, scale)
    mean, se = np.atleast_2d(mean), np.atleast_2d(se)
    with _style():
        fig, ax = plt.subplots(figsize=(5.6, 3.9), layout="constrained")
        for i, (g, m, s) in enumerate(zip(groups, mean, se)):
            color = OKABE_ITO[i % len(OKABE_ITO)]
            ax.plot(xc, m, marker="o", ms=4, color=color, label=g or None)
            ax.fill_between(xc, m - s, m + s, color=color, alpha=0.22, linewidth=0)
        _set_axis(ax, "x", x, scale, xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        if len(groups) > 1:
            ax.legend(title=group_label, loc="best", fontsize=8)
        ax.set_title(title or f"{ylabel}: mean ± 1 SE over seeds")
        return _save(fig, path)
