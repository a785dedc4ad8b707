"""Results store: one embedded DuckDB file, ``<out>/featlab.duckdb``, queryable with SQL.

Tables (all tidy, so any experiment fits):

- ``sweeps(sweep_id, experiment, preset, paper, claim, spec, n_runs, status, check_passed,
  check_json, timings, report_path, created_at, finished_at)``
- ``runs(run_id, sweep_id, config_hash, seed, status, steps, wall_s, point, config,
  featlab_version, torch_version, python_version, device, git_commit, started_at, finished_at,
  host, executor, slurm_job_id, slurm_array_task_id)``
  (``git_commit``: the user's working directory, ``<sha>`` or ``<sha>-dirty``; see
  :func:`featlab.provenance.provenance`)
  (``point`` = the grid values of the run, ``config`` = its full setting, both JSON)
- ``params(run_id, name, value, text)``: the flattened setting (``data.d``, ``optim.lr``, ...)
- ``summary(run_id, name, value)``: each metric at the run's final step
- ``metrics(run_id, step, name, value)``: the logged diagnostics over training

Writers never hold the database: training processes write each finished chunk as a Parquet
shard (:mod:`featlab.shards`), and :meth:`Store.ingest` copies shards into DuckDB in one short
transaction, idempotently by run id, then removes them. Readers open the file read-only for one
query at a time and also see the shards not yet ingested, so ``featlab runs`` / ``sql`` work while
a sweep is written; a writer that finds the file busy leaves its shards for the next ingestion
instead of waiting. A crash loses nothing finished, and re-running a sweep skips the runs whose
config hash is stored or sharded (resume).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import pandas as pd

from featlab.provenance import provenance

from featlab.shards import (TABLES, chunk_tables, mark_ingested, pending_shards, quarantine,
                            run_provenance, shard_id, write_shard)

__all__ = ["Store", "StoreError", "StoreBusy", "provenance", "DB_NAME"]

DB_NAME = "featlab.duckdb"
#: seconds a reader or a sweep's start/end waits for another process's short hold on the file
WAIT_S = 60.0
#: seconds a training loop waits to ingest a chunk before leaving it as a shard for later
INGEST_WAIT_S = 0.5
#: a training loop ingests its shards at most this often (each chunk is durable as a shard the
#: moment it is written; one ingestion of many shards costs about as much as one of a single one)
INGEST_EVERY_S = 10.0
#: runs columns added after the first release (provenance); old stores get them on open
_RUN_COLUMNS_ADDED = (("host", "VARCHAR"), ("executor", "VARCHAR"), ("slurm_job_id", "VARCHAR"),
                      ("slurm_array_task_id", "VARCHAR"))

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
    git_commit VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, host VARCHAR,
    executor VARCHAR, slurm_job_id VARCHAR, slurm_array_task_id VARCHAR);
CREATE TABLE IF NOT EXISTS params (run_id VARCHAR, name VARCHAR, value DOUBLE, text VARCHAR);
CREATE TABLE IF NOT EXISTS summary (run_id VARCHAR, name VARCHAR, value DOUBLE);
CREATE TABLE IF NOT EXISTS metrics (run_id VARCHAR, step INTEGER, name VARCHAR, value DOUBLE);
"""


class StoreError(RuntimeError):
    """The results folder cannot be used; the message says why and what to do."""


