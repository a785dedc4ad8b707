"""Run an experiment end to end: validate -> train the population chunk by chunk -> store -> report.

Each finished chunk is written as a shard and ingested into the store (:mod:`featlab.shards`),
so an interrupted sweep resumes where it stopped when the same command is run again (same sweep
id; config hashes stored or sharded are skipped). The chunks are trained by an executor
(:mod:`featlab.executors`: inline, local processes, a SLURM job array). Everything is validated
before the store is touched.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from featlab.config import ConfigError, Setting, memory_target, setting_from_dict
from featlab.executors import Inline
from featlab.experiments import get_experiment
from featlab.experiments.base import Analysis, Context, Experiment
from featlab.report import write_check_tables, write_report
from featlab.results_index import write_index
from featlab.provenance import provenance
from featlab.store import Store, StoreError
from featlab.sweep import Sweep
from featlab.linear import simulate as linear_simulate
from featlab.linear.config import LinearSetting, setting_from_dict as linear_setting_from_dict
from featlab.train import population

__all__ = ["RunOutcome", "run_experiment", "run_sweep", "run_sweep_file", "build_report",
           "check_device", "check_fits", "register_trainer", "trainer_for", "setting_builders"]

#: setting type -> (plan_chunks, train_chunk) of the trainer that runs it.
_TRAINERS: dict[type, tuple[Callable, Callable]] = {
    Setting: (population.plan_chunks, population.train_chunk),
    LinearSetting: (linear_simulate.plan_chunks, linear_simulate.train_chunk),
}
#: a stored spec's ``setting_type`` -> how to rebuild its setting (CNN specs have no type).
_FROM_SPEC: dict[str, Callable[[dict], Any]] = {"linear": linear_setting_from_dict}
#: setting type -> check_fits(runs): ConfigError if one run cannot fit in memory (linear settings
#: check their footprint at construction).
_FITS: dict[type, Callable[[list], None]] = {Setting: population.check_fits}


def register_trainer(setting_type: type, plan_chunks: Callable, train_chunk: Callable,
                     from_dict: tuple[str, Callable[[dict], Any]] | None = None,
                     check_fits: Callable[[list], None] | None = None) -> None:
    """Let the runner train settings of ``setting_type`` (and rebuild them from a stored spec;
    ``check_fits(runs)`` raises ConfigError before anything is stored if a run cannot fit)."""
    _TRAINERS[setting_type] = (plan_chunks, train_chunk)
    if from_dict is not None:
        _FROM_SPEC[from_dict[0]] = from_dict[1]
    if check_fits is not None:
        _FITS[setting_type] = check_fits


def setting_builders() -> dict[str, Callable[[dict], Any]]:
    """``setting_type`` -> how to build that setting from a (partial) nested dict."""
    return dict(_FROM_SPEC)


def check_fits(sweep: Sweep) -> None:
    """ConfigError if one run of ``sweep`` cannot fit in memory (validates every run first)."""
    _check_fits(sweep.setting, sweep.runs())


def trainer_for(setting: Any) -> tuple[Callable, Callable]:
    """(plan_chunks, train_chunk) for a setting's type."""
    try:
        return _TRAINERS[type(setting)]
    except KeyError:
        raise ConfigError(f"setting type {type(setting).__name__} has no trainer; register one with "
                          f"featlab.runner.register_trainer") from None


@dataclass
class RunOutcome:
    sweep_id: str
    n_runs: int
    n_trained: int
    report: Path | None
    check: dict[str, Any]
    timings: dict[str, float]


def check_device(device: str, executor: Any = None) -> str:
    """Validate ``--device``: cpu, cuda, cuda:N (when CUDA is available; on SLURM when GPUs are
    requested with --gpus-per-task, without probing this machine)."""
    import torch

    if device == "cpu":
        return device
    if device.startswith("cuda") and getattr(executor, "name", "") == "slurm":
        if executor.gpus_per_task < 1:
            raise ConfigError(f"device={device!r} on SLURM needs a GPU per task: add "
                              f"--gpus-per-task 1")
        return "cuda"                                  # each task sees its own GPUs from cuda:0
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} is invalid: CUDA is not available on this "
                              f"machine; use --device cpu")
        return device
    raise ConfigError(f"device={device!r} is invalid: use cpu, cuda or cuda:N")


