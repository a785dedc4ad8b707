"""The ``featlab`` command line (Typer + rich).

    featlab list
    featlab run kou2023-phase --preset quick [--set data.n=40] [--grid data.d=200,400] [--seeds 5]
                [--executor inline | local --workers N | slurm --slurm-partition P ... [--detach]]
    featlab run kou2023-phase --preset quick --dump-config > study.toml
    featlab sweep study.toml                      (a sweep file: featlab.sweepfile, examples/)
    featlab status SWEEP_ID / featlab ingest [SWEEP_ID]
    featlab runs [SWEEP_ID] [--format table|csv|json]
    featlab report SWEEP_ID [--fig-format png,pdf,svg] [--fig-width single|double]
    featlab export SWEEP_ID FOLDER
    featlab sql "SELECT ..."
    featlab fit SWEEP_ID --x model.M --y excess_risk [--group train.steps]
    featlab falsify kou2023-phase [--preset quick] [--control NAME]
    featlab bench

Every command's ``--out`` defaults to ``$FEATLAB_OUT`` (else ``./featlab-results``); the
results folder's ``index.html`` lists every sweep and is rebuilt after each run and report.
``python -m featlab`` is the same program; ``featlab --version`` prints the version.

Any invalid input prints one line ``error: ...`` naming the parameter and the fix, and exits
with code 2, before the store is touched. Ctrl-C exits with 130; finished runs are stored and
re-running the same command resumes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from featlab.config import ConfigError
from featlab.progress import progress_bar
from featlab.store import Store, StoreError

app = typer.Typer(add_completion=True, no_args_is_help=True,
                  help="featlab: population-batched sandboxes for deep-learning theory.")
console = Console()
err_console = Console(stderr=True)

OUT_HELP = "Results folder (holds featlab.duckdb and reports/); default: $FEATLAB_OUT or featlab-results."
OUT_ENV = "FEATLAB_OUT"


def _out_option() -> Any:
    """The --out option of every command: $FEATLAB_OUT when set, else ./featlab-results."""
    return typer.Option(Path("featlab-results"), "--out", "-o", help=OUT_HELP, envvar=OUT_ENV,
                        show_envvar=False)


def _fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _fig_format_option() -> Any:
    return typer.Option("png", "--fig-format", help="Figure files: any of png,pdf,svg "
                        "(comma-separated; the report embeds the PNG).")


def _fig_width_option() -> Any:
    return typer.Option(None, "--fig-width", help="Scale figures to a paper column: single "
                        "(3.5 in) or double (7.2 in).")


def _load_plugins(paths: list[Path]) -> None:
    """Import each --plugin file (one error line and exit 2 if one is unusable)."""
    from featlab.plugins import load_plugin

    for p in paths:
        try:
            load_plugin(p)
        except ConfigError as err:
            _fail(str(err))


def _parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"{what} {item!r} is invalid: use {what} section.key=value, e.g. {what} data.n=40")
        out[key.strip()] = value.strip()
    return out


def _version(value: bool) -> None:
    if value:
        from featlab import __version__

        print(f"featlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the featlab version and exit.")) -> None:
    """featlab: population-batched sandboxes for deep-learning theory."""


@app.command("list")
def list_experiments() -> None:
    """List experiments with their paper, claim and presets."""
    from featlab.experiments import experiments

    table = Table(title="featlab experiments", show_lines=True)
    for col in ("experiment", "paper / figure", "claim", "presets"):
        table.add_column(col, overflow="fold")
    for e in experiments():
        table.add_row(e.name, f"{e.paper}\n[dim]{e.figure}[/]", e.claim, ", ".join(e.presets))
    console.print(table)


@app.command()
def run(
    experiment: str = typer.Argument(..., help="Experiment name (see featlab list)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Preset (default: quick)."),
    set_: list[str] = typer.Option([], "--set", help="Fix a field: --set data.n=40 (repeatable)."),
    grid: list[str] = typer.Option([], "--grid", help="Sweep a field: --grid data.d=200,400,800."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Runs per grid point."),
    seed_offset: Optional[int] = typer.Option(None, "--seed-offset",
                                              help="First seed (fresh seeds for a re-run, see CHECKS.md)."),
    out: Path = _out_option(),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Runs per population chunk (default: automatic)."),
    no_report: bool = typer.Option(False, "--no-report", help="Train and store only."),
    fig_format: str = _fig_format_option(),
    fig_width: Optional[str] = _fig_width_option(),
    dump_config: bool = typer.Option(False, "--dump-config", help="Print the equivalent sweep file "
                                     "(TOML, for featlab sweep) and exit without running."),
    plugin: list[Path] = typer.Option([], "--plugin", help="A .py file registering your own model family (repeatable)."),
    executor: str = typer.Option("inline", "--executor", help="inline (this process), local "
                                 "(--workers processes) or slurm (a job array via submitit)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for --executor local."),
    slurm_partition: Optional[str] = typer.Option(None, "--slurm-partition", help="SLURM partition."),
    slurm_time: Optional[int] = typer.Option(None, "--slurm-time", help="Minutes per array task (default 60)."),
    slurm_mem: Optional[float] = typer.Option(None, "--slurm-mem", help="GiB per array task; memory checks use it."),
    gpus_per_task: Optional[int] = typer.Option(None, "--gpus-per-task", help="GPUs per array task."),
    gpu_mem: Optional[float] = typer.Option(None, "--gpu-mem", help="GiB of the requested GPU (chunk planning; default 16)."),
    cpus_per_task: Optional[int] = typer.Option(None, "--cpus-per-task", help="CPUs per array task (default 1)."),
    array_parallelism: Optional[int] = typer.Option(None, "--array-parallelism", help="Array tasks running at once."),
    slurm_setup: list[str] = typer.Option([], "--slurm-setup", help="Shell line run before each task, e.g. 'module load cuda' (repeatable)."),
    chunks_per_task: Optional[int] = typer.Option(None, "--chunks-per-task", help="Chunks per array task (default: one, at most 1000 tasks)."),
    detach: bool = typer.Option(False, "--detach", help="Submit and return; then featlab status / featlab ingest."),
) -> None:
    """Run (or resume) an experiment's sweep as a population and write its report."""
    from featlab.executors import make_executor
    from featlab.runner import prepare, run_experiment

    _load_plugins(plugin)

    overrides = _parse_pairs(set_, "--set")
    axes = {k: [x for x in v.split(",") if x] for k, v in _parse_pairs(grid, "--grid").items()}
    if seeds is not None and seeds < 1:
        _fail(f"--seeds={seeds} is invalid: use an integer >= 1")
    if seed_offset is not None and seed_offset < 0:
        _fail(f"--seed-offset={seed_offset} is invalid: use an integer >= 0")
    if chunk_size is not None and chunk_size < 1:
        _fail(f"--chunk-size={chunk_size} is invalid: use an integer >= 1")
    if dump_config:
        from featlab.sweepfile import dump_sweep

        try:
            exp, preset_, sweep = prepare(experiment, preset, overrides, axes, seeds, seed_offset)
            text = dump_sweep(sweep, name=f"{exp.name}-{preset_}", experiment=exp.name,
                              preset=preset_, header=f"{exp.name} --preset {preset_}: {exp.paper}")
        except ConfigError as err:
            _fail(str(err))
        sys.stdout.write(text)
        return
    if detach and executor != "slurm":
        _fail("--detach needs --executor slurm")
    try:
        ex = make_executor(executor, workers, partition=slurm_partition, time_min=slurm_time,
                           mem_gb=slurm_mem, gpus_per_task=gpus_per_task, gpu_mem_gb=gpu_mem,
                           cpus_per_task=cpus_per_task, array_parallelism=array_parallelism,
                           setup=tuple(slurm_setup) or None, chunks_per_task=chunks_per_task,
                           detach=detach or None)
    except ConfigError as err:
        _fail(str(err))
    figs = _figure_options(fig_format, fig_width)
    _train_with_progress(experiment, out, figs, lambda **kw: run_experiment(
        experiment, preset, overrides=overrides, grid=axes, seeds=seeds, seed_offset=seed_offset,
        out=out, device=device, chunk_size=chunk_size, report=not no_report, executor=ex, **kw),
        detach=detach)


