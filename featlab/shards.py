"""Result shards: a finished chunk written as Parquet files that a worker can produce without the
DuckDB store, and that one ingester later copies into it.

Layout under the results folder (``<out>``)::

    shards/<sweep>/<shard_id>/{runs,params,summary,metrics}.parquet   a finished chunk, not ingested
    shards/<sweep>/.tmp-<shard_id>-<pid>-<nonce>/                       a shard being written
    shards/<sweep>/_ingested/<shard_id>                                 marker: ingested, files removed

``shard_id`` is a hash of the chunk's config hashes, so the same chunk has the same id in every
process and after every restart. A shard is written into a hidden temporary folder and renamed into
place (``rename(2)`` is atomic on one file system), so a worker killed mid-write leaves only a
hidden folder that every reader ignores: its runs count as not done and are trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

__all__ = ["TABLES", "shard_id", "sweep_dir", "chunk_tables", "write_shard", "pending_shards",
           "shard_done", "mark_ingested", "run_provenance"]

#: the per-run tables a shard holds, in ingestion order
TABLES = ("runs", "params", "summary", "metrics")
_INGESTED = "_ingested"


def shard_id(config_hashes: list[str]) -> str:
    """Deterministic id of a chunk: sha256 over its runs' config hashes (order kept), 20 hex."""
    return hashlib.sha256("\n".join(config_hashes).encode()).hexdigest()[:20]


def sweep_dir(root: str | Path, sweep_id: str) -> Path:
    """Folder holding the shards of one sweep."""
    return Path(root) / "shards" / sweep_id.replace("/", "_").replace(":", "_")


#: the provenance fields every run row stores (the report shows the full provenance)
_RUN_PROV = ("featlab_version", "torch_version", "python_version", "device", "git_commit")


def run_provenance(device: str, executor: str = "inline") -> dict[str, Any]:
    """Where and how a run was trained: versions, git commit, device, host, executor and the SLURM
    job / array-task ids (None outside SLURM). Every run row carries these columns."""
    from featlab.provenance import provenance

    env = os.environ
    prov = provenance(device)
    return {**{k: prov[k] for k in _RUN_PROV}, "host": socket.gethostname(), "executor": executor,
            "slurm_job_id": env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID"),
            "slurm_array_task_id": env.get("SLURM_ARRAY_TASK_ID")}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def chunk_tables(sweep_id: str, result: Any, prov: dict[str, Any],
                 started_at: datetime | None = None) -> dict[str, pd.DataFrame]:
    """The rows of a finished :class:`~featlab.train.population.ChunkResult` for each table.

    runs: one row per run (run id ``<sweep>:<config hash>``); params: the flattened setting;
    summary: each metric at the run's stop step; metrics: the logged diagnostics (non-finite -> NULL).
    """
    from featlab.config import flatten, to_dict

    runs = result.runs
    run_ids = [f"{sweep_id}:{r.hash}" for r in runs]
    P = len(runs)
    per_setting: dict[int, tuple[str, tuple]] = {}             # id(setting) -> (JSON, params block)
    for r in runs:
        if id(r.setting) not in per_setting:
            flat = list(flatten(r.setting).items())
            per_setting[id(r.setting)] = (json.dumps(to_dict(r.setting)), (
                np.array([k for k, _ in flat], dtype=object),
                np.array([float(v) if _num(v) else np.nan for _, v in flat]),
                np.array([None if _num(v) else str(v) for _, v in flat], dtype=object)))
    points: dict[Any, str] = {}

    def point_json(point: tuple) -> str:
        try:
            hit = points.get(point)
        except TypeError:                                        # unhashable grid values
            return json.dumps(dict(point), default=str)
        if hit is None:
            hit = points[point] = json.dumps(dict(point), default=str)
        return hit

    run_rows = pd.DataFrame({
        "run_id": run_ids, "sweep_id": sweep_id, "config_hash": [r.hash for r in runs],
        "seed": [r.seed for r in runs], "status": result.status,
        "steps": np.asarray(result.steps).astype(int), "wall_s": result.wall_s / max(P, 1),
        "point": [point_json(r.point) for r in runs],
        "config": [per_setting[id(r.setting)][0] for r in runs],
        **prov, "started_at": started_at or _now(), "finished_at": _now(),
    })
    params = _params_rows(run_ids, runs, per_setting)
    names_f = list(result.final)
    vals_f = (np.concatenate([np.asarray(result.final[k], dtype=float) for k in names_f])
              if names_f and P else np.zeros(0))
    summary = pd.DataFrame({                                     # metric-major, as before
        "run_id": np.tile(np.asarray(run_ids, dtype=object), len(names_f)),
        "name": np.repeat(np.asarray(names_f, dtype=object), P),
        "value": np.where(np.isfinite(vals_f), vals_f, np.nan)})   # non-finite -> NULL
    ids = np.asarray(run_ids, dtype=object)
    names = list(result.log_values)
    R = len(result.log_run)
    values = np.concatenate([np.asarray(result.log_values[k], dtype=float) for k in names]) if R else []
    metrics = pd.DataFrame({
        "run_id": np.tile(ids[result.log_run], len(names)) if R else [],
        "step": np.tile(result.log_step, len(names)).astype(int) if R else [],
        "name": np.repeat(np.asarray(names, dtype=object), R) if R else [],
        "value": values,
    })
    metrics["value"] = metrics["value"].astype(float).where(np.isfinite(metrics["value"].astype(float)))
    return {"runs": run_rows, "params": params, "summary": summary, "metrics": metrics}


