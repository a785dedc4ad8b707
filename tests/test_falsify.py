"""Every experiment's check can fail: ``featlab falsify`` on each quick preset.

For each registered experiment the quick preset must PASS and every declared negative control
(at least two) must FAIL the same check (:mod:`featlab.falsify`). This is the slowest test file
(every quick preset is trained about three times); it is marked ``slow`` and runs in CI.
"""

from __future__ import annotations

import pytest

from featlab.experiments import _MODULES, get_experiment
from featlab.falsify import falsify


def test_every_experiment_declares_two_controls_and_criteria():
    for name in _MODULES:
        exp = get_experiment(name)
        assert len(exp.controls) >= 2, f"{name} declares {len(exp.controls)} negative controls"
        assert len({c.name for c in exp.controls}) == len(exp.controls), f"{name}: duplicate names"
        assert exp.criteria.strip(), f"{name} states no criteria"


#: experiments whose quick preset FAILS its own check: a measured discrepancy with the paper,
#: recorded in CHECKS.md, not a broken test. Strict: if the check starts to pass, this fails too.
KNOWN_FAILURES: dict[str, str] = {   # name -> why its quick preset fails its own check (CHECKS.md)
}


#: checked rows whose quick-preset measurement sits within float32 rounding of its threshold, so
#: that its verdict can differ between machines (BLAS, thread count). The test then accepts a real
#: run that fails *only* that row; every other row, and every control, is still asserted.
#: CHECKS.md records the numbers.
EDGE_ROWS: dict[str, str] = {
    # mean step objective - H(0.1) = 0.0649987 vs the limit 0.2 H(0.1) = 0.0650166 (seeds 0-3)
    "huang2025-label-noise-gd": "label-noise GD objective at the H(p) floor",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[n]))
    if n in KNOWN_FAILURES else n for n in _MODULES])
def test_falsify_quick(name, tmp_path):
    outcome = falsify(name, "quick", out=tmp_path)
    by_name = {o.name: o for o in outcome.outcomes}
    real = by_name.pop("real")
    edge = {EDGE_ROWS[name]} if name in EDGE_ROWS else set()
    failing = set(real.failing_rows)
    assert real.passed or (edge and failing and failing <= edge), \
        f"{name} quick preset fails its own check: {real.summary}, rows {real.failing_rows}"
    for c in by_name.values():
        assert not c.passed, f"{name}: control {c.name!r} ({c.why}) passes the check: {c.summary}"
    assert outcome.ok or not real.passed


def test_falsify_bad_input_is_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from featlab.cli import app

    runner = CliRunner()
    for args, word in ((["falsify", "no-such-exp"], "unknown experiment"),
                       (["falsify", "kou2023-phase", "--control", "nope"], "--control"),
                       (["falsify", "kou2023-phase", "--preset", "nope"], "unknown preset"),
                       (["run", "kou2023-phase", "--seed-offset", "-1"], "--seed-offset")):
        res = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
        assert res.exit_code == 2, (args, res.output)
        assert word in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()


def test_seed_offset_gives_fresh_seeds_and_keeps_old_ids():
    from dataclasses import replace

    exp = get_experiment("kou2023-phase")
    base = exp.sweep("quick")
    fresh = replace(base, seed_offset=1000)
    assert {r.seed for r in fresh.runs()} == set(range(1000, 1004))
    assert not {r.hash for r in base.runs()} & {r.hash for r in fresh.runs()}
    assert "seed_offset" not in base.spec() and fresh.fingerprint() != base.fingerprint()
    assert base.fingerprint() == "9bfb4765"          # sweep ids of earlier stores unchanged