@app.command()
def sweep(
    file: Path = typer.Argument(..., help="Sweep file (TOML; see examples/ and featlab.sweepfile)."),
    out: Path = _out_option(),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Runs per population chunk (default: automatic)."),
    no_report: bool = typer.Option(False, "--no-report", help="Train and store only."),
    fig_format: str = _fig_format_option(),
    fig_width: Optional[str] = _fig_width_option(),
) -> None:
    """Run (or resume) the sweep a TOML file states and write its (generic) report."""
    from featlab.runner import run_sweep_file
    from featlab.sweepfile import load_sweep

    if chunk_size is not None and chunk_size < 1:
        _fail(f"--chunk-size={chunk_size} is invalid: use an integer >= 1")
    figs = _figure_options(fig_format, fig_width)
    try:
        sf = load_sweep(file)
    except ConfigError as err:
        _fail(str(err))
    _train_with_progress(sf.name, out, figs, lambda **kw: run_sweep_file(
        sf, out=out, device=device, chunk_size=chunk_size, report=not no_report, **kw))


def _figure_options(fig_format: str, fig_width: str | None) -> Any:
    """The plots.figure_options of --fig-format / --fig-width (one line, exit 2 if invalid)."""
    from featlab.plots import FORMATS, figure_options

    formats = [f.strip().lower() for f in fig_format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS] or ([] if formats else [fig_format])
    if bad:
        _fail(f"--fig-format={fig_format!r} is invalid: use a comma-separated subset of "
              f"{','.join(FORMATS)}, e.g. --fig-format png,pdf")
    if fig_width is not None and fig_width not in ("single", "double"):
        _fail(f"--fig-width={fig_width!r} is invalid: use single or double")
    return figure_options(formats, fig_width)