class StoreBusy(StoreError):
    """Another process held the store for longer than the caller was willing to wait."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sql_str(path: Path) -> str:
    return path.as_posix().replace("'", "''")


def _readable(con: duckdb.DuckDBPyConnection, shard: Path, hide: bool = True) -> bool:
    """True if every file of the shard reads as Parquet; an unreadable shard is quarantined
    (``hide``, by the ingester only)."""
    try:
        for t in TABLES:
            con.execute(f"SELECT count(*) FROM read_parquet('{_sql_str(shard / f'{t}.parquet')}')")
        return True
    except duckdb.Error:
        if hide:
            quarantine(shard)
        return False


def _ingest_one(con: duckdb.DuckDBPyConnection, shard: Path) -> int:
    """Insert the shard's runs whose run id is not stored yet, with their params, summary and
    metrics; returns how many."""
    f = {t: _sql_str(shard / f"{t}.parquet") for t in TABLES}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM read_parquet('{f['runs']}') "
                f"WHERE run_id NOT IN (SELECT run_id FROM runs)")
    n = con.execute("SELECT count(*) FROM _new").fetchone()[0]
    if n:
        con.execute("INSERT INTO runs BY NAME SELECT * FROM _new")
        for t in TABLES[1:]:
            con.execute(f"INSERT INTO {t} BY NAME SELECT * FROM read_parquet('{f[t]}') "
                        f"WHERE run_id IN (SELECT run_id FROM _new)")
    con.execute("DROP TABLE _new")
    return int(n)


class Store:
    """A results folder holding one DuckDB database and the shards waiting to be ingested.

    No connection stays open between calls: each read attaches the file read-only, each write
    opens it for one short transaction, so any number of processes can share the folder.
    ``close()`` and the context manager are kept for symmetry (there is nothing to release)."""

    def __init__(self, root: str | Path = "featlab-results", read_only: bool = False) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        self.read_only = read_only
        self._last_ingest = float("-inf")         # the first due ingestion runs (and hides bad shards)
        if read_only:
            if not self.path.exists():
                raise StoreError(f"no results store at {self.path}; run an experiment first "
                                 f"(featlab run ...) or pass --out to the folder that holds one")
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(f"no write permission on {self.root}")
        except OSError as err:
            raise StoreError(f"results path {str(self.root)!r} is not usable ({err}); "
                             f"choose a writable folder with --out") from None
        with self._write(wait=WAIT_S) as con:
            con.execute(_SCHEMA)
            for col, typ in _RUN_COLUMNS_ADDED:                # stores written before they existed
                con.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {col} {typ}")

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
        """Nothing to release: connections live for one call."""

    # ------------------------------------------------------------------ connections
    def _open(self, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
        """Connect, retrying while another process holds a conflicting lock (for at most ``wait``
        seconds; each holder keeps it for one query or one ingestion)."""
        deadline = time.monotonic() + wait
        delay = 0.01
        while True:
            try:
                if read_only:
                    con = duckdb.connect()
                    con.execute(f"ATTACH '{_sql_str(self.path)}' AS db (READ_ONLY)")
                    return con
                return duckdb.connect(str(self.path))
            except duckdb.Error as err:
                if "lock" not in str(err).lower():
                    raise StoreError(f"results path {str(self.root)!r} is not usable ({err}); "
                                     f"choose a writable folder with --out") from None
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"results store {self.path} is busy: another process holds "
                                    f"it for over {wait:g}s; retry, or close that process") from None
                time.sleep(delay)
                delay = min(2 * delay, 0.2)

    @contextmanager
    def _write(self, wait: float) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open(read_only=False, wait=wait)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _read(self, strict: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose ``runs/params/summary/metrics`` are the stored rows plus those of
        the complete shards not yet ingested (one shard per run id); ``sweeps`` is the stored table.
        ``strict``: first read every shard's Parquet metadata and leave out unreadable ones."""
        con = self._open(read_only=True, wait=WAIT_S)
        try:
            pending = pending_shards(self.root)              # listed under the shared lock
            if strict:
                pending = [p for p in pending if _readable(con, p, hide=False)]
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'db' "
                "AND table_name = 'runs'").fetchall()}
            con.execute("CREATE TEMP VIEW sweeps AS SELECT * FROM db.sweeps")
            if not pending:
                extra = ", ".join(f"NULL::{t} AS {c}" for c, t in _RUN_COLUMNS_ADDED if c not in have)
                con.execute(f"CREATE TEMP VIEW runs AS SELECT *{', ' + extra if extra else ''} FROM db.runs")
                for t in TABLES[1:]:
                    con.execute(f"CREATE TEMP VIEW {t} AS SELECT * FROM db.{t}")
                yield con
                return
            files = {t: "[" + ", ".join(f"'{_sql_str(p / f'{t}.parquet')}'" for p in pending) + "]"
                     for t in TABLES}
            con.execute(f"""CREATE TEMP VIEW _pending AS
                SELECT * EXCLUDE (filename), parse_dirpath(filename) AS _shard
                FROM read_parquet({files['runs']}, union_by_name = true, filename = true)
                WHERE run_id NOT IN (SELECT run_id FROM db.runs)
                QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY filename) = 1""")
            con.execute("CREATE TEMP VIEW runs AS SELECT * FROM db.runs UNION ALL BY NAME "
                        "SELECT * EXCLUDE (_shard) FROM _pending")
            for t in TABLES[1:]:
                con.execute(f"""CREATE TEMP VIEW {t} AS SELECT * FROM db.{t} UNION ALL BY NAME
                    SELECT s.* EXCLUDE (filename) FROM read_parquet({files[t]}, filename = true) s
                    JOIN _pending p ON s.run_id = p.run_id AND parse_dirpath(s.filename) = p._shard""")
            yield con
        finally:
            con.close()

    # ------------------------------------------------------------------ writes
    def begin_sweep(self, sweep_id: str, *, experiment: str, preset: str, paper: str,
                    claim: str, spec: dict[str, Any], n_runs: int) -> None:
        """Create the sweep row, or mark an existing one as running again (resume)."""
        with self._write(wait=WAIT_S) as con:
            exists = con.execute("SELECT 1 FROM sweeps WHERE sweep_id = ?", [sweep_id]).fetchone()
            if exists:
                con.execute("UPDATE sweeps SET status = 'running', n_runs = ? WHERE sweep_id = ?",
                            [n_runs, sweep_id])
                return
            con.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, 'running', NULL, NULL, NULL, NULL, ?, NULL)",
                [sweep_id, experiment, preset, paper, claim, json.dumps(spec, default=str), n_runs,
                 _now()])

    def done_hashes(self, sweep_id: str) -> set[str]:
        """Config hashes of the runs of ``sweep_id`` stored or in complete shards (finished or
        diverged)."""
        rows = self.sql("SELECT config_hash FROM runs WHERE sweep_id = ?", [sweep_id])
        return set(rows["config_hash"])

    def write_chunk(self, sweep_id: str, result: Any, started_at: datetime | None = None,
                    executor: str = "inline") -> None:
        """Shard a finished :class:`~featlab.train.population.ChunkResult`, then ingest it (or
        leave it for the next ingestion if another process holds the store right now)."""
        prov = run_provenance(result.device, executor)
        sid = shard_id([r.hash for r in result.runs])
        write_shard(self.root, sweep_id, sid, chunk_tables(sweep_id, result, prov, started_at))
        self.ingest_due(sweep_id)

    def ingest_due(self, sweep_id: str, every: float = INGEST_EVERY_S) -> int | None:
        """:meth:`ingest` (waiting at most INGEST_WAIT_S) if ``every`` seconds have passed since
        this Store's last ingestion, else nothing (0): the store is written in large batches while
        readers and resume already see the shards. Whoever ends a sweep calls :meth:`ingest`."""
        if time.monotonic() - self._last_ingest < every:
            return 0
        return self.ingest(sweep_id, wait=INGEST_WAIT_S)

    def ingest(self, sweep_id: str | None = None, wait: float = WAIT_S) -> int | None:
        """Copy the complete shards (of one sweep, or all) into the database in one transaction,
        skipping run ids already stored, then remove them. Returns the runs added, or None if the
        store stayed busy for ``wait`` seconds (the shards stay; nothing is lost). An unreadable
        shard is hidden as ``.bad-*`` and its runs count as not done."""
        try:
            with self._write(wait=wait) as con:
                shards = [p for p in pending_shards(self.root, sweep_id) if _readable(con, p)]
                if not shards:
                    return 0
                added = 0
                con.execute("BEGIN TRANSACTION")
                try:
                    for shard in shards:
                        added += _ingest_one(con, shard)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                for shard in shards:             # after the commit; a crash here re-ingests nothing
                    mark_ingested(shard)
                self._last_ingest = time.monotonic()
                return added
        except StoreBusy:
            return None

    def set_spec(self, sweep_id: str, spec: dict[str, Any]) -> None:
        """Replace a sweep's stored spec (same runs; e.g. a sweep file's changed [report])."""
        with self._write(wait=WAIT_S) as con:
            con.execute("UPDATE sweeps SET spec = ? WHERE sweep_id = ?",
                        [json.dumps(spec, default=str), sweep_id])

    def finish_sweep(self, sweep_id: str, *, check: dict[str, Any] | None, timings: dict[str, Any],
                     report_path: str | None) -> None:
        passed = None if not check else bool(check.get("passed"))
        with self._write(wait=WAIT_S) as con:
            con.execute(
                "UPDATE sweeps SET status = 'finished', check_passed = ?, check_json = ?, timings = ?, "
                "report_path = ?, finished_at = ? WHERE sweep_id = ?",
                [passed, json.dumps(check or {}, default=str), json.dumps(timings, default=str),
                 report_path, _now(), sweep_id])

    # ------------------------------------------------------------------ reads
    def sql(self, query: str, params: Iterable[Any] | None = None) -> pd.DataFrame:
        """Run any SQL query against the store and return a DataFrame."""
        try:
            with self._read() as con:
                return con.execute(query, list(params or [])).df()
        except duckdb.Error:
            if not pending_shards(self.root):
                raise
        with self._read(strict=True) as con:                # a damaged shard: read around it
            return con.execute(query, list(params or [])).df()

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
        """One row per run: run_id, seed, status, steps, the given setting fields, final metrics.
        The long tables are pivoted inside DuckDB (one wide row per run crosses into pandas,
        not one row per run and metric: a 10^5-run sweep's table in about a second)."""
        runs = self.sql("SELECT run_id, seed, status, steps, wall_s FROM runs WHERE sweep_id = ?",
                        [sweep_id])
        if runs.empty:
            return runs
        sid = "'" + sweep_id.replace("'", "''") + "'"
        of_sweep = f"JOIN runs r USING (run_id) WHERE r.sweep_id = {sid}"
        out = runs.merge(self._pivot(f"SELECT s.run_id, s.name, s.value FROM summary s {of_sweep}",
                                     "value"), on="run_id", how="left")
        axes = list(axes)
        if axes:
            names = ", ".join("'" + a.replace("'", "''") + "'" for a in axes)
            par = f"SELECT p.run_id, p.name, p.value, p.text FROM params p {of_sweep} AND p.name IN ({names})"
            text = "(text IS NOT NULL AND text <> 'None')"         # None -> a NaN number column
            out = out.merge(self._pivot(f"SELECT * FROM ({par}) WHERE NOT {text}", "value"),
                            on="run_id", how="left")
            texts = self._pivot(f"SELECT * FROM ({par}) WHERE {text}", "text")  # e.g. optim.name
            if texts.shape[1] > 1:
                out = out.merge(texts, on="run_id", how="left")
        return out

    def _pivot(self, long: str, column: str) -> pd.DataFrame:
        """run_id plus one column per distinct ``name`` of the long query (sorted), holding
        ``column``; a run without a row for a name gets NaN / None."""
        names = self.sql(f"SELECT DISTINCT name FROM ({long}) ORDER BY name")["name"].tolist()
        if not names:
            return pd.DataFrame({"run_id": pd.Series([], dtype=object)})
        cols = ", ".join(f"first({column}) FILTER (WHERE name = '{n.replace(chr(39), chr(39) * 2)}') "
                         f"AS \"{n.replace(chr(34), chr(34) * 2)}\"" for n in names)
        return self.sql(f"SELECT run_id, {cols} FROM ({long}) GROUP BY run_id")

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
        with self._read() as con:
            for name, q in queries.items():
                path = folder / f"{safe}-{name}.parquet"
                sid = "'" + sweep_id.replace("'", "''") + "'"
                con.execute(f"COPY ({q.replace('?', sid)}) TO '{_sql_str(path)}' "
                            f"(FORMAT PARQUET)")
                paths.append(path)
        return paths
