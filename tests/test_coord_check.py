"""coord-check and the width-exponent fit: a planted power law is recovered with its SE; a frozen
quantity gives no exponent; a single width is refused with one line and exit code 2. The quick
preset (muP passes, SP fails with the layer named) and its controls run in tests/test_falsify.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featlab.cli import app
from featlab.experiments.width_scaling import width_slopes


def _planted(slope: float, noise: float, seeds: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"g": "x", "seed": s, "model.width": w,
             "q": 3.0 * w**slope * np.exp(noise * rng.standard_normal())}
            for s in range(seeds) for w in (64, 128, 256, 512)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("slope", [-0.5, 0.0, 1.0])
def test_width_slopes_recover_a_planted_exponent(slope):
    exact = width_slopes(_planted(slope, 0.0), "q", ["g"]).iloc[0]
    assert exact["slope"] == pytest.approx(slope, abs=1e-10) and exact["se"] == pytest.approx(0, abs=1e-10)
    noisy = width_slopes(_planted(slope, 0.05), "q", ["g"]).iloc[0]
    assert noisy["se"] > 0 and abs(noisy["slope"] - slope) < 4 * noisy["se"] + 1e-3
    assert noisy["seeds"] == 4


def test_width_slopes_no_exponent_without_movement():
    df = _planted(0.0, 0.0).assign(q=0.0)
    assert np.isnan(width_slopes(df, "q", ["g"]).iloc[0]["slope"])


@pytest.mark.parametrize("exp", ["coord-check", "abc-table", "mup-width-transfer"])
@pytest.mark.parametrize("args", [["--grid", "model.width=256"], ["--set", "model.width=256"]])
def test_one_width_is_one_line_exit_2(tmp_path, exp, args):
    res = CliRunner().invoke(app, ["run", exp, *args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "model.width" in res.output and ">= 2" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "featlab.duckdb").exists()


def _tidy(diverged: dict[str, int]) -> pd.DataFrame:
    """A coord-check tidy table, 2 parametrizations x 4 runs, the first ``diverged[par]`` of each
    diverged; mean |h| flat in width."""
    rows = []
    for par in ("sp", "mup"):
        for i, w in enumerate((64, 128, 256, 512)):
            status = "diverged" if i < diverged.get(par, 0) else "done"
            for t in (1, 2):
                rows.append({"model.parametrization": par, "layer": "h1", "t": t, "model.width": w,
                             "seed": 0, "mean_abs_h": 1.0, "status": status, "run_id": f"{par}{w}"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("diverged, premise", [({}, True), ({"sp": 2}, True), ({"mup": 1}, False)])
def test_premise_counts_the_treatment_runs_only(diverged, premise):
    """SP blowing up at large width is what its row tests: its diverged runs are reported, not
    counted against the premise; a diverged muP run fails it."""
    from featlab.experiments.coord_check import _rows

    tidy = _tidy(diverged)
    sl = pd.DataFrame([{"model.parametrization": p, "layer": "h1", "t": t, "slope": 0.0, "se": 0.01}
                       for p in ("sp", "mup") for t in (1, 2)])
    rows = _rows(tidy, sl, "mup")
    first = rows[0]
    assert first["quantity"].startswith("muP runs finished") and first["passed"] is premise
    assert rows[1]["measured"] == f"{diverged.get('sp', 0)} of 4" and rows[1]["passed"] is None