def _train_with_progress(label: str, out: Path, figs: Any, start: Any, detach: bool = False) -> None:
    """Call ``start(progress=, on_start=, on_chunk=)`` under a progress bar; print the outcome.
    ConfigError / StoreError -> one line, exit 2; an incomplete SLURM sweep -> exit 1; Ctrl-C ->
    exit 130 (finished runs are kept)."""
    from featlab.slurm import IncompleteSweep

    progress = progress_bar(console)
    task: dict[str, Any] = {}

    def on_start(sweep_id: str, n_runs: int) -> None:
        console.print(f"sweep [bold]{sweep_id}[/]: {n_runs} runs -> {out / 'featlab.duckdb'}")
        progress.start()
        task["id"] = progress.add_task(label, total=n_runs)

    def advance(k: float) -> None:
        progress.update(task["id"], advance=k)

    def chunk_line(stored: int, total: int) -> None:
        if not console.is_terminal:                     # logs (CI, SLURM): one line per commit
            print(f"stored {stored}/{total} runs", flush=True)

    try:
        with figs:
            outcome = start(progress=advance, on_start=on_start, on_chunk=chunk_line)
    except (ConfigError, StoreError) as err:
        progress.stop()
        _fail(str(err))
    except IncompleteSweep as err:                      # re-running resubmits the missing runs
        progress.stop()
        _fail(str(err), code=1)
    except KeyboardInterrupt:
        progress.stop()
        err_console.print("[yellow]interrupted[/]: finished runs are stored; run the same command "
                          "again to resume.")
        raise typer.Exit(130)
    progress.stop()
    if detach:
        console.print(f"detached: follow with featlab status {outcome.sweep_id} --out {out}; "
                      f"featlab ingest {outcome.sweep_id} --out {out} stores finished runs")
        return
    _print_outcome(outcome)


