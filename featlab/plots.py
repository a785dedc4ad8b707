"""Publication-grade figures for featlab results: phase diagrams, training dynamics, collapse plots.

Every public function builds one figure, saves it (PNG at 150 dpi unless the suffix of ``path``
asks for another format), closes it, and returns the path. Figures use the headless ``Agg``
backend, colourblind-friendly colours (``viridis`` for continuous values, Okabe-Ito for
categories) and matplotlib's constrained layout.

* :func:`phase_heatmap` -- test error over a 2-D grid of settings (e.g. ``n`` x ``snr``), next to
  the thresholded "harmful / benign overfitting" map, with the theory boundary overlaid.
* :func:`dynamics_bands` -- metrics against training step, mean +- std over seeds, per group.
* :func:`collapse_plot` -- per-cell test error against a theory control parameter
  (e.g. ``n * snr**q``), which should collapse the grid onto one curve with a jump at ``C``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.patheffects as pe  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from featlab.config import ConfigError  # noqa: E402

__all__ = ["phase_heatmap", "dynamics_bands", "collapse_plot", "figure_options", "save_figure"]

DPI = 150
CMAP = "viridis"
NAN_COLOR = "0.78"  # light grey for NaN cells (e.g. diverged runs)
# Okabe & Ito (2008), a palette distinguishable under the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BENIGN_COLOR, HARMFUL_COLOR = "#56B4E9", "#D55E00"

_STYLE = {
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.9,
    "figure.titlesize": 12,
    "savefig.dpi": DPI,
    "lines.linewidth": 1.6,
}
_SCALES = ("linear", "log")
_DYNAMICS_COLUMNS = ("run_id", "step", "name", "value")


# ----------------------------------------------------------------------------- shared helpers


@contextmanager
def _style() -> Iterator[None]:
    """Apply the featlab figure style without touching the global rcParams."""
    with matplotlib.rc_context(_STYLE):
        yield


#: Figure widths of a paper's layouts, inches: one column (~89 mm) and two columns (~183 mm).
WIDTHS = {"single": 3.5, "double": 7.2}
FORMATS = ("png", "pdf", "svg")
_OPTIONS: ContextVar[tuple[tuple[str, ...], str | None]] = ContextVar("figure_options", default=((), None))


@contextmanager
def figure_options(formats: Sequence[str] = (), width: str | None = None) -> Iterator[None]:
    """Inside this block every figure is also saved as each of ``formats`` (``pdf``, ``svg``,
    ``png``; same stem, beside the file the caller asked for) and, with ``width`` = ``single`` or
    ``double``, scaled to that column width (aspect ratio kept, fonts unchanged in points).

    >>> with figure_options(["pdf", "svg"], width="single"): ...     # doctest: +SKIP
    """
    for f in formats:
        if f not in FORMATS:
            raise ConfigError(f"figure format {f!r} is invalid: use {', '.join(FORMATS)} "
                              f"(e.g. --fig-format png,pdf)")
    if width is not None and width not in WIDTHS:
        raise ConfigError(f"figure width {width!r} is invalid: use single or double")
    token = _OPTIONS.set((tuple(formats), width))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` to ``path`` (creating parent folders) at :data:`DPI`, plus the extra formats
    and the column width of :func:`figure_options` (``--fig-format`` / ``--fig-width``), then
    close it. Experiments with a figure of their own save it through this."""
    path = Path(path)
    formats, width = _OPTIONS.get()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if width is not None:
            _fit_width(fig, WIDTHS[width])
        with warnings.catch_warnings():       # a crowded column figure: bbox_inches="tight" still fits it
            warnings.filterwarnings("ignore", message="constrained_layout not applied")
            fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
            for f in formats:
                if f != path.suffix.lstrip(".").lower():
                    fig.savefig(path.with_suffix(f".{f}"), dpi=DPI, bbox_inches="tight",
                                facecolor="white", metadata=_metadata(f))
    finally:
        plt.close(fig)
    return path


_save = save_figure


def _fit_width(fig: Figure, width: float) -> None:
    """Resize ``fig`` to ``width`` inches (aspect kept); text shrinks with it, to no less than
    60% of its size (10 pt -> 6 pt), so a wide multi-panel figure stays legible in one column."""
    import matplotlib.text

    w, h = fig.get_size_inches()
    k = width / w
    fig.set_size_inches(width, h * k)
    if k < 1:
        shrink = max(k, 0.6)
        for t in fig.findobj(matplotlib.text.Text):
            t.set_fontsize(t.get_fontsize() * shrink)


