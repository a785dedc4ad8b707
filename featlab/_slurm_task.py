"""The SLURM array task (needs submitit; imported only on the cluster side and at submission)."""

from __future__ import annotations

import submitit

from featlab.executors import train_shard

__all__ = ["ChunkTask"]


class ChunkTask(submitit.helpers.Checkpointable):
    """One array task: train its chunks in order, skipping those already sharded or ingested.
    ``checkpoint`` (inherited) resubmits the same call, which is what makes a requeue resume.
    Torch keeps its default thread count (the CPUs the task sees), like an inline run."""

    def __call__(self, root: str, sweep_id: str, chunks: list[list], device: str) -> int:
        trained = 0
        for k, chunk in enumerate(chunks):
            n = train_shard(root, sweep_id, chunk, device, "slurm")
            print(f"featlab: chunk {k + 1}/{len(chunks)}: " +
                  (f"trained {n} runs" if n else f"already done, skipped {len(chunk)} runs"),
                  flush=True)
            trained += n
        return trained