def _print_outcome(outcome: Any) -> None:
    check = outcome.check or {}
    if check:
        from featlab.mathtext import to_text
        from featlab.report import row_status

        table = Table(title="check")
        for col in ("quantity", "claim", "measured", "status"):
            table.add_column(col, overflow="fold")
        marks = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "reported": "[dim]reported[/]"}
        for r in check.get("rows", []):
            table.add_row(escape(to_text(r["quantity"])), escape(to_text(r["claim"])),
                          escape(str(r["measured"])), marks[row_status(r)])
        console.print(table)
        verdict = "[bold green]PASS[/]" if check.get("passed") else "[bold red]FAIL[/]"
        summary = f" ({escape(check['summary'])})" if check.get("summary") else ""
        console.print(f"claim check: {verdict}{summary}")
    t = outcome.timings
    console.print(f"trained {outcome.n_trained}/{outcome.n_runs} runs in {t.get('train_s', 0):.1f}s "
                  f"({t.get('runs_per_s') or 0:.1f} runs/s); stored as sweep {outcome.sweep_id}")
    if outcome.report:
        console.print(f"report: {outcome.report}")


FORMATS = ("table", "csv", "json")


@app.command()
def falsify(
    experiment: str = typer.Argument(..., help="Experiment name (see featlab list)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Preset (default: quick)."),
    control: list[str] = typer.Option([], "--control", help="Run only this control (repeatable)."),
    out: Path = _out_option(),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
) -> None:
    """Run the preset and its negative controls: exit 0 iff the real run passes and every control fails."""
    from featlab.falsify import falsify as run_falsify

    try:
        outcome = run_falsify(experiment, preset, out=out, device=device, only=control or None)
    except (ConfigError, StoreError) as err:
        _fail(str(err))
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished runs are stored; run the same command "
                          "again to resume.")
        raise typer.Exit(130)
    table = Table(title=f"falsify {outcome.experiment} ({outcome.preset})", show_lines=True)
    for col in ("variant", "what is broken", "check", "expected", "rows that fail", "ok"):
        table.add_column(col, overflow="fold")
    for o in outcome.outcomes:
        table.add_row(o.name, o.why, f"{'PASS' if o.passed else 'FAIL'} ({o.summary})",
                      "PASS" if o.expected else "FAIL", ", ".join(o.failing_rows) or "-",
                      "[green]yes[/]" if o.ok else "[red]NO[/]")
    console.print(table)
    n_bad = sum(not o.ok for o in outcome.outcomes)
    if outcome.ok:
        console.print(f"falsify: [bold green]OK[/] (real run passes, {len(outcome.outcomes) - 1} "
                      f"controls fail)")
    else:
        console.print(f"falsify: [bold red]NOT OK[/] ({n_bad} of {len(outcome.outcomes)} variants "
                      f"did not give the expected verdict)")
        raise typer.Exit(1)


@app.command()
def runs(
    sweep_id: Optional[str] = typer.Argument(None, help="Show the runs of this sweep."),
    out: Path = _out_option(),
    limit: int = typer.Option(20, "--limit", help="Rows to show for a sweep (table format only)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json (csv/json: every row)."),
) -> None:
    """List stored sweeps, or the runs of one sweep (grid values and final metrics)."""
    if fmt not in FORMATS:
        _fail(f"--format={fmt!r} is invalid: use one of {', '.join(FORMATS)}")
    try:
        with Store(out, read_only=True) as store:
            if fmt != "table":
                _print_frame(_sweeps_frame(store) if sweep_id is None else _runs_frame(store, sweep_id),
                             fmt)
            elif sweep_id is None:
                _print_sweeps(store)
            else:
                _print_runs(store, sweep_id, limit)
    except StoreError as err:
        _fail(str(err))


def _sweeps_frame(store: Store) -> Any:
    df = store.sweeps()
    for col in ("created_at", "finished_at"):
        df[col] = df[col].astype(str).replace({"NaT": None, "None": None})
    return df


def _runs_frame(store: Store, sweep_id: str) -> Any:
    axes = [k for key, _ in store.sweep(sweep_id)["spec"].get("grid", []) for k in key.split(",")]
    return store.table(sweep_id, axes=axes)


def _print_frame(df: Any, fmt: str) -> None:
    """Machine-readable output on stdout: CSV with a header, or a JSON array of row objects."""
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    else:
        sys.stdout.write(df.to_json(orient="records", double_precision=15) + "\n")