def _metadata(fmt: str) -> dict:
    """Reproducible vector files: no creation date."""
    return {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt, {})


def _check_scale(name: str, scale: str) -> None:
    if scale not in _SCALES:
        raise ValueError(f"{name}={scale!r} is not supported; use one of {_SCALES}")


def _cell_edges(centres: Sequence[float], scale: str = "linear") -> np.ndarray:
    """Edges of the cells around increasing ``centres``, for ``pcolormesh``: shape ``(len + 1,)``.

    Interior edges are midpoints of neighbouring centres -- arithmetic on a linear axis, geometric
    (``sqrt(c_i c_{i+1})``) on a log axis -- and the outer edges mirror the nearest interior
    edge. A single centre ``c`` gets the cell ``c +- 0.5`` (linear) or ``c / sqrt(10) .. c sqrt(10)``,
    i.e. one decade (log).
    """
    _check_scale("scale", scale)
    c = np.asarray(centres, dtype=float).ravel()
    if c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError(f"grid centres must be a non-empty sequence of finite numbers, got {c}")
    if scale == "log" and np.any(c <= 0):
        raise ValueError(f"log-scale axis needs positive grid values, got {c}; use scale='linear'")
    t = np.log(c) if scale == "log" else c
    if t.size == 1:
        half = 0.5 * math.log(10.0) if scale == "log" else 0.5
        edges = np.array([t[0] - half, t[0] + half])
    else:
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"grid centres must be strictly increasing, got {c}")
        mid = 0.5 * (t[1:] + t[:-1])
        edges = np.concatenate([[2 * t[0] - mid[0]], mid, [2 * t[-1] - mid[-1]]])
    return np.exp(edges) if scale == "log" else edges