def prepare(name: str, preset: str | None = None, overrides: Mapping[str, Any] | None = None,
            grid: Mapping[str, list] | None = None, seeds: int | None = None,
            seed_offset: int | None = None) -> tuple[Experiment, str, Sweep]:
    """Resolve and validate an experiment's sweep (no side effects)."""
    exp = get_experiment(name)
    preset = preset or exp.default_preset
    sweep = exp.sweep(preset)
    if grid:
        sweep = sweep.with_grid(grid)
    if overrides:
        sweep = sweep.with_overrides(overrides)
    if seeds is not None:
        sweep = dataclasses.replace(sweep, seeds=seeds)       # keeps Sweep subclasses
    if seed_offset is not None:
        sweep = dataclasses.replace(sweep, seed_offset=seed_offset)
    _check_fits(sweep.setting, sweep.runs())  # sweep.runs() validates every run
    return exp, preset, sweep


def _check_fits(setting: Any, runs: list) -> None:
    fits = _FITS.get(type(setting))
    if fits is not None:
        fits(runs)


def run_sweep(store: Store, sweep_id: str, sweep: Sweep, device: str = "cpu",
              chunk_size: int | None = None,
              progress: Callable[[float], None] | None = None,
              on_chunk: Callable[[int, int], None] | None = None,
              executor: Any = None) -> tuple[int, float]:
    """Train the runs of ``sweep`` not yet stored (or sharded) under ``sweep_id`` on ``executor``
    (default :class:`~featlab.executors.Inline`); returns (trained, seconds).

    ``on_chunk(stored, total)`` is called after each chunk is written."""
    executor = executor or Inline()
    runs = sweep.runs()
    with memory_target(_target_memory(executor)):
        _check_fits(sweep.setting, runs)
    done = store.done_hashes(sweep_id)
    todo = [r for r in runs if r.hash not in done]
    if progress is not None and len(runs) > len(todo):
        progress(len(runs) - len(todo))
    t0 = time.perf_counter()
    stored = [len(runs) - len(todo)]
    plan_chunks, _ = trainer_for(sweep.setting)
    budget = _target_gpu_budget(executor, device)
    chunks = (plan_chunks(todo, device, chunk_size, memory_budget=budget) if budget
              else plan_chunks(todo, device, chunk_size)) if todo else []

    def chunk_done(P: int) -> None:
        stored[0] += P
        if on_chunk is not None:
            on_chunk(stored[0], len(runs))

    if chunks:
        executor.run(store, sweep_id, chunks, device, progress, chunk_done)
    if store.ingest(sweep_id) is None:                       # pragma: no cover - held for 60 s
        raise StoreError(f"runs are saved as shards but {store.path} stayed busy; run "
                         f"featlab ingest {sweep_id} --out {store.root}")
    return len(todo), time.perf_counter() - t0


def _target_memory(executor: Any) -> int | None:
    """Bytes of memory a run may use on the executor's machines (SLURM: --slurm-mem)."""
    mem = getattr(executor, "mem_gb", None)
    return int(mem * 2**30) if mem else None


def _target_gpu_budget(executor: Any, device: str) -> float | None:
    """Chunk budget on a SLURM GPU: half of the requested GPU's memory (no CUDA probe here)."""
    if getattr(executor, "name", "") == "slurm" and device.startswith("cuda"):
        return 0.5 * executor.gpu_mem_gb * 2**30
    return None


