"""Sweep files: a study stated in TOML, run with ``featlab sweep study.toml``, no Python needed.

    name = "snr-phase"                  # the sweep id is <name>-<8 hex digits of the sweep>
    seeds = 3
    # setting_type = "linear"           # default: the CNN Setting
    # experiment = "kou2023-phase"      # optional: report with that experiment's check
    # preset = "quick"

    [setting.data]                      # any field of any section; kind picks the data model
    kind = "signal_noise"
    n = 20
    d = 200
    [setting.optim]
    lr = 0.5

    [grid]                              # axes, in order; their product x seeds = the runs
    "data.mu_norm" = [0.5, 1.0, 2.0]
    "optim.name,optim.lr" = [["gd", "adam"], [0.5, 0.001]]   # zipped: one column per field

    [report]                            # the generic report (featlab.generic_report)
    metrics = ["test_error", "gamma_max"]   # final metrics: heatmaps and line plots
    dynamics = ["train_loss"]               # logged metrics over steps
    heatmap = ["data.mu_norm", "data.d"]    # default: the first two axes
    line = "data.mu_norm"                   # default: the first axis

    [theory]                            # optional overlay: a control parameter of the theory
    control = "n * snr^2"               # safe arithmetic over the setting (featlab.expr)
    label = "n SNR^2"
    threshold = 1.0                     # drawn as the contour control = threshold

TOML has no null: an optional field is unset with the string ``"none"`` (``r2 = "none"``).
Everything is checked before anything is trained or stored, with one line naming the key and
the fix (:class:`~featlab.config.ConfigError`): TOML syntax, unknown keys, wrong types, axes
without values, zipped axes of unequal lengths, invalid values (the setting's own checks).
:func:`dump_sweep` writes the file of any :class:`~featlab.sweep.Sweep` (``featlab run EXP
--preset P --dump-config``): loading it reproduces the same runs (config hashes).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from featlab.config import ConfigError, Setting, override, setting_from_dict, to_dict, type_hints
from featlab.expr import compile_expr, variables
from featlab.sweep import Sweep

__all__ = ["SweepFile", "ReportSpec", "load_sweep", "parse_sweep", "dump_sweep", "SWEEP_FILE"]

#: The ``experiment`` column of a sweep run from a file without an ``experiment`` key.
SWEEP_FILE = "sweep-file"
_TOP = ("name", "seeds", "setting_type", "experiment", "preset", "setting", "grid", "report", "theory")
_REPORT = ("metrics", "dynamics", "heatmap", "line")
_THEORY = ("control", "label", "threshold")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ReportSpec:
    """What the generic report draws (see the module docstring's ``[report]`` / ``[theory]``)."""

    metrics: tuple[str, ...] = ()
    dynamics: tuple[str, ...] = ()
    heatmap: tuple[str, ...] = ()
    line: str | None = None
    control: str | None = None
    label: str = ""
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReportSpec":
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}})


@dataclass(frozen=True)
class SweepFile:
    """A loaded, validated sweep file."""

    name: str
    sweep: Sweep
    report: ReportSpec = field(default_factory=ReportSpec)
    experiment: str | None = None
    preset: str | None = None
    source: str = ""


# ----------------------------------------------------------------------------- setting types

def _setting_types() -> dict[str, Any]:
    """setting_type -> from_dict; "cnn" is the :class:`~featlab.config.Setting`."""
    from featlab.runner import setting_builders

    return {"cnn": setting_from_dict, **setting_builders()}


def _type_name(setting: Any) -> str:
    return getattr(type(setting), "SETTING_TYPE", None) or "cnn"


# ----------------------------------------------------------------------------- type checks

def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        return " or ".join([_describe(a) for a in typing.get_args(tp) if a is not type(None)]
                           + (['"none"'] if type(None) in typing.get_args(tp) else []))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, "a value")


def _type_ok(value: Any, tp: Any) -> bool:
    """Is a TOML value acceptable for the annotated field type (no silent string parsing)?"""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in typing.get_args(tp) and value == "none":
            return True
        return any(_type_ok(value, a) for a in typing.get_args(tp) if a is not type(None))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return isinstance(value, (str, int, float, bool))