def _sorted_axis(centres: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(sorted centres, order)``; raise if a value repeats."""
    c = np.asarray(centres, dtype=float).ravel()
    order = np.argsort(c, kind="stable")
    if np.any(np.diff(c[order]) == 0):
        raise ValueError(f"{name} has repeated values {c}; each grid value must appear once")
    return c[order], order


def _outlined(color: str = "black", width: float = 1.8) -> dict:
    """Line style that stays visible on both dark and light backgrounds (white halo)."""
    return {
        "color": color,
        "linewidth": width,
        "path_effects": [pe.Stroke(linewidth=width + 2.2, foreground="white"), pe.Normal()],
    }


# ----------------------------------------------------------------------------- phase_heatmap


def _phase_figure(
    values: np.ndarray,
    x: Sequence[float],
    y: Sequence[float],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    threshold: float = 0.2,
    boundary: tuple[np.ndarray, np.ndarray] | None = None,
    boundary_label: str = "theory",
    measured_boundary: tuple[np.ndarray, np.ndarray] | None = None,
    xscale: str = "linear",
    yscale: str = "linear",
    vmax: float = 1.0,
    cbar_label: str = "test error",
) -> Figure:
    """Build (not save) the two-panel phase figure; see :func:`phase_heatmap`."""
    _check_scale("xscale", xscale)
    _check_scale("yscale", yscale)
    z = np.asarray(values, dtype=float)  # (len(y), len(x))
    if z.shape != (len(y), len(x)):
        raise ValueError(
            f"values has shape {z.shape}, expected (len(y), len(x)) = ({len(y)}, {len(x)}): rows "
            "are y values and columns x values; pass values.T if you built it as (x, y)"
        )
    xs, xo = _sorted_axis(x, "x")
    ys, yo = _sorted_axis(y, "y")
    z = z[np.ix_(yo, xo)]
    xe, ye = _cell_edges(xs, xscale), _cell_edges(ys, yscale)
    harmful = np.where(np.isnan(z), np.nan, (z > threshold).astype(float))

    fig, (ax_c, ax_t) = plt.subplots(1, 2, figsize=(11.0, 4.3), layout="constrained")
    cmap = plt.get_cmap(CMAP).with_extremes(bad=NAN_COLOR)
    mesh = ax_c.pcolormesh(xe, ye, np.ma.masked_invalid(z), cmap=cmap, vmin=0.0, vmax=vmax)
    cbar = fig.colorbar(mesh, ax=ax_c, pad=0.02)
    cbar.set_label(cbar_label)
    if 0.0 <= threshold <= vmax:  # mark the threshold on the colour scale
        cbar.ax.axhline(threshold, color="white", linewidth=1.5)
    ax_c.set_title(cbar_label)

    two = ListedColormap([BENIGN_COLOR, HARMFUL_COLOR]).with_extremes(bad=NAN_COLOR)
    ax_t.pcolormesh(xe, ye, np.ma.masked_invalid(harmful), cmap=two, vmin=0.0, vmax=1.0)
    ax_t.set_title(f"thresholded at {threshold:g}")

    handles: list = [
        Patch(facecolor=HARMFUL_COLOR, label=f"harmful (> {threshold:g})"),
        Patch(facecolor=BENIGN_COLOR, label=f"benign (<= {threshold:g})"),
    ]
    if np.isnan(z).any():
        handles.append(Patch(facecolor=NAN_COLOR, label="NaN (diverged)"))
    overlays = []  # (curve, name, style) drawn on both panels
    if boundary is not None:
        overlays.append((boundary, "boundary", {"ls": "-", "label": boundary_label, **_outlined()}))
    if measured_boundary is not None:
        marker = {"ls": "none", "marker": "o", "ms": 5, "mfc": "white", "mec": "black", "mew": 1.2}
        overlays.append((measured_boundary, "measured_boundary",
                         {**marker, "label": f"measured {threshold:g} contour"}))
    for ax in (ax_c, ax_t):
        _format_grid_axes(ax, xe, ye, xscale, yscale, xlabel, ylabel)
        lines = [_overlay(ax, curve, name, **style) for curve, name, style in overlays]
    handles.extend(lines)
    ax_t.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        fig.suptitle(title)
    return fig


def _format_grid_axes(
    ax: Axes, xe: np.ndarray, ye: np.ndarray, xscale: str, yscale: str, xlabel: str, ylabel: str
) -> None:
    """Set scales, labels, and limits fixed to the grid (so later overlays cannot move them)."""
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    ax.set_autoscale_on(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _overlay(ax: Axes, curve: tuple[np.ndarray, np.ndarray], name: str, **style) -> Line2D:
    """Draw ``curve = (xs, ys)`` in data coordinates, clipped to the (fixed) axes limits."""
    if len(curve) != 2:
        raise ValueError(f"{name} must be a pair (xs, ys) of equal-length arrays")
    cx, cy = (np.asarray(v, dtype=float).ravel() for v in curve)
    if cx.shape != cy.shape:
        raise ValueError(f"{name} xs and ys differ in length ({cx.size} vs {cy.size}); pass (xs, ys)")
    (line,) = ax.plot(cx, cy, clip_on=True, zorder=3, **style)
    return line


def phase_heatmap(
    values: np.ndarray,
    x: Sequence[float],
    y: Sequence[float],
    *,
    xlabel: str,
    ylabel: str,
    path: str | Path,
    title: str = "",
    threshold: float = 0.2,
    boundary: tuple[np.ndarray, np.ndarray] | None = None,
    boundary_label: str = "theory",
    measured_boundary: tuple[np.ndarray, np.ndarray] | None = None,
    xscale: str = "linear",
    yscale: str = "linear",
    vmax: float = 1.0,
    cbar_label: str = "test error",
) -> Path:
    """Phase diagram of ``values`` over a grid, raw (left) and thresholded (right).

    Args:
        values: ``(len(y), len(x))`` -- rows are ``y`` values, columns ``x`` values. NaN cells
            (e.g. diverged runs) are drawn grey. ``x``/``y`` need not be sorted.
        threshold: the right panel shows ``values > threshold`` ("harmful") vs the rest ("benign").
        boundary: theory curve ``(xs, ys)`` drawn on both panels, clipped to the grid's extent.
        measured_boundary: measured ``threshold`` contour ``(xs, ys)``, drawn as markers.
        xscale, yscale: ``"linear"`` or ``"log"``; cell edges are geometric midpoints on log axes.
        vmax: top of the colour scale (bottom is 0).

    Returns:
        ``Path(path)``, with parent folders created.
    """
    with _style():
        fig = _phase_figure(
            values, x, y, xlabel=xlabel, ylabel=ylabel, title=title, threshold=threshold,
            boundary=boundary, boundary_label=boundary_label, measured_boundary=measured_boundary,
            xscale=xscale, yscale=yscale, vmax=vmax, cbar_label=cbar_label,
        )
        return _save(fig, path)


# ----------------------------------------------------------------------------- dynamics_bands


def _band_stats(df: pd.DataFrame, name: str, group: str | None) -> pd.DataFrame:
    """Per (group, step): mean and std over runs of metric ``name``, NaN values ignored.

    Repeated rows of one run at one step are first averaged, so every run counts once. ``std``
    is the sample std (``ddof=1``), 0 where only one run has a value. Returns columns
    ``group, step, mean, std, n_runs`` (``group`` is ``""`` when there is no grouping column).
    """
    sub = df.loc[(df["name"] == name) & df["value"].notna()]
    sub = sub.assign(_group=sub[group].astype(str) if group else "")
    per_run = sub.groupby(["_group", "step", "run_id"], sort=True)["value"].mean()
    stats = per_run.groupby(level=["_group", "step"]).agg(["mean", "std", "count"])
    stats = stats.rename(columns={"count": "n_runs"}).reset_index().rename(columns={"_group": "group"})
    stats["std"] = stats["std"].fillna(0.0)
    return stats


def _check_dynamics_frame(df: pd.DataFrame, names: Sequence[str]) -> None:
    """Raise ValueError naming missing columns or metrics."""
    missing_cols = [c for c in _DYNAMICS_COLUMNS if c not in df.columns]
    if missing_cols:
        raise ValueError(
            f"df is missing columns {missing_cols}; dynamics_bands needs a tidy frame with columns "
            f"{list(_DYNAMICS_COLUMNS)} (one row per run, step and metric)"
        )
    if len(names) == 0:
        raise ValueError("names is empty; pass the metric names to plot, e.g. ['train_loss']")
    present = set(df["name"].unique())
    missing = [n for n in names if n not in present]
    if missing:
        raise ValueError(
            f"metric(s) {missing} not found in df['name']; available: {sorted(map(str, present))}"
        )


def _line_style(i: int) -> dict:
    """Color (Okabe-Ito) and, past the palette's length, a dash pattern, for group i."""
    dashes = ("-", "--", ":", "-.")
    return {"color": OKABE_ITO[i % len(OKABE_ITO)],
            "linestyle": dashes[(i // len(OKABE_ITO)) % len(dashes)]}


def _draw_band(ax: Axes, s: pd.DataFrame, style: dict, label: str, logx: bool, logy: bool) -> None:
    """One mean line and its mean +- std band, with non-positive values dropped on log axes."""
    step = s["step"].to_numpy(float)
    mean, std = s["mean"].to_numpy(float), s["std"].to_numpy(float)
    lo, hi = mean - std, mean + std
    keep = step > 0 if logx else np.ones_like(step, dtype=bool)
    if logy:  # drop non-positive means; clip the band at a tenth of the smallest positive mean
        positive = mean[mean > 0]
        floor = positive.min() / 10 if positive.size else 1e-12
        mean = np.where(mean > 0, mean, np.nan)
        lo, hi = np.maximum(lo, floor), np.maximum(hi, floor)
    ax.plot(step[keep], mean[keep], label=label, **style)
    ax.fill_between(step[keep], lo[keep], hi[keep], color=style["color"], alpha=0.22, linewidth=0)


def _dynamics_figure(
    df: pd.DataFrame,
    names: Sequence[str],
    *,
    title: str = "",
    group: str | None = "group",
    logx: bool = False,
    logy: Sequence[str] = (),
    labels: dict[str, str] | None = None,
) -> Figure:
    """Build (not save) the metric grid; see :func:`dynamics_bands`."""
    _check_dynamics_frame(df, names)
    group = group if group is not None and group in df.columns else None
    labels = labels or {}
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.7 * ncols + 1.2, 2.9 * nrows), layout="constrained", squeeze=False
    )
    groups: list[str] = []
    for ax, name in zip(axes.flat, names):
        stats = _band_stats(df, name, group)
        for g, s in stats.groupby("group", sort=True):
            if g not in groups:
                groups.append(g)
            _draw_band(ax, s, _line_style(groups.index(g)), g or "mean", logx, name in logy)
        ax.set_xscale("log" if logx else "linear")
        ax.set_yscale("log" if name in logy else "linear")
        ax.set_xlabel("step")
        ax.set_ylabel(labels.get(name, name))
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], label=g or "mean", **_line_style(i)) for i, g in enumerate(groups)
    ]
    legend_title = f"{group}: mean ± std over runs" if group else "mean ± std over runs"
    fig.legend(handles=handles, title=legend_title, loc="outside right upper")
    if title:
        fig.suptitle(title)
    return fig


