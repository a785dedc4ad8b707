"""A store written by the previous code (tests/fixtures/old_store, commit 0f78065) still resumes
with zero re-trained runs and its sweeps still rebuild their reports: the resume keys (config
hashes, sweep ids) of existing settings did not change with the model-family seam."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from featlab.cli import app
from featlab.config import OptimConfig, Setting, added, config_hash, to_dict
from featlab.runner import run_experiment
from featlab.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "old_store"

#: The commands that wrote the fixture (see its README); grid values are strings, as from --grid.
KOU = dict(overrides={"data.d": 20, "data.n_test": 50, "train.steps": 5, "model.m": 2,
                      "train.log_points": 3})
SWEEPS = [
    ("kou2023-phase", "quick", dict(**KOU, grid={"data.mu_norm": ["0.5", "2"], "data.n": ["10"]}, seeds=2),
     "kou2023-phase-quick-ac700bb4"),
    ("sgd-linear-risk", "quick", dict(overrides={"data.p": 10, "train.steps": 20,
                                                 "train.log_points": 4}, seeds=2),
     "sgd-linear-risk-quick-b3a18fb0"),
    ("kou2023-phase", "official", dict(**KOU, grid={"data.mu_norm": ["1"], "data.d": ["20"]}, seeds=1),
     "kou2023-phase-official-ce2ac984"),
]


@pytest.fixture()
def old_store(tmp_path: Path) -> Path:
    out = tmp_path / "old"
    shutil.copytree(FIXTURE, out)
    return out


@pytest.mark.parametrize("name,preset,kw,sweep_id", SWEEPS)
def test_old_store_resumes_with_zero_retrained_runs(old_store, name, preset, kw, sweep_id):
    with Store(old_store) as store:
        hashes = store.done_hashes(sweep_id)
    assert hashes                                        # the fixture holds this sweep
    outcome = run_experiment(name, preset, out=old_store, report=False, **kw)
    assert outcome.sweep_id == sweep_id                  # same sweep id as the old code
    assert outcome.n_trained == 0 and outcome.n_runs == len(hashes)


@pytest.mark.parametrize("sweep_id", [s[3] for s in SWEEPS])
def test_old_store_reports(old_store, sweep_id):
    res = CliRunner().invoke(app, ["report", sweep_id, "--out", str(old_store)])
    assert res.exit_code == 0, res.output
    assert (old_store / "reports" / sweep_id / "report.html").exists()


def test_added_field_at_default_keeps_the_hash():
    """A field declared with `added` is left out of to_dict (and the hash) at its default only."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Optim2(OptimConfig):
        group_lr_extra: float = added(0.0)

    base = Setting()
    same = dataclasses.replace(base, optim=Optim2())
    other = dataclasses.replace(base, optim=Optim2(group_lr_extra=1.0))
    assert to_dict(same) == to_dict(base)
    assert "group_lr_extra" in to_dict(other)["optim"]
    assert config_hash(same, 3) == config_hash(base, 3) != config_hash(other, 3)