def _missing(value: Any) -> bool:
    """None, NaN or pandas NA (a sweep stored without a report has no check)."""
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _print_sweeps(store: Store) -> None:
    df = store.sweeps()
    table = Table(title=f"sweeps in {store.path}", box=box.SIMPLE_HEAD)
    table.add_column("sweep id", no_wrap=True, style="bold")
    for col in ("runs", "diverged", "check", "finished"):
        table.add_column(col)
    for _, r in df.iterrows():
        check = "-" if _missing(r["check_passed"]) else (
            "[green]PASS[/]" if r["check_passed"] else "[red]FAIL[/]")
        finished = "" if _missing(r["finished_at"]) else str(r["finished_at"])[:16]
        table.add_row(r["sweep_id"], f"{r['stored']}/{r['n_runs']}", str(int(r["diverged"] or 0)), check, finished)
    console.print(table)
    console.print("[dim]featlab runs SWEEP_ID shows its runs; featlab report SWEEP_ID rebuilds its report[/]")


def _print_runs(store: Store, sweep_id: str, limit: int) -> None:
    row = store.sweep(sweep_id)
    axes = [k for key, _ in row["spec"].get("grid", []) for k in key.split(",")]   # zipped: each field
    df = store.table(sweep_id, axes=axes)
    names = {"train_loss": "loss", "test_error": "test err", "gamma_max": "γ max",
             "rho_max": "|ρ| max"}
    cols = ["seed", *axes, "status", "steps", *names]
    table = Table(title=f"{sweep_id}: {len(df)} runs (first {min(limit, len(df))})",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in cols:
        table.add_column(names.get(col, col.split(".")[-1]), no_wrap=True)
    for _, r in df.head(limit).iterrows():
        table.add_row(*[f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols])
    console.print(table)


@app.command()
def ingest(
    sweep_id: Optional[str] = typer.Argument(None, help="Sweep whose shards to ingest (default: all)."),
    out: Path = _out_option(),
) -> None:
    """Copy finished result shards into the store (idempotent; safe while workers still write)."""
    try:
        store = Store(out)
        added = store.ingest(sweep_id)
    except StoreError as err:
        _fail(str(err))
    if added is None:
        _fail(f"store {out / 'featlab.duckdb'} stayed busy; retry featlab ingest", code=1)
    console.print(f"ingested {added} runs")
    if sweep_id is not None:
        _print_status(store, sweep_id)


@app.command()
def status(
    sweep_id: str = typer.Argument(..., help="Sweep to show (see featlab runs)."),
    out: Path = _out_option(),
) -> None:
    """Runs stored, waiting in shards and missing for a sweep, and its SLURM arrays' states."""
    try:
        with Store(out, read_only=True) as store:
            _print_status(store, sweep_id)
    except StoreError as err:
        _fail(str(err))


def _print_status(store: Store, sweep_id: str) -> None:
    from featlab.shards import pending_shards
    from featlab.slurm import array_summary

    row = store.sweep(sweep_id)
    have = int(store.sql("SELECT count(*) AS n FROM runs WHERE sweep_id = ?", [sweep_id])["n"][0])
    shards = pending_shards(store.root, sweep_id)
    console.print(f"{sweep_id}: {have}/{row['n_runs']} runs finished "
                  f"({len(shards)} shards not yet ingested), status {row['status']}")
    for line in array_summary(store.root, sweep_id):
        console.print(line)


@app.command()
def report(
    sweep_id: str = typer.Argument(..., help="Sweep to report (see featlab runs)."),
    out: Path = _out_option(),
    plugin: list[Path] = typer.Option([], "--plugin", help="The plugin file(s) the sweep was run with."),
    fig_format: str = _fig_format_option(),
    fig_width: Optional[str] = _fig_width_option(),
) -> None:
    """Rebuild a sweep's figures and HTML report from the store."""
    from featlab.runner import build_report

    _load_plugins(plugin)
    figs = _figure_options(fig_format, fig_width)
    try:
        with Store(out) as store, figs:
            store.sweep(sweep_id)
            path, analysis = build_report(store, sweep_id)
    except (StoreError, ConfigError) as err:
        _fail(str(err))
    check = analysis.check
    verdict = "no check" if not check else "PASS" if check.get("passed") else "FAIL"
    summary = f" ({check['summary']})" if check.get("summary") else ""
    console.print(f"claim check: {verdict}{summary}\nreport: {path}", highlight=False)


@app.command()
def export(
    sweep_id: str = typer.Argument(..., help="Sweep to export."),
    folder: Path = typer.Argument(..., help="Folder for the Parquet files."),
    out: Path = _out_option(),
) -> None:
    """Export a sweep's runs, params, summary and metrics as Parquet."""
    try:
        with Store(out, read_only=True) as store:
            store.sweep(sweep_id)
            paths = store.export_parquet(sweep_id, folder)
    except (StoreError, OSError) as err:
        _fail(str(err))
    for p in paths:
        console.print(str(p))


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL over tables sweeps, runs, params, summary, metrics."),
    out: Path = _out_option(),
) -> None:
    """Query the results store with SQL."""
    import duckdb

    try:
        with Store(out, read_only=True) as store:
            df = store.sql(query)
    except StoreError as err:
        _fail(str(err))
    except duckdb.Error as err:
        _fail(f"SQL error: {err}")
    console.print(df.to_string(index=False))