def build_report(store: Store, sweep_id: str, exp: Experiment | None = None,
                 sweep: Sweep | None = None, preset: str | None = None,
                 out_dir: Path | None = None, timings: dict[str, Any] | None = None,
                 theory: dict[str, Any] | None = None, record: bool = True,
                 title_suffix: str = "") -> tuple[Path, Analysis]:
    """Analyze a stored sweep and (re)write its figures and HTML report.

    ``theory`` overrides theory constants fed to the check (negative controls); with
    ``record=False`` the sweep row's verdict in the store is left as it was."""
    row = store.sweep(sweep_id)
    exp = exp or _experiment_of(row)
    preset = preset or row["preset"]
    if sweep is None and row["spec"].get("setting_type") in _FROM_SPEC:
        spec = row["spec"]
        setting = _FROM_SPEC[spec["setting_type"]](spec["setting"])
        sweep = Sweep(setting, [(k, tuple(v)) for k, v in spec["grid"]], spec["seeds"],
                      spec.get("seed_offset", 0))
    if sweep is None:                                   # a CNN Setting (any data model)
        spec = row["spec"]
        sweep = Sweep(setting_from_dict(spec["setting"]),
                      [(k, tuple(v)) for k, v in spec["grid"]], spec["seeds"], spec.get("seed_offset", 0))
    out_dir = out_dir or store.root / "reports" / sweep_id
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = exp.analyze(Context(store, sweep_id, sweep, preset, out_dir, dict(theory or {})))
    timings = timings if timings is not None else row.get("timings", {})
    table = store.table(sweep_id)
    n_div = int((table["status"] == "diverged").sum()) if len(table) else 0
    notes = list(analysis.notes)
    if n_div:
        notes.append(f"{n_div} of {len(table)} runs diverged (non-finite loss or gradient); they "
                     f"are marked 'diverged' in the store and excluded from cell means.")
    prov = provenance(timings.get("device") or "see runs table")
    prov.update({"sweep_id": sweep_id, "store": str(store.path), "runs": len(table),
                 "diverged": n_div})
    settings = {"preset": preset, "seeds": sweep.seeds,
                "grid": {k: f"{len(v)} values: {_fmt_values(v)}" for k, v in sweep.grid},
                **{k: v for k, v in sweep.spec()["setting"].items()}}
    title = f"{exp.name} ({preset}{', ' + title_suffix if title_suffix else ''})"
    path = write_report(out_dir / "report.html", title=title, paper=exp.paper,
                        claim=f"{exp.figure}: {exp.claim}", settings=settings, check=analysis.check,
                        figures=analysis.figures, tables=analysis.tables, timings=timings,
                        notes=notes, provenance=prov)
    if analysis.check:                                  # check.csv, check.tex beside report.html
        write_check_tables(analysis.check, out_dir, caption=f"{exp.name} ({preset}): {exp.figure}")
    if record:
        store.finish_sweep(sweep_id, check=analysis.check, timings=timings, report_path=str(path))
    write_index(store)
    return path, analysis


def _experiment_of(row: dict[str, Any]) -> Experiment:
    """The experiment that reports a stored sweep: a registered one, or the generic report of
    a sweep file (its report spec is stored in the sweep's spec)."""
    from featlab.sweepfile import SWEEP_FILE, ReportSpec

    if row["experiment"] == SWEEP_FILE:
        from featlab.generic_report import generic_experiment

        return generic_experiment(row["preset"], ReportSpec.from_dict(row["spec"].get("report", {})))
    return get_experiment(row["experiment"])


def _fmt_values(values: tuple) -> str:
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return ", ".join(vals) if len(vals) <= 6 else f"{vals[0]}, {vals[1]}, ..., {vals[-1]}"


