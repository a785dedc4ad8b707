"""jiang2024-attention-phase: the signal-token data model, a benign and a harmful cell on the
predicted side of N SNR^2 = C, the boundary-law analysis recovering a known exponent on
synthetic cells (and rejecting the wrong one), and bad inputs giving one line and exit 2."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.config import ConfigError
from featlab.data import signal_tokens
from featlab.data.signal_tokens import SignalTokenData
from featlab.experiments import get_experiment
from featlab.experiments import jiang2024_attention_phase as jiang
from featlab.experiments.base import Context
from featlab.train.engine import RunSpec
from featlab.train.generic import train_chunk


def test_first_token_carries_y_mu_and_the_others_are_noise():
    cfg = SignalTokenData(n=400, d=50, T=4, snr=0.3, sigma_p=2.0, n_test=10)
    out = signal_tokens.sample_run(cfg, 3, 400, "train", torch.float64)
    X, y = out["X"], out["y"]                                                # (n, T, d), (n,)
    assert X.shape == (400, 4, 50) and float(y.sum()) == 0.0
    mu = torch.zeros(50, dtype=torch.float64)
    mu[0] = cfg.mu_norm
    torch.testing.assert_close(X[:, 0], y[:, None] * mu)
    assert cfg.mu_norm == pytest.approx(0.3 * 2.0 * math.sqrt(50))          # SNR = ||mu|| / (sigma_p sqrt d)
    noise = X[:, 1:].reshape(-1)
    assert abs(float(noise.std()) - 2.0) < 0.05 and abs(float(noise.mean())) < 0.03
    again = signal_tokens.sample_run(cfg, 3, 400, "train", torch.float64)
    torch.testing.assert_close(again["X"], X)                                # same stream, same draw
    # shuffled labels: a permutation of the training labels only
    sh = SignalTokenData(n=400, d=50, T=4, snr=0.3, sigma_p=2.0, n_test=10, shuffle_labels=True)
    ys = signal_tokens.sample_run(sh, 3, 400, "train", torch.float64)["y"]
    assert float(ys.sum()) == 0.0 and float((ys != y).float().mean()) > 0.3
    yt = signal_tokens.sample_run(sh, 3, 400, "test", torch.float64)
    torch.testing.assert_close(yt["X"][:, 0, 0], yt["y"] * sh.mu_norm)       # test labels stay clean


def test_benign_and_harmful_cells_land_on_the_predicted_side():
    """The quick preset's setting at N = 20: N SNR^2 = 7.2 (far above the fitted C ~ 1.4) is
    benign, N SNR^2 = 0.2 harmful; both fit their training data (overfitting)."""
    base = jiang._setting(300)
    runs = [RunSpec(fl.override(base, {"data.n": 20, "data.snr": snr}), seed)
            for snr in (0.6, 0.1) for seed in (0, 1)]
    res = train_chunk(runs)
    test, train = res.final["test_loss"], res.final["train_loss"]
    assert np.all(train <= jiang.LOSS_EPS)                                   # every run fitted
    assert np.all(test[:2] <= jiang.THRESHOLD / 2), test                      # benign: small test loss
    assert np.all(test[2:] >= 2 * jiang.THRESHOLD), test                      # harmful: large test loss
    assert np.all(res.final["test_error"][2:] >= 0.25)


class _Store:
    """The one store method the phase analysis reads: the run table."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def table(self, sweep_id, axes=None):
        return self.df.copy()


def _synthetic_runs(slope: float, seeds: int = 6, C: float = 1.5, rng_seed: int = 0) -> pd.DataFrame:
    """Cells on the quick grid whose test loss falls through 0.2 at SNR_b(N) = sqrt(C/20)
    (N/20)^slope, with a per-seed log-normal shift of the boundary."""
    rng = np.random.default_rng(rng_seed)
    sweep = jiang.quick()
    grid = dict(sweep.grid)
    ns, snrs = grid["data.n"], np.geomspace(0.05, 2.0, 30)
    rows, run = [], 0
    for s in range(seeds):
        shift = 0.05 * rng.standard_normal()
        for n in ns:
            xb = math.sqrt(C / 20) * (n / 20) ** slope * math.exp(shift)
            for x in snrs:
                loss = 0.7 / (1 + (x / xb) ** 4)        # 0.7 at low SNR, 0.2 at x = 2.5^{1/4} xb
                rows.append({"data.n": n, "data.snr": float(x), "seed": s, "status": "done",
                             "run_id": run, "test_loss": loss, "test_error": loss / 2, "train_loss": 0.01,
                             "weight_movement_W_Q": 0.05})
                run += 1
    return pd.DataFrame(rows)


@pytest.mark.parametrize("true,passes", [(-0.5, True), (-0.25, False), (-1.0, False)])
def test_boundary_law_recovers_a_known_slope_on_synthetic_cells(tmp_path, true, passes):
    ctx = Context(store=_Store(_synthetic_runs(true)), sweep_id="synthetic", sweep=jiang.quick(),
                  preset="quick", out_dir=tmp_path)
    out = jiang.analyze(ctx)
    assert abs(out.check["slope"] - true) <= 3 * out.check["slope_se"] + 0.02
    rows = {r["quantity"]: r for r in out.check["rows"]}
    assert rows["boundary slope"]["passed"] is passes
    assert rows["boundary slope: power"]["passed"]
    assert rows["premise: training data fitted"]["passed"]
    assert out.check["passed"] is passes
    assert (tmp_path / "phase.png").exists() and (tmp_path / "phase_loglog.png").exists()
    if passes:     # the 0.2 contour sits at N SNR^2 = 2.5^{1/2} C = 2.4
        assert 0.5 < out.check["fitted_C"] < 3.0


def test_unfitted_benign_runs_fail_the_premise(tmp_path):
    df = _synthetic_runs(-0.5)
    df.loc[df["data.snr"] > 1.0, "train_loss"] = 0.3                        # benign cells unfitted
    ctx = Context(store=_Store(df), sweep_id="s", sweep=jiang.quick(), preset="quick",
                  out_dir=tmp_path)
    rows = {r["quantity"]: r for r in jiang.analyze(ctx).check["rows"]}
    assert not rows["premise: training data fitted"]["passed"]


def test_presets_and_controls_are_declared():
    exp = get_experiment("jiang2024-attention-phase")
    quick, paper = exp.sweep("quick"), exp.sweep("paper")
    assert len(quick.runs()) == 160 and len(paper.runs()) >= 1000
    assert len(dict(paper.grid)["data.n"]) == 11
    assert {c.name for c in exp.controls} == {"wrong-exponent", "shuffled-labels", "unfitted"}


@pytest.mark.parametrize("args,needle", [
    (["--grid", "data.n=20"], "data.n"),                 # one N: no boundary slope
    (["--set", "data.n=20"], "data.n"),
    (["--grid", "data.snr=0.3"], "data.snr"),
    (["--set", "data.T=1"], "data.T"),
    (["--grid", "data.snr=-0.1,0.2"], "data.snr"),
])
def test_bad_inputs_give_one_line_and_exit_2(tmp_path, args, needle):
    res = CliRunner().invoke(app, ["run", "jiang2024-attention-phase", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output


def test_phase_grid_sweep_rejects_a_single_row_from_python():
    with pytest.raises(ConfigError, match=r"data\.n"):
        jiang.quick().with_grid({"data.n": [10, 20]})