def _field_type(base: Any, key: str, where: str) -> Any:
    """The annotated type of dotted ``key`` in ``base``; ConfigError naming valid keys otherwise
    (``where`` ending in ": setting" names the key as its TOML table, setting.data.n)."""
    if where.endswith(": setting"):
        where, shown = where[: -len(": setting")], f"setting.{key}"
    else:
        shown = key
    head, _, leaf = key.partition(".")
    sections = [f.name for f in dataclasses.fields(base) if dataclasses.is_dataclass(getattr(base, f.name))]
    if head not in sections or not leaf or "." in leaf:
        raise ConfigError(f"{where}: unknown key {shown!r}; keys are section.field with a section "
                          f"among {', '.join(sections)}")
    obj = getattr(base, head)
    valid = [f.name for f in dataclasses.fields(obj) if f.init and f.name != "kind"]
    if leaf not in valid:
        raise ConfigError(f"{where}: unknown key {shown!r}; valid keys of {head}: {', '.join(valid)}")
    return type_hints(type(obj))[leaf]


def _check_value(base: Any, key: str, value: Any, where: str) -> Any:
    """``value`` checked against the field's type ("none" -> None for an optional field)."""
    tp = _field_type(base, key, where)
    if not _type_ok(value, tp):
        raise ConfigError(f"{where}: {key} = {_toml(value)} has the wrong type: expected "
                          f"{_describe(tp)}")
    args = typing.get_args(tp)
    unset = value == "none" and type(None) in args and not any(
        _type_ok(value, a) for a in args if a is not type(None))
    return None if unset else value


def _expect(value: Any, kind: type | tuple, where: str, what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where} = {_toml(value)} is invalid: use {what}")


# ----------------------------------------------------------------------------- parse

def _base_setting(doc: dict[str, Any], src: str) -> tuple[Any, dict[str, Any]]:
    """Default setting of the file's type with its ``kind`` fields; the other fields, dotted."""
    kind = doc.get("setting_type", "cnn")
    builders = _setting_types()
    if kind not in builders:
        raise ConfigError(f"{src}: setting_type = {_toml(kind)} is invalid: choose one of "
                          f"{', '.join(builders)}")
    sections = doc.get("setting", {})
    _expect(sections, dict, f"{src}: setting", "tables [setting.data], [setting.model], ...")
    kinds, flat = {}, {}
    for head, body in sections.items():
        _expect(body, dict, f"{src}: setting.{head}", f"a table [setting.{head}] of field = value")
        for k, v in body.items():
            if k == "kind":
                kinds[head] = {"kind": v}
            else:
                flat[f"{head}.{k}"] = v
    try:
        base = builders[kind](kinds)
    except ConfigError:              # defaults clash with a kind (e.g. data.kind vs test_estimator)
        try:
            base = builders[kind](sections)
        except (ConfigError, TypeError) as err:
            raise ConfigError(f"{src}: setting: {err}") from None
    return base, flat


def _axis_points(key: str, values: Any, base: Any, src: str) -> tuple:
    """The points of one grid axis; a zipped key "a,b" takes one list per field."""
    where = f"{src}: grid.{key!r}" if "," in key else f"{src}: grid.{key}"
    fields_ = [k.strip() for k in key.split(",")]
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where} has no values; give a non-empty list, e.g. \"{fields_[0]}\" = [1, 2]")
    if len(fields_) == 1:
        return tuple(_check_value(base, key, v, f"{src}: grid") for v in values)
    if len(values) != len(fields_) or not all(isinstance(c, list) for c in values):
        raise ConfigError(f"{where} zips {len(fields_)} fields: give {len(fields_)} lists, one per "
                          f"field, e.g. \"{key}\" = [[...], [...]]")
    lengths = [len(c) for c in values]
    if len(set(lengths)) != 1 or lengths[0] == 0:
        raise ConfigError(f"{where} zips lists of unequal lengths "
                          f"({', '.join(f'{f}: {n}' for f, n in zip(fields_, lengths))}); give every "
                          f"field the same number of values (>= 1)")
    points = list(zip(*values))
    return tuple(_zipped_point(base, fields_, p, f"{src}: grid") for p in points)


def _zipped_point(base: Any, fields_: list[str], point: tuple, where: str) -> tuple:
    """One point of a zipped axis, each value checked against its field's type. A field
    ``section.kind`` among them (e.g. "data.kind,data.n" moving between data models) switches that
    section to the named kind first, so the point's other fields of the section are checked
    against that kind's config."""
    for f, v in zip(fields_, point):
        head, _, leaf = f.partition(".")
        if leaf == "kind":
            try:
                base = override(base, {f: v})
            except ConfigError as err:
                raise ConfigError(f"{where}.{f!r}: {err}") from None
    return tuple(v if f.endswith(".kind") else _check_value(base, f, v, where)
                 for f, v in zip(fields_, point))


