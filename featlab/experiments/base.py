"""What an experiment is: a paper's claim, its presets, the analysis that checks it, and the
negative controls that must fail that check.

An experiment file defines one :class:`Experiment` (paper, figure, claim, presets as
:class:`~featlab.sweep.Sweep`s, ``analyze`` and ``controls``) and registers it in
``featlab/experiments/__init__.py``. ``analyze(ctx)`` reads the stored sweep and returns an
:class:`Analysis`: the check (claim vs measurement, one row per quantity), figures and tables.

Rows. A *checked* row (:func:`check_row`) computes its verdict from the measurement; a
*reported* row (:func:`report_row`) shows a number beside the claim but is not tested and
never counts toward PASS. :func:`verdict` turns rows into the check dictionary: PASS iff at
least one row is checked and every checked row passes; its ``summary`` reads
"k of n checked rows pass, m reported".

Controls. A :class:`Control` is a deliberately broken variant of a preset (labels shuffled, the
signal removed, the control optimizer in place of the treatment, a wrong theory exponent fed to
the check, ...). ``featlab falsify EXP`` runs the preset and every control; it succeeds only if
the real run passes and every control fails (:mod:`featlab.falsify`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from featlab.store import Store
from featlab.sweep import Sweep

__all__ = ["Experiment", "Analysis", "Context", "Control", "check_row", "report_row", "verdict"]


@dataclass
class Context:
    """What ``analyze`` gets: the store, the sweep id, its Sweep, preset name, output folder.

    ``theory`` carries overrides of the theory's constants that a negative control feeds to the
    check (e.g. ``{"slope": 0.5}`` in place of the paper's 1/4); empty for a real run."""

    store: Store
    sweep_id: str
    sweep: Sweep
    preset: str
    out_dir: Path
    theory: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    """The measured check and the artefacts of an experiment."""

    check: dict[str, Any]
    figures: list[tuple[str, Path]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]], *, extra: dict[str, Any] | None = None,
                  **kwargs: Any) -> "Analysis":
        """An Analysis whose check is :func:`verdict` of ``rows`` (``extra`` keys added)."""
        return cls(check=verdict(rows, **(extra or {})), **kwargs)


def _fmt(measured: Any) -> Any:
    return f"{measured:.4g}" if isinstance(measured, float) else measured


def check_row(quantity: str, claim: str, measured: float | str, passed: bool) -> dict[str, Any]:
    """One checked row: its verdict ``passed`` was computed from the measurement."""
    return {"quantity": quantity, "claim": claim, "measured": _fmt(measured),
            "passed": bool(passed), "status": "pass" if passed else "fail"}


def report_row(quantity: str, claim: str, measured: float | str) -> dict[str, Any]:
    """One reported row: shown beside the claim, not tested, never counted toward PASS."""
    return {"quantity": quantity, "claim": claim, "measured": _fmt(measured),
            "passed": None, "status": "reported"}


def is_checked(row: dict[str, Any]) -> bool:
    """A row counts toward the verdict unless it says it is only reported."""
    return row.get("status", "pass" if row.get("passed") else "fail") != "reported" \
        and row.get("passed") is not None


def verdict(rows: Iterable[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The check dictionary of ``rows``: PASS iff >= 1 checked row and all checked rows pass."""
    rows = list(rows)
    checked = [r for r in rows if is_checked(r)]
    k = sum(bool(r["passed"]) for r in checked)
    m = len(rows) - len(checked)
    passed = bool(checked) and k == len(checked)
    summary = f"{k} of {len(checked)} checked rows pass, {m} reported"
    return {"passed": passed, "rows": rows, "summary": summary, "n_checked": len(checked),
            "n_passed": k, "n_reported": m, **extra}


@dataclass(frozen=True)
class Control:
    """A negative control: a broken variant that must FAIL the experiment's check.

    ``sweep`` maps the preset's Sweep to the broken one (None: the preset's own runs, e.g. when
    only the theory fed to the check is wrong); ``theory`` is passed to ``analyze`` as
    ``Context.theory``. ``why`` says what is broken and which row must catch it."""

    name: str
    why: str
    sweep: Callable[[Sweep], Sweep] | None = None
    theory: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A reproducible claim: which paper/figure, the claim in numbers, presets, check, controls."""

    name: str
    paper: str
    figure: str
    claim: str
    presets: dict[str, Callable[[], Sweep]]
    analyze: Callable[[Context], Analysis]
    default_preset: str = "quick"
    runtime: str = ""
    controls: tuple[Control, ...] = ()
    criteria: str = ""       # the pass criteria, stated before the paper preset runs

    def sweep(self, preset: str) -> Sweep:
        if preset not in self.presets:
            from featlab.config import ConfigError
            raise ConfigError(f"unknown preset {preset!r} for {self.name}; choose one of "
                              f"{', '.join(self.presets)}")
        return self.presets[preset]()
