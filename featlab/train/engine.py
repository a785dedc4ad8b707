r"""The population engine's shared vocabulary: what a run is, what a chunk returns, when to log,
and how runs are grouped into chunks. Every trainer (the two-layer CNN's
:mod:`featlab.train.population`, the generic torch.func trainer :mod:`featlab.train.generic`, the
linear simulator :mod:`featlab.linear.simulate`) imports these, so chunking and logging behave
the same for every model family.

Chunking. Runs are grouped by their *structural key*: the setting's fields that fix a tensor shape
or a code path (d, m, activation, optimizer name, dtype, ...). Everything else (the per-run
fields: n, lr, seed, sigma_0, ...) may differ inside one chunk, as (P,) tensors. Each group is
then split into chunks whose size a trainer chooses from one run's memory footprint
(:func:`plan_chunks` takes the sizing rule).

Speed. A key is built from cached per-class field lists with :func:`operator.attrgetter` (no
per-run :func:`~featlab.config.flatten` or dict), and once per distinct setting object (the seeds
of one grid point share theirs): planning 10^5 runs takes well under a second.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Callable

import numpy as np
import torch

from featlab.config import to_dict

__all__ = ["RunSpec", "ChunkResult", "setting_json", "log_schedule", "structural_key", "group_runs",
           "plan_chunks", "memory_budget"]


@dataclass(frozen=True)
class RunSpec:
    """One run: its setting, seed, grid point (axis name -> value) and resume hash."""

    setting: Any
    seed: int
    point: tuple[tuple[str, object], ...] = ()

    @functools.cached_property
    def hash(self) -> str:
        """:func:`featlab.config.config_hash` of (setting, seed), computed once per RunSpec (the
        setting's JSON once per setting object, :func:`setting_json`)."""
        payload = '{"seed": %d, "setting": %s}' % (int(self.seed), setting_json(self.setting))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


_JSON: dict[int, tuple[Any, str]] = {}


def setting_json(setting: Any) -> str:
    """``json.dumps(to_dict(setting), sort_keys=True)``, cached per setting *object* (the seeds of
    a grid point share one; keyed by identity, not equality, since 1 == 1.0 but their JSON
    differs). With it a run's hash is the same string :func:`featlab.config.config_hash` hashes."""
    hit = _JSON.get(id(setting))
    if hit is not None and hit[0] is setting:
        return hit[1]
    if len(_JSON) >= 8192:
        _JSON.clear()
    text = json.dumps(to_dict(setting), sort_keys=True)
    _JSON[id(setting)] = (setting, text)
    return text


@dataclass
class ChunkResult:
    """Outcome of one chunk: per run status/steps/final metrics, and the tidy metric log."""

    runs: list[RunSpec]
    status: list[str]                        # "done" | "diverged"
    steps: np.ndarray                        # (P,) step at which each run stopped
    final: dict[str, np.ndarray]             # name -> (P,) value at the stop step
    log_run: np.ndarray                      # (R,) run index into ``runs``
    log_step: np.ndarray                     # (R,)
    log_values: dict[str, np.ndarray]        # name -> (R,)
    wall_s: float = 0.0
    device: str = "cpu"
    flops: float = 0.0                       # matmul FLOPs of the training steps
    span: bool = False                       # trained in the span representation
    #: seconds per phase of the chunk ("sampling", "init", "steps", "diagnostics"), for the
    #: bench's time budget; empty for trainers that do not split their time
    phases: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_log(cls, runs: list[RunSpec], diverged, stopped_at: np.ndarray,
                 final: dict[str, np.ndarray], rec_run: list, rec_step: list,
                 rec_vals: dict[str, list], **extra: Any) -> "ChunkResult":
        """Assemble a chunk's result from the per-log-point pieces a trainer recorded."""
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
        return cls(runs, ["diverged" if dv else "done" for dv in diverged], stopped_at, final,
                   cat(rec_run).astype(np.int64), cat(rec_step).astype(np.int64),
                   {k: cat(v) for k, v in rec_vals.items()}, **extra)


def log_schedule(T: int, kind: str, points: int) -> list[int]:
    """Steps in [0, T] at which diagnostics are logged (0 and T included; points=1: T only)."""
    if points == 1:
        return [T]
    if kind == "linear":
        steps = np.linspace(0, T, points)
    else:
        steps = np.concatenate([[0], np.geomspace(1, T, max(points - 1, 1))]) if T >= 1 else [0]
    return sorted({int(round(s)) for s in steps} | {0, T})


@functools.cache
def _getter(cls: type, prefix: str, free: frozenset) -> Callable[[Any], tuple]:
    """attrgetter of the init fields of ``cls`` whose dotted name ``prefix + name`` is not free
    (returns a tuple, also for one field)."""
    names = tuple(f.name for f in fields(cls) if f.init and f"{prefix}{f.name}" not in free)
    if not names:
        return lambda obj: ()
    get = operator.attrgetter(*names)
    return (lambda obj: (get(obj),)) if len(names) == 1 else get


@functools.cache
def _sections(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.init)


def _hashable(v: Any) -> Any:
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def structural_key(setting: Any, free: frozenset[str]) -> tuple:
    """The values of every field of ``setting`` (a dataclass of config sections) whose dotted name
    is not in ``free``, with each section's config class (two model families with equal fields
    never share a chunk). Equal keys <=> the runs may share a chunk."""
    key = []
    for sec in _sections(type(setting)):
        obj = getattr(setting, sec)
        if is_dataclass(obj):
            key.append((sec, type(obj), tuple(map(_hashable, _getter(type(obj), f"{sec}.", free)(obj)))))
        elif sec not in free:
            key.append((sec, _hashable(obj)))
    return tuple(key)


def group_runs(runs: list[RunSpec], key_of: Callable[[Any], tuple]) -> list[list[RunSpec]]:
    """Runs grouped by ``key_of(setting)`` (first-seen order of groups and of runs within them);
    the key is computed once per distinct setting object."""
    groups: dict[tuple, list[RunSpec]] = {}
    seen: dict[int, tuple] = {}
    for r in runs:
        k = seen.get(id(r.setting))
        if k is None:
            k = seen[id(r.setting)] = key_of(r.setting)
        groups.setdefault(k, []).append(r)
    return list(groups.values())


def plan_chunks(runs: list[RunSpec], key_of: Callable[[Any], tuple],
                size_of: Callable[[list[RunSpec]], int], chunk_size: int | None = None
                ) -> list[list[RunSpec]]:
    """Group runs by structural key (:func:`group_runs`) and split each group into chunks of
    ``size_of(group)`` runs (``chunk_size`` overrides)."""
    chunks = []
    for group in group_runs(runs, key_of):
        size = chunk_size or max(1, int(size_of(group)))
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return chunks


def memory_budget(device: str, given: float | None, cpu_default: float = 2 * 2**30) -> float:
    """Bytes a chunk may use: ``given``, else half the free CUDA memory or ``cpu_default``."""
    if given:
        return given
    if str(device).startswith("cuda"):
        return 0.5 * torch.cuda.mem_get_info()[0]
    return cpu_default
