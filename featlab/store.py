"""Results store: one embedded DuckDB file, ``<out>/featlab.duckdb``, queryable with SQL.

Tables (all tidy, so any experiment fits):

- ``sweeps(sweep_id, experiment, preset, paper, claim, spec, n_runs, status, check_passed,
  check_json, timings, report_path, created_at, finished_at)``
- ``runs(run_id, sweep_id, config_hash, seed, status, steps, wall_s, point, config,
  featlab_version, torch_version, python_version, device, git_commit, started_at, finished_at)``
  (``git_commit``: the user's working directory, ``<sha>`` or ``<sha>-dirty``; see
  :func:`featlab.provenance.provenance`)
  (``point`` = the grid values of the run, ``config`` = its full setting, both JSON)
- ``params(run_id, name, value, text)``: the flattened setting (``data.d``, ``optim.lr``, ...)
- ``summary(run_id, name, value)``: each metric at the run's final step
- ``metrics(run_id, step, name, value)``: the logged diagnostics over training

A chunk of runs is written in one transaction, so a crash or Ctrl-C loses nothing that
finished, and re-running a sweep skips the runs whose config hash is stored (resume).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import duckdb
import numpy as np
import pandas as pd

from featlab.provenance import provenance

__all__ = ["Store", "StoreError", "provenance", "DB_NAME"]

DB_NAME = "featlab.duckdb"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id VARCHAR PRIMARY KEY, experiment VARCHAR, preset VARCHAR, paper VARCHAR,
    claim VARCHAR, spec JSON, n_runs INTEGER, status VARCHAR, check_passed BOOLEAN,
    check_json JSON, timings JSON, report_path VARCHAR, created_at TIMESTAMP,
    finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, sweep_id VARCHAR, config_hash VARCHAR, seed INTEGER,
    status VARCHAR, steps INTEGER, wall_s DOUBLE, point JSON, config JSON,
    featlab_version VARCHAR, torch_version VARCHAR, python_version VARCHAR, device VARCHAR,
    git_commit VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS params (run_id VARCHAR, name VARCHAR, value DOUBLE, text VARCHAR);
CREATE TABLE IF NOT EXISTS summary (run_id VARCHAR, name VARCHAR, value DOUBLE);
CREATE TABLE IF NOT EXISTS metrics (run_id VARCHAR, step INTEGER, name VARCHAR, value DOUBLE);
"""


