"""Training: the population trainer and a convenience ``train(sweep)`` returning DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from featlab._callable_module import make_callable
from featlab.train.population import (METRICS, ChunkResult, RunSpec, plan_chunks, run_population,
                                      train_chunk)

__all__ = ["RunSpec", "ChunkResult", "METRICS", "plan_chunks", "train_chunk", "run_population",
           "Results", "train", "results_frames"]


@dataclass
class Results:
    """``final``: one row per run (seed, grid values, status, steps, final metrics);
    ``metrics``: tidy per-step diagnostics (run, step, name, value); ``axes``: the sweep's grid
    axes (columns of ``final``)."""

    final: pd.DataFrame
    metrics: pd.DataFrame
    axes: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        """Notebook view: run counts, then the per-cell mean of the final metrics."""
        import html

        n = len(self.final)
        status = self.final["status"].value_counts().to_dict() if n else {}
        head = (f"<p><b>featlab Results</b>: {n} runs "
                f"({', '.join(f'{v} {html.escape(str(k))}' for k, v in status.items()) or 'none'}), "
                f"axes: {html.escape(', '.join(self.axes) or '(none)')}, "
                f"{self.metrics['name'].nunique() if len(self.metrics) else 0} logged metrics</p>")
        if not n:
            return head
        shown = [c for c in ("test_error", "train_loss", "gamma_max", "rho_max", "excess_risk")
                 if c in self.final]
        if self.axes and shown:
            keys = [a for a in self.axes if a in self.final]
            table = self.final.assign(**{a: self.final[a].astype(str) for a in keys}).groupby(
                keys, sort=False)[shown].mean().head(20)
            caption = "mean over seeds per grid point (first 20)"
        else:
            table, caption = self.final.head(10), "first 10 runs"
        return head + f"<p><i>{caption}</i></p>" + table.to_html(float_format=lambda v: f"{v:.4g}")

    def to_xarray(self, logged: bool = False) -> Any:
        """The final metrics as an ``xarray.Dataset`` with dimensions (*axes, seed); with
        ``logged=True`` the per-step metrics, dimensions (*axes, seed, step). Zipped axes get
        string coordinates ("gd, 0.5"). Needs the optional ``xarray`` package."""
        try:
            import xarray  # noqa: F401
        except ImportError:
            raise ImportError("Results.to_xarray needs xarray: pip install 'featlab[xarray]'") from None
        axes = list(self.axes)
        runs = self.final[["run", "seed", *axes]].copy()
        for a in axes:
            if runs[a].map(lambda v: isinstance(v, (tuple, list))).any():
                runs[a] = runs[a].map(lambda v: ", ".join(map(str, v)))
        if not logged:
            values = self.final.drop(columns=["run", "seed", "status", *axes])
            frame = pd.concat([runs, values.select_dtypes("number")], axis=1)
            return frame.drop(columns="run").set_index([*axes, "seed"]).to_xarray()
        wide = self.metrics.pivot_table(index=["run", "step"], columns="name", values="value",
                                        aggfunc="first").reset_index()
        frame = wide.merge(runs, on="run").drop(columns="run")
        return frame.set_index([*axes, "seed", "step"]).to_xarray()


def results_frames(chunks: list[ChunkResult]) -> Results:
    """Tidy DataFrames from chunk results (run index = position in the concatenated runs)."""
    finals, logs, offset = [], [], 0
    for ch in chunks:
        rows = []
        for i, run in enumerate(ch.runs):
            row = {"run": offset + i, "seed": run.seed, **dict(run.point), "status": ch.status[i],
                   "steps": int(ch.steps[i])}
            row.update({k: float(v[i]) for k, v in ch.final.items()})
            rows.append(row)
        finals.append(pd.DataFrame(rows))
        names = list(ch.log_values)
        R = len(ch.log_run)
        logs.append(pd.DataFrame({
            "run": np.tile(ch.log_run + offset, len(names)),
            "step": np.tile(ch.log_step, len(names)),
            "name": np.repeat(names, R),
            "value": np.concatenate([ch.log_values[k] for k in names]) if R else np.zeros(0),
        }))
        offset += len(ch.runs)
    return Results(pd.concat(finals, ignore_index=True), pd.concat(logs, ignore_index=True))


def train(sweep, device: str = "cpu", chunk_size: int | None = None,
          progress: bool = False) -> Results:
    """Train every run of a :class:`~featlab.sweep.Sweep` (or a list of RunSpecs) as a population.

    ``progress=True`` shows a bar (runs done, runs/s, ETA) in a terminal or a Jupyter cell
    (rich; in Jupyter its live display needs ``ipywidgets``: ``pip install 'featlab[jupyter]'``)."""
    runs = sweep.runs() if hasattr(sweep, "runs") else list(sweep)
    order = {id(r): k for k, r in enumerate(runs)}
    if progress:
        chunks = _train_with_bar(runs, device, chunk_size)
    else:
        chunks = run_population(runs, device, chunk_size)
    res = results_frames(chunks)
    res.axes = tuple(getattr(sweep, "axes", ()))
    # map back to the sweep's run order (chunks group runs by structure)
    flat = [r for ch in chunks for r in ch.runs]
    perm = np.array([order[id(r)] for r in flat])
    res.final["run"] = perm[res.final["run"].to_numpy()]
    res.metrics["run"] = perm[res.metrics["run"].to_numpy()]
    res.final = res.final.sort_values("run").reset_index(drop=True)
    return res


def _train_with_bar(runs: list[RunSpec], device: str, chunk_size: int | None) -> list[ChunkResult]:
    """run_population with a rich progress bar advanced by each chunk's steps."""
    from featlab.progress import progress_bar

    chunks = []
    with progress_bar() as bar:
        task = bar.add_task("train", total=len(runs))
        for chunk in plan_chunks(runs, device, chunk_size):
            P, done = len(chunk), [0.0]

            def on_step(t: int, T: int, P: int = P, done: list = done) -> None:
                frac = P * (t + 1) / max(T, 1) * 0.99 - done[0]
                if frac > 0:
                    done[0] += frac
                    bar.advance(task, frac)

            chunks.append(train_chunk(chunk, device, on_step=on_step))
            bar.advance(task, P - done[0])
    return chunks


make_callable(__name__, train)     # featlab.train(sweep) is this package, called
