"""Sweeps on a SLURM cluster through submitit (``pip install featlab[slurm]``).

The driver (on the login node) groups the planned chunks into array tasks and submits one job
array. Each array task is a :class:`featlab._slurm_task.ChunkTask`, a submitit ``Checkpointable``: on preemption or
timeout submitit requeues it with the same arguments, and the task skips every chunk whose shard
exists or was ingested (the shard id is a hash of the chunk's config hashes), so it resumes where
it stopped. Tasks write Parquet shards only; the driver ingests them into the store while it
waits (or ``featlab ingest`` does after ``--detach``). Re-running the same ``featlab run`` command
submits only the runs that are neither stored nor sharded, so a cancelled or failed task loses
nothing that finished and duplicates nothing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from featlab.config import ConfigError
from featlab.shards import sweep_dir

__all__ = ["run_array", "jobs_file", "array_state", "array_summary", "IncompleteSweep"]

#: SLURM's default MaxArraySize is 1001: at most this many tasks per array
MAX_TASKS = 1000


class IncompleteSweep(RuntimeError):
    """The job array ended but some runs are neither stored nor sharded."""


def jobs_file(root: str | Path, sweep_id: str) -> Path:
    """JSON list of the job arrays submitted for a sweep (newest last)."""
    return Path(root) / "slurm" / sweep_dir(root, sweep_id).name / "jobs.json"


def _group(chunks: list[list], per_task: int | None) -> list[list[list]]:
    per_task = per_task or max(1, math.ceil(len(chunks) / MAX_TASKS))
    return [chunks[i:i + per_task] for i in range(0, len(chunks), per_task)]


def _submit(ex: Any, root: Path, sweep_id: str, chunks: list[list], device: str) -> str:
    """Submit the array; returns its SLURM job id."""
    import submitit

    from featlab._slurm_task import ChunkTask

    folder = root / "slurm" / sweep_dir(root, sweep_id).name
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=10)
    params: dict[str, Any] = {"time": ex.time_min, "cpus_per_task": ex.cpus_per_task,
                              "array_parallelism": ex.array_parallelism, "setup": list(ex.setup),
                              "job_name": f"featlab-{sweep_id}"[:64]}
    if ex.partition:
        params["partition"] = ex.partition
    if ex.mem_gb:
        params["mem"] = f"{int(math.ceil(ex.mem_gb * 1024))}M"
    if ex.gpus_per_task:
        params["gpus_per_task"] = ex.gpus_per_task
    executor.update_parameters(**params)
    groups = _group(chunks, ex.chunks_per_task)
    try:
        with executor.batch():
            jobs = [executor.submit(ChunkTask(), str(root), sweep_id, g, device) for g in groups]
    except submitit.core.utils.FailedJobError as err:
        lines = [x for x in str(err).splitlines() if x.strip()] or ["no message"]
        raise ConfigError(f"sbatch refused the job array ({lines[-1].strip()}); check "
                          f"--slurm-partition, --slurm-mem, --gpus-per-task and --slurm-time "
                          f"against the cluster (sinfo)") from None
    array_id = str(jobs[0].job_id).split("_")[0]
    path = jobs_file(root, sweep_id)
    known = json.loads(path.read_text()) if path.exists() else []
    known.append({"job_id": array_id, "tasks": len(groups), "runs": sum(map(len, chunks)),
                  "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    path.write_text(json.dumps(known, indent=1))
    return array_id


def array_state(job_id: str) -> dict[str, int] | None:
    """Count of the array's tasks per SLURM state still in the queue ({} when none is left);
    None if squeue could not be asked."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%T"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        # squeue fails with "Invalid job id" once the job has left the queue
        return {} if "invalid job id" in out.stderr.lower() else None
    states: dict[str, int] = {}
    for s in out.stdout.split():
        states[s] = states.get(s, 0) + 1
    return states


def array_summary(root: str | Path, sweep_id: str) -> list[str]:
    """One line per submitted array: job id, tasks, and the states of those still queued."""
    path = jobs_file(root, sweep_id)
    lines = []
    for job in json.loads(path.read_text()) if path.exists() else []:
        state = array_state(job["job_id"])
        queued = ("squeue unavailable" if state is None else
                  ", ".join(f"{n} {s.lower()}" for s, n in sorted(state.items())) or "none queued")
        lines.append(f"SLURM array {job['job_id']}: {job['tasks']} tasks, {job['runs']} runs, "
                     f"submitted {job['submitted_at']}: {queued}")
    return lines


def _refuse_if_queued(root: Path, sweep_id: str) -> None:
    """A second array for the same sweep while the first is queued would train runs twice."""
    path = jobs_file(root, sweep_id)
    for job in json.loads(path.read_text()) if path.exists() else []:
        if array_state(job["job_id"]):
            raise ConfigError(f"SLURM job array {job['job_id']} of this sweep is still queued; wait "
                              f"for it (featlab status {sweep_id}) or cancel it (scancel "
                              f"{job['job_id']}), then run the same command again")


def run_array(ex: Any, store: Any, sweep_id: str, chunks: list[list], device: str,
              progress: Callable[[float], None] | None, on_chunk: Callable[[int], None]) -> None:
    """Submit the chunks as a job array, then (unless ``ex.detach``) ingest shards as they land,
    advancing the progress bar over finished runs, until the array has left the queue."""
    from featlab.store import INGEST_WAIT_S

    todo = {r.hash for c in chunks for r in c}
    _refuse_if_queued(store.root, sweep_id)
    job_id = _submit(ex, store.root, sweep_id, chunks, device)
    print(f"submitted SLURM job array {job_id}: {len(_group(chunks, ex.chunks_per_task))} tasks, "
          f"{len(todo)} runs; logs in {jobs_file(store.root, sweep_id).parent}", file=sys.stderr,
          flush=True)
    if ex.detach:
        return
    seen = 0
    while True:
        store.ingest(sweep_id, wait=INGEST_WAIT_S)
        done = len(todo & store.done_hashes(sweep_id))
        if done > seen:
            if progress is not None:
                progress(done - seen)
            on_chunk(done - seen)
            seen = done
        if done == len(todo):
            return
        state = array_state(job_id)
        if state == {}:                                 # the array is over, runs are missing
            store.ingest(sweep_id)
            missing = len(todo - store.done_hashes(sweep_id))
            if missing:
                raise IncompleteSweep(
                    f"SLURM job array {job_id} ended with {missing} of {len(todo)} runs missing "
                    f"(a task failed or was cancelled; logs in {jobs_file(store.root, sweep_id).parent}); "
                    f"run the same command again to submit only the missing runs")
            continue
        time.sleep(ex.poll_s)