def dynamics_bands(
    df: pd.DataFrame,
    names: Sequence[str],
    *,
    path: str | Path,
    title: str = "",
    group: str | None = "group",
    logx: bool = False,
    logy: Sequence[str] = (),
    labels: dict[str, str] | None = None,
) -> Path:
    """Training dynamics: one panel per metric, mean over runs with a +-1 std band per group.

    Args:
        df: tidy frame with columns ``run_id, step, name, value`` and optionally ``group``.
            Each run counts once per step (repeated rows are averaged); NaN values are ignored.
        names: metrics to draw, one subplot each, in a grid of up to 3 columns.
        group: grouping column (one colour per value); ``None`` or absent means one group.
        logx: log-scale step axis (step 0 is dropped).
        logy: metrics drawn on a log y-axis (non-positive values dropped, bands clipped).
        labels: pretty y-axis labels, e.g. ``{"gamma_max": r"$\\max_r \\gamma_{j,r}$"}``.

    Raises:
        ValueError: a name in ``names`` is not a metric in ``df``, or a column is missing.
    """
    with _style():
        fig = _dynamics_figure(df, names, title=title, group=group, logx=logx, logy=logy, labels=labels)
        return _save(fig, path)


# ----------------------------------------------------------------------------- collapse_plot


def _collapse_figure(
    control: np.ndarray,
    error: np.ndarray,
    *,
    xlabel: str,
    title: str = "",
    threshold: float = 0.2,
    c_fit: float | None = None,
    color_by: np.ndarray | None = None,
    color_label: str = "",
    floor: float | None = None,
    ylabel: str = "test error",
    c_label: str = "fitted C",
) -> Figure:
    """Build (not save) the collapse scatter; see :func:`collapse_plot`."""
    c = np.asarray(control, dtype=float).ravel()
    e = np.asarray(error, dtype=float).ravel()
    if c.shape != e.shape:
        raise ValueError(f"control ({c.size}) and error ({e.size}) must have one value per cell")
    if c_fit is not None and not c_fit > 0:
        raise ValueError(f"c_fit={c_fit!r} cannot be drawn on the log x-axis; pass a positive C or None")
    shown = np.isfinite(c) & (c > 0)
    fig, ax = plt.subplots(figsize=(6.4, 4.3), layout="constrained")
    kw: dict = {"s": 28, "edgecolors": "black", "linewidths": 0.4, "zorder": 3}
    if color_by is not None:
        col = np.asarray(color_by, dtype=float).ravel()
        if col.shape != c.shape:
            raise ValueError(f"color_by has {col.size} values but there are {c.size} cells")
        pts = ax.scatter(c[shown], e[shown], c=col[shown], cmap=CMAP, label="cells", **kw)
        fig.colorbar(pts, ax=ax, pad=0.02).set_label(color_label)
    else:
        ax.scatter(c[shown], e[shown], color=OKABE_ITO[0], label="cells", **kw)
    ax.set_xscale("log")
    ax.axhline(threshold, color="0.25", ls="--", lw=1.2, label=f"threshold = {threshold:g}")
    if floor is not None:
        ax.axhline(floor, color="0.25", ls=":", lw=1.4, label=f"floor = {floor:g}")
    if c_fit is not None:
        ax.axvline(c_fit, color=OKABE_ITO[3], ls="-.", lw=1.5, label=f"{c_label} = {c_fit:.3g}")
    dropped = int(np.sum(~shown))
    if dropped:
        n_nan = int(np.sum(~np.isfinite(c)))
        what = "control <= 0" if n_nan == 0 else "control <= 0 or NaN"
        ax.plot([], [], ls="none", label=f"{dropped} cells with {what} not shown")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="best")
    if title:
        ax.set_title(title)
    return fig


