"""Each linear experiment, on a reduced grid, passes its own check through run_experiment; the
scaling-law fitter works from Python and the CLI (bad input: one line, exit code 2)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from typer.testing import CliRunner

from featlab.cli import app
from featlab.linear.fitting import fit_sweep
from featlab.runner import run_experiment
from featlab.store import Store
from featlab.theory.linear import fit_power_law_2d

runner = CliRunner()


def _passed(out) -> None:
    assert out.check["passed"], [r for r in out.check["rows"] if not r["passed"]]
    assert out.report.exists()


def test_double_descent_small(tmp_path):
    out = run_experiment("double-descent", "quick", out=tmp_path, seeds=48,
                         grid={"data.p": [10, 25, 50, 90, 112, 200, 400],
                               "optim.lam_reg": [0.0, 0.03, 0.1, 0.3, 1.0]})
    _passed(out)


@pytest.fixture(scope="module")
def scaling(tmp_path_factory):
    sll = importlib.import_module("featlab.experiments.scaling_law_linear")

    mp = pytest.MonkeyPatch()
    mp.setattr(sll, "SEED_BOOT", 20)          # fewer bootstrap refits: the test's time budget
    out_dir = tmp_path_factory.mktemp("scaling")
    out = run_experiment("scaling-law-linear", "quick", out=out_dir, seeds=16,   # 8: the N row lacks power
                         grid={"model.M": [4, 8, 16, 32], "train.steps": [256, 512, 1024, 2048]})
    mp.undo()
    return out_dir, out


def test_scaling_law_small(scaling):
    # Exactness, and the fitted exponents of the simulation equal those of the exact theory on the same
    # (reduced) grid within 4 seed-bootstrap SE; the asymptotic M exponent is fitted to the approximation
    # term (a fixed-N slice of the total risk is bent by the SGD term: 1.48 at M <= 32, N = 2048).
    _, out = scaling
    rows = {r["quantity"]: r for r in out.check["rows"]}
    assert rows["simulation vs exact recursion (each run's own sketch)"]["passed"]
    assert rows["exponent in M at N = 2048: simulation vs exact theory, same grid"]["passed"]
    assert rows["exponent in N at M = 32: simulation vs exact theory, same grid"]["passed"]  # counted: 4 SE <= alpha/2
    assert rows["exponent in M (approximation term) vs asymptotic prediction"]["passed"]
    assert rows["exponent in N at M = 32 vs asymptotic prediction"]["passed"]
    assert out.report.exists()


def test_fitter_python_and_cli(scaling):
    out_dir, out = scaling
    with Store(out_dir) as store:
        df = fit_sweep(store, out.sweep_id, "model.M", "excess_risk", ["train.steps"], n_boot=20)
    assert len(df) == 4 and (df["alpha_lo"] <= df["alpha"]).all() and (df["alpha"] <= df["alpha_hi"] + 1e-9).all()
    assert df["alpha"].between(0.3, 3.0).all()
    res = runner.invoke(app, ["fit", out.sweep_id, "--x", "train.steps", "--y", "excess_risk",
                              "--group", "model.M", "--n-boot", "20", "--out", str(out_dir)])
    assert res.exit_code == 0, res.output
    assert "alpha" in res.output
    bad = runner.invoke(app, ["fit", out.sweep_id, "--x", "model.M", "--y", "nope", "--out", str(out_dir)])
    assert bad.exit_code == 2 and "--y 'nope'" in bad.output and len(bad.output.strip().splitlines()) <= 2


def test_two_variable_fit_on_a_stored_sweep(scaling):
    """L(M, N) = E + A M^-alpha + B N^-beta from one sweep over (M, N): fit_sweep fits the seed means
    at each (M, N) pair (computed here independently from the runs table) with fit_power_law_2d
    (whose recovery of known exponents is tests/theory_linear/test_fit.py's)."""
    out_dir, out = scaling
    with Store(out_dir) as store:
        df = fit_sweep(store, out.sweep_id, "model.M", "excess_risk", x2="train.steps", n_boot=20)
        runs = store.table(out.sweep_id, axes=["model.M", "train.steps"])
    (row,) = df.to_dict("records")
    assert row["points"] == 16 and row["seeds"] == 16
    means = runs[runs["status"] == "done"].groupby(["model.M", "train.steps"])["excess_risk"].mean()
    M, N = (means.index.get_level_values(k).to_numpy(float) for k in (0, 1))
    direct = fit_power_law_2d(M, N, means.to_numpy(), n_boot=20, rng=0)
    for name in ("E", "A", "alpha", "B", "beta"):
        assert row[name] == pytest.approx(direct.params[name], rel=1e-8, abs=1e-12)
        assert (row[f"{name}_lo"], row[f"{name}_hi"]) == pytest.approx(direct.ci[name], rel=1e-8, abs=1e-12)
    with Store(out_dir) as store:          # each run logs only its final step, t = train.steps: same fit
        by_step = fit_sweep(store, out.sweep_id, "model.M", "excess_risk", x2="step", n_boot=20)
    assert by_step.iloc[0]["points"] == 16 and by_step.iloc[0]["beta"] == pytest.approx(row["beta"], rel=1e-5)
    res = runner.invoke(app, ["fit", out.sweep_id, "--x", "model.M", "--x2", "train.steps", "--y", "excess_risk",
                              "--n-boot", "5", "--out", str(out_dir)])
    assert res.exit_code == 0 and "beta" in res.output, res.output
    for args, needle in ((["--x2", "model.M"], "same as --x"), (["--x2", "nope"], "--x2 'nope'"),
                         (["--x2", "train.steps", "--group", "train.steps"], "repeats")):
        bad = runner.invoke(app, ["fit", out.sweep_id, "--x", "model.M", "--y", "excess_risk", *args,
                                  "--out", str(out_dir)])
        assert bad.exit_code == 2 and needle in bad.output and "Traceback" not in bad.output, bad.output
