"""Sharded writes and one ingester: half-written shards are ignored, ingestion is idempotent,
readers in other processes work while a sweep is written, a killed driver loses and duplicates
nothing, ``--executor local`` equals inline bit for bit, old stores open, bad executors exit 2."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import duckdb
import pytest
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.executors import Inline, Local, train_shard
from featlab.runner import run_sweep
from featlab.shards import pending_shards, shard_id, sweep_dir
from featlab.store import Store
from tests.conftest import small_setting

EXE = [sys.executable, "-m", "featlab.cli"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
#: a sweep of 24 small runs in 12 chunks of 2 (a few seconds per chunk on 2 busy cores)
SWEEP_ARGS = ["run", "signal-noise-dynamics", "--grid", "data.mu_norm=0.5,1,2,4", "--seeds", "6",
              "--set", "train.steps=40", "--set", "data.n=20", "--set", "data.d=100",
              "--set", "data.n_test=100", "--set", "model.m=4", "--chunk-size", "2", "--no-report"]


def _sweep() -> fl.Sweep:
    return fl.Sweep(small_setting(), {"data.mu_norm": [0.5, 3.0]}, seeds=3)


def _begin(store: Store, sweep: fl.Sweep, sid: str = "s") -> None:
    store.begin_sweep(sid, experiment="x", preset="p", paper="", claim="", spec=sweep.spec(),
                      n_runs=len(sweep.runs()))


def _counts(store: Store) -> dict[str, int]:
    q = {"runs": "SELECT count(*) - count(DISTINCT run_id) FROM runs",
         "metrics": "SELECT count(*) - count(DISTINCT (run_id, step, name)) FROM metrics",
         "summary": "SELECT count(*) - count(DISTINCT (run_id, name)) FROM summary",
         "n": "SELECT count(*) FROM runs"}
    return {k: int(store.sql(v).iloc[0, 0]) for k, v in q.items()}


def test_half_written_and_corrupt_shards_are_ignored(tmp_path):
    """A hidden (killed mid-write) shard and an unreadable one count as not done: their runs are
    trained again and stored exactly once."""
    sweep = _sweep()
    runs = sweep.runs()
    scratch = tmp_path / "scratch"
    train_shard(scratch, "s", runs[:2], "cpu", "inline")
    done = pending_shards(scratch, "s")[0]
    store = Store(tmp_path / "out")
    _begin(store, sweep)
    folder = sweep_dir(store.root, "s")
    folder.mkdir(parents=True)
    half = folder / f".tmp-{done.name}-123-abcd"                 # killed before the rename
    shutil.copytree(done, half)
    (half / "metrics.parquet").write_bytes((half / "metrics.parquet").read_bytes()[:100])
    train_shard(scratch, "s", runs[2:4], "cpu", "inline")
    other = [p for p in pending_shards(scratch, "s") if p.name != done.name][0]
    bad = folder / other.name                             # renamed, framed, but garbage inside
    shutil.copytree(other, bad)
    (bad / "summary.parquet").write_bytes(b"PAR1" + os.urandom(64) + b"PAR1")
    assert pending_shards(store.root, "s") == [bad]               # the hidden one is never listed
    assert store.done_hashes("s") == set()                        # readers read around the bad one
    trained, _ = run_sweep(store, "s", sweep, chunk_size=2)
    assert trained == 6
    assert not bad.exists() and half.exists()                     # ingestion hid the bad one
    assert _counts(store) == {"runs": 0, "metrics": 0, "summary": 0, "n": 6}
    assert pending_shards(store.root) == []


def test_ingest_is_idempotent_and_readers_see_shards(tmp_path):
    sweep = _sweep()
    runs = sweep.runs()
    store = Store(tmp_path)
    _begin(store, sweep)
    train_shard(tmp_path, "s", runs[:3], "cpu", "inline")
    shard = pending_shards(tmp_path, "s")[0]
    assert shard.name == shard_id([r.hash for r in runs[:3]])
    copy = tmp_path / "copy"
    shutil.copytree(shard, copy)
    # not ingested yet: readers already see the shard's runs (and resume skips them)
    assert store.done_hashes("s") == {r.hash for r in runs[:3]}
    assert len(store.metrics("s", ["train_loss"])) == 3 * 5
    assert store.ingest("s") == 3
    shutil.copytree(copy, shard)                                  # the same shard lands again
    assert store.done_hashes("s") == {r.hash for r in runs[:3]}   # view: one copy per run id
    assert store.ingest("s") == 0 and pending_shards(tmp_path) == []
    assert _counts(store) == {"runs": 0, "metrics": 0, "summary": 0, "n": 3}
    assert train_shard(tmp_path, "s", runs[:3], "cpu", "inline") == 0   # marker: chunk done
    prov = store.sql("SELECT host, executor, slurm_job_id, device FROM runs").iloc[0].to_dict()
    assert prov["executor"] == "inline" and prov["host"] and prov["device"] == "cpu"


def test_local_workers_equal_inline_bit_for_bit(tmp_path):
    sweep = _sweep()
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        for store, ex in ((a, Inline()), (b, Local(2))):
            _begin(store, sweep)
            trained, _ = run_sweep(store, "s", sweep, chunk_size=2, executor=ex)
            assert trained == 6
        q = "SELECT run_id, name, value FROM {} ORDER BY ALL"
        for table in ("summary", "metrics"):
            ta, tb = a.sql(q.format(table)), b.sql(q.format(table))
            assert len(ta) > 0 and ta.equals(tb), table          # same ids, identical float64
        assert set(b.sql("SELECT executor FROM runs")["executor"]) == {"local"}


def test_old_store_opens_and_gains_provenance_columns(tmp_path):
    con = duckdb.connect(str(tmp_path / "featlab.duckdb"))
    con.execute("CREATE TABLE sweeps (sweep_id VARCHAR PRIMARY KEY, experiment VARCHAR, preset "
                "VARCHAR, paper VARCHAR, claim VARCHAR, spec JSON, n_runs INTEGER, status VARCHAR, "
                "check_passed BOOLEAN, check_json JSON, timings JSON, report_path VARCHAR, "
                "created_at TIMESTAMP, finished_at TIMESTAMP)")
    con.execute("CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, sweep_id VARCHAR, config_hash "
                "VARCHAR, seed INTEGER, status VARCHAR, steps INTEGER, wall_s DOUBLE, point JSON, "
                "config JSON, featlab_version VARCHAR, torch_version VARCHAR, python_version "
                "VARCHAR, device VARCHAR, git_commit VARCHAR, started_at TIMESTAMP, finished_at "
                "TIMESTAMP)")
    for t in ("params (run_id VARCHAR, name VARCHAR, value DOUBLE, text VARCHAR)",
              "summary (run_id VARCHAR, name VARCHAR, value DOUBLE)",
              "metrics (run_id VARCHAR, step INTEGER, name VARCHAR, value DOUBLE)"):
        con.execute(f"CREATE TABLE {t}")
    con.execute("INSERT INTO runs (run_id, sweep_id, config_hash) VALUES ('s:old', 's', 'old')")
    con.close()
    old = Store(tmp_path, read_only=True).sql("SELECT run_id, host, executor FROM runs")
    assert old["run_id"].tolist() == ["s:old"] and old["host"].isna().all()
    sweep = _sweep()
    store = Store(tmp_path)                                       # writer: ALTER TABLE ... ADD COLUMN
    _begin(store, sweep)
    run_sweep(store, "s", sweep, chunk_size=6)
    df = store.sql("SELECT coalesce(executor, '-') AS e, count(*) AS n FROM runs GROUP BY ALL")
    assert dict(df.values.tolist()) == {"-": 1, "inline": 6}


def _wait_line(proc: subprocess.Popen, needle: str) -> str:
    line = proc.stdout.readline()
    while needle not in line:
        assert line, f"process ended before printing {needle!r}"
        line = proc.stdout.readline()
    return line


@pytest.mark.slow
def test_readers_work_while_a_sweep_is_written(tmp_path):
    """A second process runs featlab runs / sql, and this one queries Store, during the sweep:
    none fails, none blocks the writer, and the counts they see only grow."""
    # long enough chunks (~1-3 s each on an idle 2-core machine) that readers run alongside it
    args = [a if a != "train.steps=40" else "train.steps=20000" for a in SWEEP_ARGS]
    proc = subprocess.Popen([*EXE, *args, "--out", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        _wait_line(proc, "stored")
        seen, cli_ok = [], 0
        while proc.poll() is None:
            sql = subprocess.run([*EXE, "sql", "SELECT count(*) AS n FROM runs", "--out", str(tmp_path)],
                                 capture_output=True, text=True, timeout=120)
            assert sql.returncode == 0, sql.stderr
            runs = subprocess.run([*EXE, "runs", "--out", str(tmp_path)], capture_output=True,
                                  text=True, timeout=120)
            assert runs.returncode == 0 and "signal-noise-dynamics" in runs.stdout, runs.stderr
            cli_ok += proc.poll() is None
            for _ in range(20):                                  # hammer the lock from here too
                seen.append(int(Store(tmp_path, read_only=True).sql(
                    "SELECT count(*) AS n FROM runs")["n"][0]))
        out = proc.stdout.read()
        assert proc.wait() == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert cli_ok >= 1, "the sweep finished before a reader ran alongside it"
    assert seen == sorted(seen) and 0 < seen[0] and seen[-1] <= 24
    with Store(tmp_path, read_only=True) as store:
        assert _counts(store) == {"runs": 0, "metrics": 0, "summary": 0, "n": 24}


@pytest.mark.slow
def test_kill_9_driver_then_rerun_no_duplicates_none_lost(tmp_path):
    args = [*EXE, *SWEEP_ARGS, "--out", str(tmp_path)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    _wait_line(proc, "stored 4/")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with Store(tmp_path, read_only=True) as store:
        before = _counts(store)["n"]                             # stored + complete shards
    assert 4 <= before < 24
    done = subprocess.run(args, capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"trained {24 - before}/24 runs" in done.stdout.replace("\n", " ")
    with Store(tmp_path, read_only=True) as store:
        assert _counts(store) == {"runs": 0, "metrics": 0, "summary": 0, "n": 24}
        assert pending_shards(tmp_path) == []
        steps = store.sql("SELECT count(DISTINCT step) AS k FROM metrics")["k"][0]
        assert store.sql("SELECT count(*) AS n FROM metrics")["n"][0] == 24 * steps * len(
            store.sql("SELECT DISTINCT name FROM metrics"))


BAD = [
    (["--executor", "nope"], "--executor='nope' is invalid"),
    (["--executor", "local"], "--workers"),
    (["--executor", "local", "--workers", "0"], "--workers=0"),
    (["--workers", "2"], "--executor local"),
    (["--detach"], "--executor slurm"),
]


@pytest.mark.parametrize("args,needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_executor_exit_2(tmp_path, args, needle):
    res = CliRunner().invoke(app, ["run", "kou2023-phase", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2 and needle in res.output and "Traceback" not in res.output
    assert not (tmp_path / "featlab.duckdb").exists()


def test_slurm_without_submitit_or_sbatch_exit_2(tmp_path, monkeypatch):
    res = subprocess.run([*EXE, "run", "kou2023-phase", "--executor", "slurm", "--out", str(tmp_path)],
                         capture_output=True, text=True, env={**ENV, "PATH": str(tmp_path)})
    try:
        import submitit  # noqa: F401
        needle = "sbatch on PATH"
    except ImportError:                                          # then the first fix is the extra
        needle = "pip install 'featlab[slurm]'"
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "submitit", None)           # import submitit -> ImportError
    res = CliRunner().invoke(app, ["run", "kou2023-phase", "--executor", "slurm", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "pip install 'featlab[slurm]'" in res.output
    assert not (tmp_path / "featlab.duckdb").exists()


def test_status_and_ingest_commands(tmp_path):
    sweep = _sweep()
    store = Store(tmp_path)
    _begin(store, sweep)
    train_shard(tmp_path, "s", sweep.runs()[:3], "cpu", "inline")      # as a detached worker would
    res = CliRunner().invoke(app, ["status", "s", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "3/6 runs finished (1 shards not yet ingested)" in res.output
    res = CliRunner().invoke(app, ["ingest", "s", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "ingested 3 runs" in res.output
    assert "3/6 runs finished (0 shards not yet ingested)" in res.output
    res = CliRunner().invoke(app, ["ingest", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "ingested 0 runs" in res.output
    res = CliRunner().invoke(app, ["status", "nope", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown sweep" in res.output


@pytest.mark.slow
def test_two_sweeps_write_one_store_at_once(tmp_path):
    """Two `featlab run` processes, different sweeps (seed offsets 0 and 100), into one results
    folder at the same time: both finish, every run of each is stored once, none is lost."""
    procs = [subprocess.Popen([*EXE, *SWEEP_ARGS, "--seed-offset", str(k), "--out", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
             for k in (0, 100)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
        assert "trained 24/24 runs" in out.replace("\n", " ")
    with Store(tmp_path, read_only=True) as store:
        assert _counts(store) == {"runs": 0, "metrics": 0, "summary": 0, "n": 48}
        per = store.sql("SELECT sweep_id, count(*) AS n, min(seed) AS lo FROM runs GROUP BY 1 ORDER BY lo")
    assert per["n"].tolist() == [24, 24] and per["lo"].tolist() == [0, 100]
    assert not list((tmp_path / "shards").glob("*/[!_.]*")), "every shard was ingested"