@app.command()
def fit(
    sweep_id: str = typer.Argument(..., help="Sweep to fit (see featlab runs)."),
    x: str = typer.Option(..., "--x", help="Setting field (model.M), final metric, or 'step'."),
    y: str = typer.Option(..., "--y", help="Metric to fit, e.g. excess_risk."),
    x2: str | None = typer.Option(None, "--x2", help="Second variable: fit E + A x^-alpha + B x2^-beta "
                                  "(e.g. --x model.M --x2 step)."),
    group: list[str] = typer.Option([], "--group", help="Fit separately per value of this field (repeatable)."),
    n_boot: int = typer.Option(200, "--n-boot", help="Bootstrap refits for the CIs."),
    out: Path = _out_option(),
) -> None:
    """Fit L = E + A x^-alpha [+ B x2^-beta] (Huber loss, bootstrap 95% CIs) to a stored sweep, per group."""
    from featlab.linear.fitting import fit_sweep

    if n_boot < 0:
        _fail(f"--n-boot={n_boot} is invalid: use an integer >= 0")
    try:
        with Store(out, read_only=True) as store:
            df = fit_sweep(store, sweep_id, x, y, group, x2=x2, n_boot=n_boot)
    except (StoreError, ConfigError) as err:
        _fail(str(err))
    law = f"E + A {x}^-alpha" + (f" + B {x2}^-beta" if x2 else "")
    table = Table(title=f"{sweep_id}: {y} = {law}", box=box.SIMPLE_HEAD)
    terms = [("E", "E"), ("A", None), ("alpha", "alpha")] + ([("B", None), ("beta", "beta")] if x2 else [])
    for col in (*group, "points", *[f"{n} [95% CI]" if ci else n for n, ci in terms]):
        table.add_column(col)
    for _, r in df.iterrows():
        cells = [f"{r[n]:.4g} [{r[n + '_lo']:.3g}, {r[n + '_hi']:.3g}]" if ci else f"{r[n]:.4g}" for n, ci in terms]
        table.add_row(*[f"{r[g]:g}" for g in group], str(int(r["points"])), *cells)
    console.print(table)


@app.command()
def bench(
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    quick: bool = typer.Option(False, "--quick", help="A small workload (seconds) to smoke-test."),
    full_official: bool = typer.Option(False, "--full-official", help="Also time the full 1e5-run official grid."),
) -> None:
    """Population vs per-run loop on the official Kou workload; % of the matmul ceiling."""
    from featlab.bench import run_bench
    from featlab.runner import check_device

    try:
        check_device(device)
    except ConfigError as err:
        _fail(str(err))
    run_bench(device=device, quick=quick, full_official=full_official, console=console)


def main() -> None:
    """Entry point: Typer's own usage errors also exit with 2."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
