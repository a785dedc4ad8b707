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


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_MODULES))
def test_falsify_quick(name, tmp_path):
    outcome = falsify(name, "quick", out=tmp_path)
    by_name = {o.name: o for o in outcome.outcomes}
    real = by_name.pop("real")
    assert real.passed, f"{name} quick preset fails its own check: {real.summary}, rows {real.failing_rows}"
    for c in by_name.values():
        assert not c.passed, f"{name}: control {c.name!r} ({c.why}) passes the check: {c.summary}"
    assert outcome.ok