def _report_spec(doc: dict[str, Any], sweep: Sweep, src: str) -> ReportSpec:
    rep, theory = doc.get("report", {}), doc.get("theory", {})
    for table, keys, name in ((rep, _REPORT, "report"), (theory, _THEORY, "theory")):
        _expect(table, dict, f"{src}: {name}", f"a table [{name}]")
        for k in table:
            if k not in keys:
                raise ConfigError(f"{src}: unknown key {name}.{k}; valid keys: {', '.join(keys)}")
    known = _metric_names(sweep.setting)
    lists = {}
    for k in ("metrics", "dynamics", "heatmap"):
        v = rep.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{src}: report.{k} = {_toml(v)} is invalid: use a list of names")
        lists[k] = tuple(v)
    for k in ("metrics", "dynamics"):
        for m in lists[k]:
            if known and m not in known:
                raise ConfigError(f"{src}: report.{k} names {m!r}, which this setting does not log; "
                                  f"use one of {', '.join(known)}")
    axes = sweep.axes
    if lists["heatmap"] and (len(lists["heatmap"]) != 2 or not set(lists["heatmap"]) <= set(axes)):
        raise ConfigError(f"{src}: report.heatmap = {_toml(list(lists['heatmap']))} is invalid: name "
                          f"two grid axes among {', '.join(axes) or '(none)'}")
    line = rep.get("line")
    if line is not None and line not in axes:
        raise ConfigError(f"{src}: report.line = {_toml(line)} is invalid: name a grid axis among "
                          f"{', '.join(axes) or '(none)'}")
    control, threshold = theory.get("control"), theory.get("threshold")
    if control is not None:
        _expect(control, str, f"{src}: theory.control", "an expression such as \"n * snr^2\"")
        try:
            compile_expr(control, variables(sweep.setting))
        except ConfigError as err:
            raise ConfigError(f"{src}: theory.control: {err}") from None
    elif theory:
        raise ConfigError(f"{src}: [theory] needs control = \"...\", e.g. control = \"n * snr^2\"")
    if threshold is not None:
        _expect(threshold, (int, float), f"{src}: theory.threshold", "a number")
    label = theory.get("label", control or "")
    _expect(label, str, f"{src}: theory.label", "a string")
    metrics = lists["metrics"] or _default_metrics(known)
    return ReportSpec(metrics, lists["dynamics"], lists["heatmap"], line, control, label,
                      None if threshold is None else float(threshold))


def _metric_names(setting: Any) -> tuple[str, ...]:
    """The metrics the setting's trainer logs (its module's ``metric_names``), or () if unknown."""
    import sys

    from featlab.runner import trainer_for

    plan_chunks, _ = trainer_for(setting)
    names = getattr(sys.modules[plan_chunks.__module__], "metric_names", None)
    return tuple(names(setting)) if names else ()


def _default_metrics(known: tuple[str, ...]) -> tuple[str, ...]:
    for m in ("test_error", "excess_risk"):
        if m in known:
            return (m,)
    return known[:1]


def parse_sweep(text: str, source: str = "sweep.toml") -> SweepFile:
    """Validate a sweep file's text; ConfigError (one line, prefixed by ``source``) otherwise."""
    src = source
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{src}: not valid TOML ({err}); fix the syntax there") from None
    for k in doc:
        if k not in _TOP:
            raise ConfigError(f"{src}: unknown key {k!r}; valid top-level keys: {', '.join(_TOP)}")
    name = doc.get("name", Path(source).stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{src}: name = {_toml(name)} is invalid: use letters, digits, - _ . "
                          f"(it starts the sweep id)")
    seeds = doc.get("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"{src}: seeds = {_toml(seeds)} is invalid: use an integer >= 1")
    experiment, preset = doc.get("experiment"), doc.get("preset")
    if preset is not None and experiment is None:
        raise ConfigError(f"{src}: preset = {_toml(preset)} needs experiment = \"...\" (the "
                          f"experiment whose check reports the sweep); remove preset or add it")
    if experiment is not None:
        from featlab.experiments import get_experiment

        try:
            exp = get_experiment(experiment)
        except ConfigError as err:
            raise ConfigError(f"{src}: experiment: {err}") from None
        preset = preset or exp.default_preset
    base, flat = _base_setting(doc, src)
    for key, value in flat.items():
        _check_value(base, key, value, f"{src}: setting")
    try:
        setting = override(base, flat) if flat else base
    except ConfigError as err:
        raise ConfigError(f"{src}: setting: {err}") from None
    grid = doc.get("grid", {})
    _expect(grid, dict, f"{src}: grid", "a table [grid] of \"section.field\" = [values]")
    axes = [(key, _axis_points(key, values, base, src)) for key, values in grid.items()]
    try:
        sweep = Sweep(setting, axes, seeds)
        from featlab.runner import check_fits

        check_fits(sweep)
    except ConfigError as err:
        raise ConfigError(f"{src}: grid: {err}") from None
    return SweepFile(name, sweep, _report_spec(doc, sweep, src), experiment, preset, source)


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"sweep file {str(path)!r} cannot be read ({err}); give the path of a "
                          f".toml file") from None
    return parse_sweep(text, path.name)


