"""The CLI end to end: bad inputs (exit 2, one line, store untouched), a tiny quick run,
runs/report/sql/export, and resume after the process is killed mid-sweep."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from featlab.cli import app

runner = CliRunner()
TINY = ["--grid", "data.mu_norm=0,1.5,3,6", "--grid", "data.d=100,300", "--seeds", "2"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    res = runner.invoke(app, ["run", "kou2023-phase", "--preset", "quick", *TINY, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_quick_preset_end_to_end(store_dir):
    con = duckdb.connect(str(store_dir / "featlab.duckdb"), read_only=True)
    (sweep_id, n_runs, status, passed), = con.execute(
        "SELECT sweep_id, n_runs, status, check_passed FROM sweeps").fetchall()
    assert n_runs == 16 and status == "finished" and passed is not None
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 16
    assert con.execute("SELECT count(DISTINCT name) FROM metrics").fetchone()[0] >= 14
    con.close()
    report = store_dir / "reports" / sweep_id / "report.html"
    html = report.read_text()
    assert "Kou" in html and "data:image/png;base64" in html and ("PASS" in html or "FAIL" in html)
    assert (store_dir / "reports" / sweep_id / "phase.png").exists()


def test_rerun_resumes_nothing_to_train(store_dir):
    res = runner.invoke(app, ["run", "kou2023-phase", "--preset", "quick", *TINY, "--out", str(store_dir),
                              "--no-report"])
    assert res.exit_code == 0, res.output
    assert "trained 0/16 runs" in res.output


def test_runs_report_sql_export(store_dir, tmp_path):
    res = runner.invoke(app, ["runs", "--out", str(store_dir)])
    assert res.exit_code == 0 and "kou2023-phase-quick" in res.output
    sweep_id = duckdb.connect(str(store_dir / "featlab.duckdb"), read_only=True).execute(
        "SELECT sweep_id FROM sweeps").fetchone()[0]
    res = runner.invoke(app, ["runs", sweep_id, "--out", str(store_dir)])
    assert res.exit_code == 0 and "test err" in res.output and "16 runs" in res.output
    res = runner.invoke(app, ["report", sweep_id, "--out", str(store_dir)])
    assert res.exit_code == 0 and "report:" in res.output
    res = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM runs", "--out", str(store_dir)])
    assert res.exit_code == 0 and "16" in res.output
    res = runner.invoke(app, ["export", sweep_id, str(tmp_path / "pq"), "--out", str(store_dir)])
    assert res.exit_code == 0 and len(list((tmp_path / "pq").glob("*.parquet"))) == 4
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0 and "cao2022-phase" in res.output


BAD = [
    (["run", "nope"], "unknown experiment"),
    (["run", "kou2023-phase", "--preset", "nope"], "unknown preset"),
    (["run", "kou2023-phase", "--set", "data.nn=3"], "unknown key"),
    (["run", "kou2023-phase", "--set", "data.n"], "--set"),
    (["run", "kou2023-phase", "--set", "data.n=abc"], "data.n"),
    (["run", "kou2023-phase", "--set", "data.n=0"], "data.n"),
    (["run", "kou2023-phase", "--set", "data.d=1"], "data.d"),
    (["run", "kou2023-phase", "--set", "model.m=0"], "model.m"),
    (["run", "kou2023-phase", "--set", "data.sigma_p=0"], "data.sigma_p"),
    (["run", "kou2023-phase", "--set", "data.mu_norm=-1"], "data.mu_norm"),
    (["run", "kou2023-phase", "--set", "optim.lr=0"], "optim.lr"),
    (["run", "kou2023-phase", "--set", "optim.lr=nan"], "optim.lr"),
    (["run", "kou2023-phase", "--set", "optim.lr=inf"], "optim.lr"),
    (["run", "kou2023-phase", "--set", "data.flip_p=0.5"], "data.flip_p"),
    (["run", "kou2023-phase", "--set", "data.flip_p=-0.1"], "data.flip_p"),
    (["run", "cao2022-phase", "--set", "model.q=0.5"], "model.q"),
    (["run", "kou2023-phase", "--grid", "data.d=100,1"], "data.d"),
    (["run", "kou2023-phase", "--seeds", "0"], "--seeds"),
    (["run", "kou2023-phase", "--device", "tpu"], "device"),
    (["report", "no-such-sweep"], "unknown sweep"),
    (["run", "kou2023-phase", "--set", "data.d=1000000000"], "data.d"),          # ~1 TB per run
    (["run", "rf-double-descent", "--grid", "model.M=300000"], "model.M"),       # M x M moments: TBs
    (["run", "sgd-linear-risk", "--set", "train.steps=100000000"], "train.steps"),
]


@pytest.mark.parametrize("args,needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exit_2_and_store_intact(store_dir, args, needle):
    db = store_dir / "featlab.duckdb"
    before = _digest(db)
    res = runner.invoke(app, [*args, "--out", str(store_dir)])
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output
    assert _digest(db) == before


def test_unwritable_results_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = runner.invoke(app, ["run", "kou2023-phase", *TINY, "--out", str(blocker / "results")])
    assert res.exit_code == 2 and "not usable" in res.output and "--out" in res.output


def test_entry_point_exit_code_and_resume_after_kill(tmp_path):
    """A real process: bad input exits 2; a sweep killed with SIGKILL resumes where it stopped."""
    exe = [sys.executable, "-m", "featlab.cli"]
    bad = subprocess.run([*exe, "run", "kou2023-phase", "--set", "data.n=0", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "data.n" in bad.stderr and "Traceback" not in bad.stderr
    args = [*exe, "run", "signal-noise-dynamics", "--grid", "data.mu_norm=0.5,1,2,3,4,5",
            "--seeds", "6", "--set", "train.steps=200", "--chunk-size", "2", "--no-report",
            "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    line = proc.stdout.readline()
    assert "sweep" in line, line
    while "stored" not in line:                         # first chunk committed: kill now
        line = proc.stdout.readline()
        assert line, "process ended before storing a chunk"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    from featlab.store import Store

    stored = int(Store(tmp_path, read_only=True).sql("SELECT count(*) AS n FROM runs")["n"][0])
    assert 0 < stored < 36, f"kill should land mid-sweep, stored {stored}"
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"trained {36 - stored}/36 runs" in done.stdout.replace("\n", " ")
    con = duckdb.connect(str(tmp_path / "featlab.duckdb"), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT config_hash) FROM runs").fetchone() == (36, 36)
    con.close()


def test_error_messages_keep_square_brackets(tmp_path):
    """Rich markup must not eat parts of a message such as "[d]"."""
    from featlab.cli import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["run", "zou2023-adam-vs-gd", "--set", "data.s=0",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "[d]" in res.output