def collapse_plot(
    control: np.ndarray,
    error: np.ndarray,
    *,
    path: str | Path,
    xlabel: str,
    title: str = "",
    threshold: float = 0.2,
    c_fit: float | None = None,
    color_by: np.ndarray | None = None,
    color_label: str = "",
    floor: float | None = None,
    ylabel: str = "test error",
    c_label: str = "fitted C",
) -> Path:
    """Scatter of per-cell mean test error against a theory control parameter (log x-axis).

    If the theory is right, cells from the whole grid fall on one curve that crosses
    ``threshold`` at the fitted constant ``C``. Cells with ``control <= 0`` cannot sit on a log
    axis; they are dropped and counted in the legend.

    Args:
        control, error: one value per cell, same length.
        c_fit: fitted ``C``, drawn as a vertical line labelled "fitted C = ...".
        color_by: optional per-cell value (e.g. ``n``) for the colour, with a colorbar.
        floor: optional horizontal dotted line, e.g. the label-noise floor ``p``.
        ylabel: the y-axis label (the metric); c_label: the legend name of ``c_fit``.
    """
    with _style():
        fig = _collapse_figure(
            control, error, xlabel=xlabel, title=title, threshold=threshold, c_fit=c_fit,
            color_by=color_by, color_label=color_label, floor=floor, ylabel=ylabel,
            c_label=c_label,
        )
        return _save(fig, path)
