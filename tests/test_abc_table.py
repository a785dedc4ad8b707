"""abc-table: a user row given by --set is trained and classified beside the named rows; an
unstable user row and a single width are refused with one line and exit code 2 (nothing
stored). The quick preset and its controls run in tests/test_falsify.py (slow)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from featlab.cli import app
from featlab.config import ConfigError
from featlab.experiments import get_experiment
from featlab.runner import run_experiment
from featlab.theory.abc import named

runner = CliRunner()
SMALL = {"data.n": 64, "data.n_test": 16}


def test_user_row_is_trained_and_tabled(tmp_path):
    """muP's exponents shifted by theta = 1/4 (the TP IV symmetry): r = 0, a flat exponent."""
    from featlab.theory.abc import shift

    abc = shift(named("mup", 3), 0.25).text()
    out = run_experiment("abc-table", "quick", overrides={**SMALL, "model.parametrization": "abc",
                                                          "model.abc": abc},
                         grid={"model.width": ["64", "128", "256"]}, seeds=2, out=tmp_path)
    assert out.n_trained == 6
    rows = {r["quantity"]: r for r in out.check["rows"]}
    key = f"abc[{abc}]: width exponent of Delta h^2 at step 3"
    assert rows[key]["status"] == "pass", rows[key]
    assert "feature learning" in rows[key]["claim"]
    assert any(q.startswith("ntk: r and regime") and r["measured"] == "r = 0.5, kernel"
               for q, r in rows.items())


@pytest.mark.parametrize("args,word", [
    (["--set", "model.parametrization=abc", "--set", "model.abc=a=0,0,0;b=0,0.5,0.5;c=0"], "unstable"),
    (["--grid", "model.width=64"], "model.width"),
    (["--set", "model.width=128"], "model.width"),
])
def test_bad_rows_and_one_width_are_one_line_exit_2(tmp_path, args, word):
    res = runner.invoke(app, ["run", "abc-table", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "featlab.duckdb").exists()


def test_width_sweep_needs_two_widths():
    sweep = get_experiment("abc-table").sweep("quick")
    with pytest.raises(ConfigError, match=r"model\.width=\[64\]"):
        sweep.with_grid({"model.width": [64, 64]})
