"""mlp-width-sweep: the quick preset passes its check and every negative control fails it."""

from __future__ import annotations

import pytest

from featlab.experiments import get_experiment
from featlab.experiments.base import Context
from featlab.runner import run_experiment, run_sweep
from featlab.store import Store

EXP = get_experiment("mlp-width-sweep")


@pytest.mark.slow
def test_quick_preset_passes(tmp_path):
    out = run_experiment("mlp-width-sweep", "quick", out=tmp_path, report=True)
    assert out.n_trained == 30
    assert out.check["passed"], out.check["rows"]
    assert out.check["n_checked"] == 4 and out.check["n_reported"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("control", EXP.controls, ids=[c.name for c in EXP.controls])
def test_control_fails(tmp_path, control):
    sweep = control.sweep(EXP.sweep("quick")) if control.sweep else EXP.sweep("quick")
    sid = f"mlp-width-sweep-{control.name}-{sweep.fingerprint()}"
    with Store(tmp_path) as store:
        store.begin_sweep(sid, experiment=EXP.name, preset="quick", paper=EXP.paper, claim=EXP.claim,
                          spec=sweep.spec(), n_runs=len(sweep.runs()))
        run_sweep(store, sid, sweep)
        out_dir = tmp_path / "reports" / sid
        out_dir.mkdir(parents=True)
        analysis = EXP.analyze(Context(store, sid, sweep, "quick", out_dir, theory=control.theory))
    assert not analysis.check["passed"], (control.name, analysis.check["rows"])
