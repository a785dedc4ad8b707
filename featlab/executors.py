"""Executors: where the chunks of a sweep are trained.

- :class:`Inline` trains chunk after chunk in this process (the default).
- :class:`Local` runs ``workers`` processes on this machine (one per GPU with ``--device cuda``).
- :class:`Slurm` submits the chunks as one SLURM job array through submitit
  (``pip install featlab[slurm]``); see :mod:`featlab.slurm`.

Every executor trains a chunk the same way (:func:`train_shard`): same chunk, same numbers, written
as a Parquet shard that the driver ingests into the store. A chunk whose shard exists or was
ingested is skipped, so a restarted worker resumes by config hash.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from featlab.config import ConfigError
from featlab.shards import chunk_tables, run_provenance, shard_done, shard_id, write_shard

__all__ = ["Inline", "Local", "Slurm", "make_executor", "train_shard", "EXECUTORS"]

EXECUTORS = ("inline", "local", "slurm")


def train_shard(root: str | Path, sweep_id: str, chunk: list, device: str, executor: str,
                on_step: Callable[[int, int], None] | None = None) -> int:
    """Train one chunk and write it as a shard; returns the runs trained (0: already done)."""
    from datetime import datetime, timezone

    from featlab.runner import trainer_for

    sid = shard_id([r.hash for r in chunk])
    if shard_done(root, sweep_id, sid):
        return 0
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    _, train_chunk = trainer_for(chunk[0].setting)
    result = train_chunk(chunk, device, on_step=on_step)
    tables = chunk_tables(sweep_id, result, run_provenance(result.device, executor), started)
    write_shard(root, sweep_id, sid, tables)
    return len(chunk)


@dataclass(frozen=True)
class Inline:
    """Train the chunks one after another in this process."""

    name = "inline"

    def run(self, store: Any, sweep_id: str, chunks: list[list], device: str,
            progress: Callable[[float], None] | None, on_chunk: Callable[[int], None]) -> None:
        for chunk in chunks:
            P = len(chunk)
            advanced = [0.0]

            def on_step(t: int, T: int, P: int = P, advanced: list = advanced) -> None:
                if progress is not None and T > 0:
                    frac = 0.99 * P * (t + 1) / T - advanced[0]
                    if frac > 0:
                        advanced[0] += frac
                        progress(frac)

            train_shard(store.root, sweep_id, chunk, device, self.name, on_step)
            store.ingest_due(sweep_id)                           # batched; run_sweep ingests the rest
            if progress is not None:
                progress(P - advanced[0])
            on_chunk(P)


def _init_worker(devices: Any) -> None:
    os.environ["FEATLAB_WORKER_DEVICE"] = devices.get()


def _local_train(root: str, sweep_id: str, chunk: list, device: str) -> int:
    device = os.environ.get("FEATLAB_WORKER_DEVICE", device)
    return train_shard(root, sweep_id, chunk, device, "local")


@dataclass(frozen=True)
class Local:
    """``workers`` processes on this machine, each taking the next chunk; with ``cuda`` worker k
    uses ``cuda:k`` (mod the device count). Workers keep torch's default thread count, the same
    as an inline run: CPU reductions split by thread, so another count changes the last bits
    (set OMP_NUM_THREADS to trade that for less oversubscription)."""

    workers: int = 2
    name = "local"

    def run(self, store: Any, sweep_id: str, chunks: list[list], device: str,
            progress: Callable[[float], None] | None, on_chunk: Callable[[int], None]) -> None:
        import multiprocessing as mp

        import torch

        from featlab.store import INGEST_WAIT_S

        ctx = mp.get_context("spawn")
        devices = ctx.Queue()
        n_cuda = torch.cuda.device_count() if device.startswith("cuda") and ":" not in device else 0
        for k in range(self.workers):
            devices.put(f"cuda:{k % n_cuda}" if n_cuda else device)
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(devices,))
        try:
            futures = {pool.submit(_local_train, str(store.root), sweep_id, c, device): len(c)
                       for c in chunks}
            while futures:
                done, _ = wait(futures, timeout=2.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    fut.result()                                 # a worker's error surfaces here
                store.ingest(sweep_id, wait=INGEST_WAIT_S)
                for fut in done:
                    P = futures.pop(fut)
                    if progress is not None:
                        progress(P)
                    on_chunk(P)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Slurm:
    """One SLURM job array through submitit; each array task trains a group of chunks and is
    requeued (resuming by config hash) on preemption or timeout. See :mod:`featlab.slurm`."""

    partition: str | None = None
    time_min: int = 60
    mem_gb: float | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    array_parallelism: int = 256
    setup: tuple[str, ...] = ()
    chunks_per_task: int | None = None
    gpu_mem_gb: float = 16.0
    detach: bool = False
    poll_s: float = 5.0
    name = "slurm"

    def run(self, store: Any, sweep_id: str, chunks: list[list], device: str,
            progress: Callable[[float], None] | None, on_chunk: Callable[[int], None]) -> None:
        from featlab.slurm import run_array

        run_array(self, store, sweep_id, chunks, device, progress, on_chunk)


def make_executor(name: str, workers: int | None = None, **slurm: Any) -> Inline | Local | Slurm:
    """Validate ``--executor`` and its options; ConfigError with the fix on bad input."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor={name!r} is invalid: choose one of {', '.join(EXECUTORS)}")
    if workers is not None and name != "local":
        raise ConfigError(f"--workers={workers} needs --executor local")
    if name == "inline":
        return Inline()
    if name == "local":
        if workers is None or workers < 1:
            raise ConfigError(f"--workers={workers} is invalid: use --executor local --workers N "
                              f"with N >= 1 (e.g. one per GPU)")
        return Local(workers)
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install 'featlab[slurm]'") from None
    if shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm needs SLURM's sbatch on PATH: run featlab on the "
                          "cluster's login node (or use --executor local)")
    ex = Slurm(**{k: v for k, v in slurm.items() if v is not None})
    for field, value, lo in (("--slurm-time", ex.time_min, 1), ("--gpus-per-task", ex.gpus_per_task, 0),
                             ("--array-parallelism", ex.array_parallelism, 1),
                             ("--cpus-per-task", ex.cpus_per_task, 1)):
        if value < lo:
            raise ConfigError(f"{field}={value} is invalid: use an integer >= {lo}")
    if ex.mem_gb is not None and not ex.mem_gb > 0:
        raise ConfigError(f"--slurm-mem={ex.mem_gb} is invalid: use GiB > 0, e.g. --slurm-mem 16")
    if ex.chunks_per_task is not None and ex.chunks_per_task < 1:
        raise ConfigError(f"--chunks-per-task={ex.chunks_per_task} is invalid: use an integer >= 1")
    return ex