def _params_rows(run_ids: list[str], runs: list, per_setting: dict[int, tuple[str, tuple]]
                 ) -> pd.DataFrame:
    """The params table of a chunk: each run's flattened setting (one block per distinct
    setting, repeated for its runs), then one ``seed`` row per run; value NULL for text fields."""
    blocks = [per_setting[id(r.setting)][1] for r in runs]
    counts = [len(b[0]) for b in blocks]
    P = len(runs)
    cat = lambda i, extra: np.concatenate([b[i] for b in blocks] + [extra]) if P else extra  # noqa: E731
    return pd.DataFrame({
        "run_id": np.concatenate([np.repeat(np.asarray(run_ids, dtype=object), counts),
                                  np.asarray(run_ids, dtype=object)]) if P else [],
        "name": cat(0, np.full(P, "seed", dtype=object)),
        "value": cat(1, np.asarray([float(r.seed) for r in runs])),
        "text": cat(2, np.full(P, None, dtype=object)),
    }, columns=["run_id", "name", "value", "text"])


def write_shard(root: str | Path, sweep_id: str, sid: str, tables: dict[str, pd.DataFrame]) -> Path:
    """Write the tables of one chunk as a shard: into a hidden folder, fsync'd, then renamed into
    place. Never opens the DuckDB store. If the shard already exists (a duplicate worker), the new
    copy is discarded."""
    folder = sweep_dir(root, sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / sid
    tmp = folder / f".tmp-{sid}-{os.getpid()}-{os.urandom(4).hex()}"
    tmp.mkdir()
    con = duckdb.connect()                                   # in memory: no store file
    try:
        for name in TABLES:
            con.register("_t", tables[name])
            path = tmp / f"{name}.parquet"
            con.execute(f"COPY (SELECT * FROM _t) TO '{path.as_posix()}' (FORMAT PARQUET)")
            con.unregister("_t")
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    finally:
        con.close()
    try:
        os.rename(tmp, final)
    except OSError:                                          # already written by another worker
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _parquet_framed(path: Path) -> bool:
    """A Parquet file starts and ends with the magic ``PAR1``: a cheap test against truncation."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(-4, os.SEEK_END)
            return head == b"PAR1" and fh.read(4) == b"PAR1"
    except OSError:
        return False


def _complete(path: Path) -> bool:
    return path.is_dir() and all(_parquet_framed(path / f"{t}.parquet") for t in TABLES)


def pending_shards(root: str | Path, sweep_id: str | None = None) -> list[Path]:
    """Complete, not yet ingested shards (of one sweep, or of all), sorted; hidden (being written
    or half-written) folders are ignored."""
    base = Path(root) / "shards"
    dirs = [sweep_dir(root, sweep_id)] if sweep_id is not None else (
        sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else [])
    out = []
    for d in dirs:
        if d.is_dir():
            out += [p for p in sorted(d.iterdir())
                    if not p.name.startswith((".", "_")) and _complete(p)]
    return out


def shard_done(root: str | Path, sweep_id: str, sid: str) -> bool:
    """True if chunk ``sid`` of the sweep has a complete shard or was already ingested."""
    d = sweep_dir(root, sweep_id)
    return _complete(d / sid) or (d / _INGESTED / sid).exists()


def mark_ingested(shard: Path) -> None:
    """Leave an ``_ingested/<shard_id>`` marker (so a requeued worker skips the chunk) and remove
    the shard's files. Called by the ingester after its transaction committed."""
    marks = shard.parent / _INGESTED
    marks.mkdir(exist_ok=True)
    (marks / shard.name).touch()
    shutil.rmtree(shard, ignore_errors=True)


def quarantine(shard: Path) -> Path:
    """Hide an unreadable shard (``.bad-<id>``) so that its runs count as not done."""
    bad = shard.parent / f".bad-{shard.name}-{os.urandom(3).hex()}"
    os.rename(shard, bad)
    return bad