class StoreError(RuntimeError):
    """The results folder cannot be used; the message says why and what to do."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class Store:
    """A results folder holding one DuckDB database. Use as a context manager or call close()."""

    def __init__(self, root: str | Path = "featlab-results", read_only: bool = False) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        if read_only and not self.path.exists():
            raise StoreError(f"no results store at {self.path}; run an experiment first "
                             f"(featlab run ...) or pass --out to the folder that holds one")
        try:
            if not read_only:
                self.root.mkdir(parents=True, exist_ok=True)
                if not os.access(self.root, os.W_OK):
                    raise PermissionError(f"no write permission on {self.root}")
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except (OSError, duckdb.Error) as err:
            raise StoreError(f"results path {str(self.root)!r} is not usable ({err}); "
                             f"choose a writable folder with --out") from None
        if not read_only:
            self.con.execute(_SCHEMA)

    def _repr_html_(self) -> str:
        """Notebook view: the store's path and its sweeps."""
        import html

        df = self.sweeps()
        head = f"<p><b>featlab Store</b> <code>{html.escape(str(self.path))}</code>: {len(df)} sweeps</p>"
        return head + (df.to_html(index=False, na_rep="–") if len(df) else "")

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ writes
    def begin_sweep(self, sweep_id: str, *, experiment: str, preset: str, paper: str,
                    claim: str, spec: dict[str, Any], n_runs: int) -> None:
        """Create the sweep row, or mark an existing one as running again (resume)."""
        exists = self.con.execute("SELECT 1 FROM sweeps WHERE sweep_id = ?", [sweep_id]).fetchone()
        if exists:
            self.con.execute("UPDATE sweeps SET status = 'running', n_runs = ? WHERE sweep_id = ?",
                             [n_runs, sweep_id])
            return
        self.con.execute(
            "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, 'running', NULL, NULL, NULL, NULL, ?, NULL)",
            [sweep_id, experiment, preset, paper, claim, json.dumps(spec, default=str), n_runs, _now()])

    def done_hashes(self, sweep_id: str) -> set[str]:
        """Config hashes of the runs of ``sweep_id`` already stored (finished or diverged)."""
        rows = self.con.execute("SELECT config_hash FROM runs WHERE sweep_id = ?", [sweep_id]).fetchall()
        return {r[0] for r in rows}

    def write_chunk(self, sweep_id: str, result: Any, started_at: datetime | None = None) -> None:
        """Write a finished :class:`~featlab.train.population.ChunkResult` in one transaction."""
        from featlab.config import flatten, to_dict

        prov = provenance(result.device)
        started_at = started_at or _now()
        finished_at = _now()
        runs = result.runs
        run_ids = [f"{sweep_id}:{r.hash}" for r in runs]
        wall = result.wall_s / max(len(runs), 1)
        run_rows = pd.DataFrame({
            "run_id": run_ids, "sweep_id": sweep_id, "config_hash": [r.hash for r in runs],
            "seed": [r.seed for r in runs], "status": result.status,
            "steps": result.steps.astype(int), "wall_s": wall,
            "point": [json.dumps(dict(r.point), default=str) for r in runs],
            "config": [json.dumps(to_dict(r.setting)) for r in runs],
            **{k: prov[k] for k in ("featlab_version", "torch_version", "python_version", "device",
                                    "git_commit")},
            "started_at": started_at, "finished_at": finished_at,
        })
        par = [(rid, k, float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None,
                None if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
               for rid, r in zip(run_ids, runs) for k, v in flatten(r.setting).items()]
        par += [(rid, "seed", float(r.seed), None) for rid, r in zip(run_ids, runs)]
        params = pd.DataFrame(par, columns=["run_id", "name", "value", "text"])
        summ = pd.DataFrame([(rid, k, _finite_or_none(v[i])) for k, v in result.final.items()
                             for i, rid in enumerate(run_ids)], columns=["run_id", "name", "value"])
        ids = np.asarray(run_ids, dtype=object)
        names = list(result.log_values)
        R = len(result.log_run)
        metrics = pd.DataFrame({
            "run_id": np.tile(ids[result.log_run], len(names)) if R else [],
            "step": np.tile(result.log_step, len(names)) if R else [],
            "name": np.repeat(np.asarray(names, dtype=object), R) if R else [],
            "value": np.concatenate([result.log_values[k] for k in names]) if R else [],
        })
        metrics["value"] = metrics["value"].astype(float).where(np.isfinite(metrics["value"].astype(float)))
        self.con.execute("BEGIN TRANSACTION")
        try:
            for table, df in (("runs", run_rows), ("params", params), ("summary", summ),
                              ("metrics", metrics)):
                self.con.register("_df", df)
                self.con.execute(f"INSERT INTO {table} SELECT * FROM _df")
                self.con.unregister("_df")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def set_spec(self, sweep_id: str, spec: dict[str, Any]) -> None:
        """Replace a sweep's stored spec (same runs; e.g. a sweep file's changed [report])."""
        self.con.execute("UPDATE sweeps SET spec = ? WHERE sweep_id = ?",
                         [json.dumps(spec, default=str), sweep_id])

    def finish_sweep(self, sweep_id: str, *, check: dict[str, Any] | None, timings: dict[str, Any],
                     report_path: str | None) -> None:
        passed = None if not check else bool(check.get("passed"))
        self.con.execute(
            "UPDATE sweeps SET status = 'finished', check_passed = ?, check_json = ?, timings = ?, "
            "report_path = ?, finished_at = ? WHERE sweep_id = ?",
            [passed, json.dumps(check or {}, default=str), json.dumps(timings, default=str),
             report_path, _now(), sweep_id])

    # ------------------------------------------------------------------ reads
    def sql(self, query: str, params: Iterable[Any] | None = None) -> pd.DataFrame:
        """Run any SQL query against the store and return a DataFrame."""
        return self.con.execute(query, list(params or [])).df()

    def sweeps(self) -> pd.DataFrame:
        return self.sql("""
            SELECT s.sweep_id, s.experiment, s.preset, s.status, s.n_runs,
                   count(r.run_id) AS stored, count_if(r.status = 'diverged') AS diverged,
                   s.check_passed, s.created_at, s.finished_at
            FROM sweeps s LEFT JOIN runs r USING (sweep_id)
            GROUP BY ALL ORDER BY s.created_at""")

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        df = self.sql("SELECT * FROM sweeps WHERE sweep_id = ?", [sweep_id])
        if df.empty:
            known = ", ".join(self.sweeps()["sweep_id"]) or "none"
            raise StoreError(f"unknown sweep {sweep_id!r}; stored sweeps: {known} (see featlab runs)")
        row = df.iloc[0].to_dict()
        for key in ("spec", "check_json", "timings"):
            row[key] = json.loads(row[key]) if row.get(key) else {}
        return row

    def table(self, sweep_id: str, axes: Iterable[str] = ()) -> pd.DataFrame:
        """One row per run: run_id, seed, status, steps, the given setting fields, final metrics."""
        runs = self.sql("SELECT run_id, seed, status, steps, wall_s FROM runs WHERE sweep_id = ?",
                        [sweep_id])
        if runs.empty:
            return runs
        summ = self.sql("SELECT s.run_id, s.name, s.value FROM summary s JOIN runs r USING (run_id) "
                        "WHERE r.sweep_id = ?", [sweep_id])
        wide = summ.pivot(index="run_id", columns="name", values="value").reset_index()
        out = runs.merge(wide, on="run_id", how="left")
        axes = list(axes)
        if axes:
            par = self.sql("SELECT p.run_id, p.name, p.value, p.text FROM params p JOIN runs r "
                           f"USING (run_id) WHERE r.sweep_id = ? AND p.name IN "
                           f"({', '.join('?' * len(axes))})", [sweep_id, *axes])
            is_text = par["text"].notna() & (par["text"] != "None")     # None -> NaN column
            numeric = par[~is_text]
            out = out.merge(numeric.pivot(index="run_id", columns="name", values="value").reset_index(),
                            on="run_id", how="left")
            text = par[is_text]                               # e.g. optim.name, data.noise
            if len(text):
                out = out.merge(text.pivot(index="run_id", columns="name", values="text").reset_index(),
                                on="run_id", how="left")
        return out

    def metrics(self, sweep_id: str, names: Iterable[str] = ()) -> pd.DataFrame:
        """Tidy per-step metrics of a sweep: run_id, step, name, value (optionally filtered)."""
        names = list(names)
        where = f"AND m.name IN ({', '.join('?' * len(names))})" if names else ""
        return self.sql(f"SELECT m.run_id, m.step, m.name, m.value FROM metrics m JOIN runs r "
                        f"USING (run_id) WHERE r.sweep_id = ? {where} ORDER BY m.run_id, m.step",
                        [sweep_id, *names])

    def export_parquet(self, sweep_id: str, folder: str | Path) -> list[Path]:
        """Write runs/params/summary/metrics of a sweep as Parquet files into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        queries = {
            "runs": "SELECT * FROM runs WHERE sweep_id = ?",
            "params": "SELECT p.* FROM params p JOIN runs r USING (run_id) WHERE r.sweep_id = ?",
            "summary": "SELECT s.* FROM summary s JOIN runs r USING (run_id) WHERE r.sweep_id = ?",
            "metrics": "SELECT m.* FROM metrics m JOIN runs r USING (run_id) WHERE r.sweep_id = ?",
        }
        safe = sweep_id.replace("/", "_").replace(":", "_")
        for name, q in queries.items():
            path = folder / f"{safe}-{name}.parquet"
            rel = self.con.execute(q, [sweep_id]).df()
            self.con.register("_export", rel)
            self.con.execute(f"COPY (SELECT * FROM _export) TO '{path.as_posix()}' (FORMAT PARQUET)")
            self.con.unregister("_export")
            paths.append(path)
        return paths
