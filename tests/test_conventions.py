"""CLI conventions: ``python -m featlab``, ``--version``, $FEATLAB_OUT, ``runs --format``,
shell completion."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

import featlab
from featlab.cli import app

runner = CliRunner()
TINY = ["run", "kou2023-phase", "--grid", "data.mu_norm=0,3", "--grid", "data.d=100",
        "--seeds", "2", "--set", "train.steps=20", "--set", "data.n_test=100", "--no-report"]


def test_python_m_featlab_version():
    out = subprocess.run([sys.executable, "-m", "featlab", "--version"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"featlab {featlab.__version__}"


def test_completion_is_offered():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "--install-completion" in res.output


@pytest.fixture(scope="module")
def env_store(tmp_path_factory):
    """A tiny sweep stored through $FEATLAB_OUT (no --out)."""
    out = tmp_path_factory.mktemp("envout")
    res = runner.invoke(app, TINY, env={"FEATLAB_OUT": str(out)})
    assert res.exit_code == 0, res.output
    return out


def test_featlab_out_is_the_default_results_folder(env_store, tmp_path, monkeypatch):
    assert (env_store / "featlab.duckdb").exists()
    monkeypatch.chdir(tmp_path)                      # nothing written to ./featlab-results
    res = runner.invoke(app, ["runs"], env={"FEATLAB_OUT": str(env_store)})
    assert res.exit_code == 0 and "kou2023-phase-quick" in res.output
    assert not (tmp_path / "featlab-results").exists()


def test_runs_format_csv_and_json(env_store):
    env = {"FEATLAB_OUT": str(env_store)}
    res = runner.invoke(app, ["runs", "--format", "csv"], env=env)
    assert res.exit_code == 0, res.output
    sweeps = pd.read_csv(io.StringIO(res.stdout))
    assert list(sweeps["stored"]) == [4] and sweeps["sweep_id"][0].startswith("kou2023-phase-quick")
    sweep_id = sweeps["sweep_id"][0]
    res = runner.invoke(app, ["runs", sweep_id, "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 4 and {r["data.mu_norm"] for r in rows} == {0.0, 3.0}
    assert all(0 <= r["test_error"] <= 1 for r in rows) and {r["seed"] for r in rows} == {0, 1}
    res = runner.invoke(app, ["runs", sweep_id, "--format", "csv"], env=env)
    runs = pd.read_csv(io.StringIO(res.stdout))
    assert len(runs) == 4 and "data.d" in runs and "test_error" in runs


def test_runs_bad_format_is_one_line_exit_2(env_store):
    res = runner.invoke(app, ["runs", "--format", "xml", "--out", str(env_store)])
    assert res.exit_code == 2 and "--format" in res.output and "table, csv, json" in res.output