def run_experiment(name: str, preset: str | None = None, *, overrides: Mapping[str, Any] | None = None,
                   grid: Mapping[str, list] | None = None, seeds: int | None = None,
                   seed_offset: int | None = None, out: str | Path = "featlab-results", device: str = "cpu",
                   chunk_size: int | None = None, report: bool = True,
                   progress: Callable[[float], None] | None = None,
                   on_start: Callable[[str, int], None] | None = None,
                   on_chunk: Callable[[int, int], None] | None = None,
                   executor: Any = None) -> RunOutcome:
    """Run (or resume) an experiment's sweep and write its report. See the module docstring.
    A detached SLURM sweep returns after submission (no report; ``featlab status`` follows it)."""
    device = check_device(device, executor)
    with memory_target(_target_memory(executor)):
        exp, preset, sweep = prepare(name, preset, overrides, grid, seeds, seed_offset)
    sweep_id = f"{exp.name}-{preset}-{sweep.fingerprint()}"
    return _execute(exp, preset, sweep, sweep_id, sweep.spec(), out=out, device=device,
                    chunk_size=chunk_size, report=report, progress=progress, on_start=on_start,
                    on_chunk=on_chunk, executor=executor)


def run_sweep_file(sweep_file: Any, *, out: str | Path = "featlab-results", device: str = "cpu",
                   chunk_size: int | None = None, report: bool = True,
                   progress: Callable[[float], None] | None = None,
                   on_start: Callable[[str, int], None] | None = None,
                   on_chunk: Callable[[int, int], None] | None = None) -> RunOutcome:
    """Run (or resume) a :class:`~featlab.sweepfile.SweepFile` and write its report: the
    experiment's when the file names one (same sweep id as ``featlab run``), else the generic
    report. The sweep id depends on the runs only, so changing ``[report]`` resumes."""
    from featlab.generic_report import generic_experiment

    device = check_device(device)
    sf, sweep = sweep_file, sweep_file.sweep
    check_fits(sweep)
    if sf.experiment:
        exp, preset = get_experiment(sf.experiment), sf.preset
        sweep_id, spec = f"{exp.name}-{preset}-{sweep.fingerprint()}", sweep.spec()
    else:
        exp, preset = generic_experiment(sf.name, sf.report), sf.name
        sweep_id = f"{sf.name}-{sweep.fingerprint()}"
        spec = {**sweep.spec(), "report": sf.report.to_dict()}
    return _execute(exp, preset, sweep, sweep_id, spec, out=out, device=device,
                    chunk_size=chunk_size, report=report, progress=progress, on_start=on_start,
                    on_chunk=on_chunk)


def _execute(exp: Experiment, preset: str, sweep: Sweep, sweep_id: str, spec: dict[str, Any], *,
             out: str | Path, device: str, chunk_size: int | None, report: bool,
             progress: Callable[[float], None] | None, on_start: Callable[[str, int], None] | None,
             on_chunk: Callable[[int, int], None] | None, executor: Any = None) -> RunOutcome:
    n_runs = len(sweep.runs())
    with Store(out) as store:
        store.begin_sweep(sweep_id, experiment=exp.name, preset=preset, paper=exp.paper,
                          claim=exp.claim, spec=spec, n_runs=n_runs)
        store.set_spec(sweep_id, spec)                     # a resumed sweep file may change [report]
        if on_start is not None:
            on_start(sweep_id, n_runs)
        trained, train_s = run_sweep(store, sweep_id, sweep, device, chunk_size, progress, on_chunk,
                                     executor)
        timings = {"train_s": round(train_s, 3), "runs_trained": trained,
                   "runs_per_s": round(trained / train_s, 2) if train_s > 0 else None,
                   "device": device, "executor": getattr(executor, "name", "inline")}
        path, analysis = None, None
        if getattr(executor, "detach", False):
            return RunOutcome(sweep_id, n_runs, 0, None, {}, timings)
        if report:
            t0 = time.perf_counter()
            path, analysis = build_report(store, sweep_id, exp, sweep, preset, timings=timings)
            timings["report_s"] = round(time.perf_counter() - t0, 3)
        else:
            write_index(store)
        return RunOutcome(sweep_id, n_runs, trained, path, analysis.check if analysis else {}, timings)
