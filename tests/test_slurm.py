"""Sweeps on a real SLURM cluster (no mock of sbatch): a job array gives the inline results bit
for bit; a cancelled array task and a re-submission lose and duplicate nothing; a requeued task
skips the chunks it finished. Start a one-node cluster with ``scripts/slurm-local.sh``; without
one (or without submitit) these tests skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone

import pytest

from featlab.config import ConfigError
from featlab.executors import Slurm
from featlab.runner import run_experiment
from featlab.slurm import array_state, jobs_file
from featlab.store import Store

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _partition() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return None
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.stdout.splitlines():
        name, state = line.split()
        if state.rstrip("*~#") in ("idle", "mixed", "allocated", "completing"):
            return name.rstrip("*")
    return None


@pytest.fixture(scope="module")
def partition() -> str:
    """The cluster's partition; skip without submitit or a cluster (fail instead when
    FEATLAB_REQUIRE_SLURM=1, as in CI after scripts/slurm-local.sh)."""
    missing = pytest.fail if os.environ.get("FEATLAB_REQUIRE_SLURM") == "1" else pytest.skip
    try:
        import submitit  # noqa: F401
    except ImportError:
        missing("submitit not installed: pip install 'featlab[slurm]'")
    name = _partition()
    if name is None:
        missing("no SLURM cluster is up (start a local one with scripts/slurm-local.sh)")
    return name


def _grid(steps: int, seeds: int) -> dict:
    return dict(grid={"data.mu_norm": [0.5, 1.0, 2.0, 4.0]}, seeds=seeds,
                overrides={"train.steps": steps, "train.dtype": "float64", "data.n": 20, "data.d": 100,
                           "data.n_test": 100, "model.m": 4})


def _counts(store: Store) -> dict[str, int]:
    q = {"runs": "SELECT count(*) - count(DISTINCT run_id) FROM runs",
         "metrics": "SELECT count(*) - count(DISTINCT (run_id, step, name)) FROM metrics",
         "n": "SELECT count(*) FROM runs"}
    return {k: int(store.sql(v).iloc[0, 0]) for k, v in q.items()}


def _tasks(job: str) -> dict[str, str]:
    out = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i %T"], capture_output=True,
                         text=True, timeout=30)
    return dict(line.split() for line in out.stdout.splitlines())


def _wait_gone(job: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while array_state(job) != {}:
        assert time.monotonic() < deadline, f"job array {job} still queued after {timeout}s"
        time.sleep(1)


def _job(root, sweep_id: str) -> str:
    return json.loads(jobs_file(root, sweep_id).read_text())[-1]["job_id"]


def test_array_equals_inline_bit_for_bit(tmp_path, partition):
    kw = dict(**_grid(steps=40, seeds=2), chunk_size=2, report=False)
    inline = run_experiment("signal-noise-dynamics", "quick", out=tmp_path / "inline", **kw)
    ex = Slurm(partition=partition, time_min=10, poll_s=1.0)
    slurm = run_experiment("signal-noise-dynamics", "quick", out=tmp_path / "slurm", executor=ex, **kw)
    assert slurm.sweep_id == inline.sweep_id and slurm.n_trained == inline.n_trained == 8
    a, b = Store(tmp_path / "inline", read_only=True), Store(tmp_path / "slurm", read_only=True)
    for q in ("SELECT run_id, name, value FROM summary ORDER BY ALL",
              "SELECT run_id, step, name, value FROM metrics ORDER BY ALL"):
        ta, tb = a.sql(q), b.sql(q)
        assert len(ta) > 0 and ta.equals(tb), q                   # same ids, same float64 bits
    prov = b.sql("SELECT executor, slurm_job_id, slurm_array_task_id, host FROM runs")
    assert set(prov["executor"]) == {"slurm"} and prov["host"].notna().all()
    assert prov["slurm_job_id"].nunique() == 1 and prov["slurm_array_task_id"].nunique() >= 4
    assert _counts(b) == {"runs": 0, "metrics": 0, "n": 8}


def test_cancelled_task_then_resubmit_loses_and_duplicates_nothing(tmp_path, partition):
    kw = dict(**_grid(steps=300, seeds=3), chunk_size=2, report=False, out=tmp_path)
    detached = Slurm(partition=partition, time_min=10, detach=True, array_parallelism=2)
    first = run_experiment("signal-noise-dynamics", "quick", executor=detached, **kw)
    job = _job(tmp_path, first.sweep_id)
    with pytest.raises(ConfigError, match=f"array {job} of this sweep is still queued"):
        run_experiment("signal-noise-dynamics", "quick", executor=detached, **kw)
    deadline = time.monotonic() + 240
    while not (running := [t for t, s in _tasks(job).items() if s == "RUNNING"]):
        assert time.monotonic() < deadline, "no array task started"
        time.sleep(0.3)
    subprocess.run(["scancel", running[0]], check=True, timeout=30)   # mid-run
    _wait_gone(job)
    store = Store(tmp_path)
    store.ingest(first.sweep_id)
    missing = 12 - _counts(store)["n"]
    assert missing >= 2, "the cancelled task should have lost its chunk"
    again = run_experiment("signal-noise-dynamics", "quick", executor=Slurm(
        partition=partition, time_min=10, poll_s=1.0), **kw)
    assert again.n_trained == missing
    assert _counts(store) == {"runs": 0, "metrics": 0, "n": 12}
    assert store.sql("SELECT count(DISTINCT slurm_job_id) AS k FROM runs")["k"][0] == 2


def test_requeued_task_skips_its_finished_chunks(tmp_path, partition):
    """Requeue (as a preemption does) a task after its first chunk: the restarted task skips that
    chunk and trains only the second one."""
    # chunks of several seconds each, so that the requeue lands while the second one trains
    kw = dict(**_grid(steps=40000, seeds=1), chunk_size=2, report=False, out=tmp_path)
    ex = Slurm(partition=partition, time_min=10, detach=True, chunks_per_task=2)   # 1 task, 2 chunks
    out = run_experiment("signal-noise-dynamics", "quick", executor=ex, **kw)
    job = _job(tmp_path, out.sweep_id)
    store = Store(tmp_path, read_only=True)
    deadline = time.monotonic() + 240
    while _counts(store)["n"] < 2:                                # first chunk sharded, task running
        assert time.monotonic() < deadline, "the first chunk never finished"
        time.sleep(0.2)
    (task, state), = _tasks(job).items()
    assert state == "RUNNING", f"the task finished before the requeue ({state}); raise train.steps"
    t_requeue = datetime.now(timezone.utc).replace(tzinfo=None)  # the stores' clock (UTC)
    subprocess.run(["scontrol", "requeue", task], check=True, timeout=30)
    deadline = time.monotonic() + 120
    while _tasks(job).get(task) != "PENDING":                     # killed and back in the queue
        assert time.monotonic() < deadline, "the requeued task never returned to the queue"
        time.sleep(0.2)
    # a requeued job waits ~2 min (its BeginTime); make it eligible now to keep the test short
    subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=True, timeout=30)
    _wait_gone(job)
    Store(tmp_path).ingest(out.sweep_id)
    assert _counts(store) == {"runs": 0, "metrics": 0, "n": 4}
    finished = store.sql("SELECT finished_at FROM runs")["finished_at"]
    assert (finished < t_requeue).sum() == 2 and (finished > t_requeue).sum() == 2
    log = "".join(p.read_text() for p in jobs_file(tmp_path, out.sweep_id).parent.glob("*_log.out"))
    first, second = log.split("Starting with JobEnvironment")[1:]    # before / after the requeue
    assert "chunk 1/2: trained 2 runs" in first and "chunk 2/2" not in first
    assert "chunk 1/2: already done, skipped 2 runs" in second and "chunk 2/2: trained 2 runs" in second
