"""Negative controls: run an experiment's preset and every broken variant of it.

A PASS means something only if the check could have failed. Every experiment declares
:class:`~featlab.experiments.base.Control` s -- labels shuffled, the signal removed, the
control optimizer in place of the treatment, a wrong theory exponent fed to the check, ... --
and ``featlab falsify EXP --preset quick`` runs

1. the preset itself, whose check must PASS, and
2. each control: its sweep (``control.sweep(preset_sweep)``, trained and stored as its own
   sweep ``<exp>-<preset>-control-<name>-<fingerprint>``) or, for a control that only changes
   the theory fed to the check, the preset's own runs analysed with ``Context.theory``; its
   check must FAIL.

:func:`falsify` succeeds iff both hold; the CLI exits 0 then and 1 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from featlab.config import ConfigError
from featlab.experiments import get_experiment
from featlab.experiments.base import Control, Experiment
from featlab.store import Store

__all__ = ["ControlOutcome", "FalsifyOutcome", "falsify", "control_sweep_id"]


@dataclass
class ControlOutcome:
    """One row of a falsification: the real run (``name == "real"``) or a control."""

    name: str
    why: str
    sweep_id: str
    passed: bool          # the experiment's check on this variant
    expected: bool        # True for the real run, False for a control
    summary: str
    failing_rows: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed == self.expected


@dataclass
class FalsifyOutcome:
    experiment: str
    preset: str
    outcomes: list[ControlOutcome]

    @property
    def ok(self) -> bool:
        """The real run passes and every control fails (and there are at least two controls)."""
        return len(self.outcomes) >= 3 and all(o.ok for o in self.outcomes)


def control_sweep_id(exp: Experiment, preset: str, control: Control, fingerprint: str) -> str:
    return f"{exp.name}-{preset}-control-{control.name}-{fingerprint}"


def _outcome(name: str, why: str, sweep_id: str, check: dict[str, Any], expected: bool) -> ControlOutcome:
    failing = [r["quantity"] for r in check.get("rows", []) if r.get("status") == "fail"]
    return ControlOutcome(name, why, sweep_id, bool(check.get("passed")), expected,
                          str(check.get("summary", "")), failing)


def falsify(name: str, preset: str | None = None, *, out: str | Path = "featlab-results",
            device: str = "cpu", only: list[str] | None = None,
            progress: Callable[[float], None] | None = None,
            on_start: Callable[[str, int], None] | None = None) -> FalsifyOutcome:
    """Run ``name``'s preset and its negative controls (``only``: a subset by name)."""
    from featlab.runner import build_report, check_device, prepare, run_experiment, run_sweep

    device = check_device(device)
    exp = get_experiment(name)
    preset = preset or exp.default_preset
    controls = list(exp.controls)
    if len(controls) < 2:
        raise ConfigError(f"experiment {name} declares {len(controls)} negative controls; "
                          f"falsify needs at least two (add Control entries to its EXPERIMENT)")
    if only:
        unknown = sorted(set(only) - {c.name for c in controls})
        if unknown:
            raise ConfigError(f"--control {unknown[0]!r} is not a control of {name}; choose from "
                              f"{', '.join(c.name for c in controls)}")
        controls = [c for c in controls if c.name in only]
    real = run_experiment(name, preset, out=out, device=device, progress=progress, on_start=on_start)
    outcomes = [_outcome("real", "the preset as stated", real.sweep_id, real.check, True)]
    _, _, base = prepare(name, preset)
    for control in controls:
        sweep = control.sweep(base) if control.sweep is not None else base
        _check_fits_or_raise(sweep)
        with Store(out) as store:
            if control.sweep is None:
                sid = real.sweep_id
                _, analysis = build_report(store, sid, exp, sweep, preset, theory=control.theory,
                                           out_dir=store.root / "reports" / f"{sid}-control-{control.name}",
                                           record=False, title_suffix=f"control: {control.name}")
            else:
                sid = control_sweep_id(exp, preset, control, sweep.fingerprint())
                store.begin_sweep(sid, experiment=exp.name, preset=f"{preset}:control:{control.name}",
                                  paper=exp.paper, claim=f"negative control: {control.why}",
                                  spec=sweep.spec(), n_runs=len(sweep.runs()))
                if on_start is not None:
                    on_start(sid, len(sweep.runs()))
                trained, train_s = run_sweep(store, sid, sweep, device, None, progress)
                _, analysis = build_report(store, sid, exp, sweep, preset, theory=control.theory,
                                           timings={"train_s": round(train_s, 3), "runs_trained": trained},
                                           title_suffix=f"control: {control.name}")
        outcomes.append(_outcome(control.name, control.why, sid, analysis.check, False))
    return FalsifyOutcome(exp.name, preset, outcomes)


def _check_fits_or_raise(sweep: Any) -> None:
    from featlab.runner import _check_fits

    _check_fits(sweep.setting, sweep.runs())