# ----------------------------------------------------------------------------- dump

def _toml(value: Any) -> str:
    """A TOML literal of a scalar or (nested) list."""
    if value is None:
        return '"none"'                             # TOML has no null; optional fields read "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise ConfigError(f"{value!r} ({type(value).__name__}) has no TOML form")


def _setting_tables(setting: Any) -> list[str]:
    lines = []
    for head, body in to_dict(setting).items():
        lines.append(f"\n[setting.{head}]")
        obj = getattr(setting, head)
        for k, v in body.items():
            if head == "data" and k == "mu_norm" and getattr(obj, "snr", None) is not None:
                lines.append(f"# mu_norm = {_toml(v)} follows from snr")
            else:
                lines.append(f"{k} = {_toml(v)}")
    return lines


def _flat_grid(sweep: Sweep) -> list[tuple[str, tuple]]:
    """One zipped axis of every field that differs between the runs' settings (exact for any
    Sweep subclass whose runs are grid points x seeds 0..S-1)."""
    from featlab.config import flatten

    runs = sweep.runs()
    points = [flatten(r.setting) for r in runs if r.seed == 0]
    keys = [k for k in points[0] if len({json.dumps(p[k]) for p in points}) > 1
            and k.rsplit(".", 1)[-1] != "kind"]
    keys = [k for k in keys if not (k == "data.mu_norm" and "data.snr" in keys)]
    if not keys:
        return []
    return [(",".join(keys), tuple(tuple(p[k] for k in keys) for p in points))]


def _typed(setting: Any, grid: list[tuple[str, tuple]]) -> list[tuple[str, tuple]]:
    """Grid values as their fields' types (``--grid data.d=100,200`` gives strings)."""
    from featlab.config import flatten

    def typed(keys: list[str], values: tuple) -> tuple:
        if not any(isinstance(v, str) for v in values):
            return values
        flat = flatten(override(setting, dict(zip(keys, values))))      # the point's fields together
        return tuple(flat[k] for k in keys)

    out = []
    for key, values in grid:
        keys = key.split(",")
        if len(keys) == 1:
            out.append((key, tuple(typed(keys, (v,))[0] for v in values)))
        else:
            out.append((key, tuple(typed(keys, tuple(v)) for v in values)))
    return out


def dump_sweep(sweep: Sweep, *, name: str, experiment: str | None = None,
               preset: str | None = None, header: str = "") -> str:
    """The sweep file of ``sweep``; loading it gives the same runs (same config hashes).

    A Sweep subclass that derives run fields (e.g. n SNR^2 held fixed) is written as one zipped
    axis of every field that varies; ConfigError if even that does not reproduce the runs."""
    want = [r.hash for r in sweep.runs()]
    grid = list(sweep.grid)
    exact = type(sweep) is Sweep or [r.hash for r in Sweep(sweep.setting, sweep.grid, sweep.seeds).runs()] == want
    setting = sweep.setting
    if not exact:
        grid = _flat_grid(sweep)
        setting = sweep.runs()[0].setting
        experiment = None                          # its analysis may need the subclass
    lines = [f"# {header}" if header else "# featlab sweep file", "# run: featlab sweep THIS_FILE.toml"]
    if not exact:
        lines.append(f"# {type(sweep).__name__} derives fields per run: written as one zipped axis "
                     f"of every varying field (same runs); the report is the generic one")
    lines += [f"name = {_toml(name)}", f"seeds = {sweep.seeds}"]
    if _type_name(setting) != "cnn":
        lines.append(f"setting_type = {_toml(_type_name(setting))}")
    if experiment:
        lines += [f"experiment = {_toml(experiment)}", f"preset = {_toml(preset)}"]
    lines += _setting_tables(setting)
    lines.append("\n[grid]")
    for key, values in _typed(setting, grid):
        columns = [list(c) for c in zip(*values)] if "," in key else list(values)
        lines.append(f"{json.dumps(key)} = {_toml(columns)}")
    text = "\n".join(lines) + "\n"
    got = [r.hash for r in parse_sweep(text, f"{name}.toml").sweep.runs()]
    if got != want:
        raise ConfigError(f"the sweep of {name} cannot be written as a sweep file (its runs differ "
                          f"from grid x seeds); run it with featlab run instead")
    return text
