"""XOR signal-noise data (Meng, Zou, Cao 2024) on the two-layer CNN path.

Sampler facts (opposite vectors share a label, the angle, the noise projection, balanced
counts, flips), the decomposition with two non-orthogonal feature vectors, population == single
runs, a benign and a harmful cell on the side the theory predicts, and bad input (theta outside
(0, pi/2]) as one line with exit code 2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from featlab.cli import app
from featlab.config import ConfigError, OptimConfig, Setting, TrainConfig, TwoLayerCNN, override
from featlab.data import REGISTRY, sample_run
from featlab.data.xor import XorData, xor_vectors
from featlab.train.population import RunSpec, metric_names, train_chunk


def _signal(r: dict) -> torch.Tensor:
    """(n, d) the signal patch of every sample."""
    return r["X"][torch.arange(r["X"].shape[0]), r["signal_patch"]]


def test_opposite_vectors_share_a_label_and_the_angle_is_theta():
    cfg = XorData(n=400, d=50, mu_norm=3.0, theta=math.pi / 5, sigma_p=0.7, flip_p=0.2,
                  signal_position="random")
    r = sample_run(cfg, seed=2, n=400, split="train")
    a, b = r["mu"]
    assert r["mu"].shape == (2, 50) and r["mu_class"].tolist() == [1.0, -1.0]
    assert math.isclose(float(a.norm()), 3.0, rel_tol=1e-6) and math.isclose(float(b.norm()), 3.0, rel_tol=1e-6)
    assert math.isclose(float(a @ b) / 9.0, math.cos(math.pi / 5), rel_tol=1e-6)
    sig, y = _signal(r), r["y_clean"]
    pos, neg = sig[y > 0], sig[y < 0]
    # class +1 carries exactly +a or -a, class -1 exactly +b or -b, each sign present
    assert torch.allclose((pos @ a).abs(), torch.full((len(pos),), 9.0), atol=1e-4)
    assert torch.allclose((pos - (pos @ a / 9.0)[:, None] * a).norm(dim=1), torch.zeros(len(pos)), atol=1e-4)
    assert torch.allclose((neg - (neg @ b / 9.0)[:, None] * b).norm(dim=1), torch.zeros(len(neg)), atol=1e-4)
    assert set(torch.sign(pos @ a).tolist()) == {1.0, -1.0} and set(torch.sign(neg @ b).tolist()) == {1.0, -1.0}
    # the XOR structure: the class-conditional mean of the signal patch is near 0 (no linear rule)
    assert float(pos.mean(0).norm()) < 0.35 * 3.0 and float(neg.mean(0).norm()) < 0.35 * 3.0
    # noise: the other patch, orthogonal to a and b, variance sigma_p^2 per remaining coordinate
    noise = r["X"][torch.arange(400), r["noise_idx"][:, 0]]
    assert float((noise @ a).abs().max()) < 1e-5 and float((noise @ b).abs().max()) < 1e-5
    assert abs(float(noise.pow(2).sum(1).mean()) / (0.49 * 48) - 1) < 0.05
    # flips: training labels flipped at about rate p, the signal keeps the clean label
    assert abs(float((r["y"] != y).double().mean()) - 0.2) < 0.06
    t = sample_run(cfg, seed=2, n=400, split="test")
    assert torch.equal(t["y"], t["y_clean"]) and not torch.equal(t["X"], r["X"])


def test_balanced_counts_and_isotropic_noise():
    cfg = XorData(n=22, d=30, counts="balanced", noise="isotropic")
    r = sample_run(cfg, seed=5, n=22, split="train")
    combos = [int(((r["y_clean"] == y) & (r["sign"] == s)).sum()) for y in (1, -1) for s in (1, -1)]
    assert sorted(combos) == [5, 5, 6, 6]
    noise = r["X"][torch.arange(22), r["noise_idx"][:, 0]]
    assert float(noise[:, :2].abs().max()) > 1e-3                           # not projected off a, b
    rerun = sample_run(cfg, seed=5, n=22, split="train")
    assert all(torch.equal(r[k], rerun[k]) for k in r)


def test_registered_with_two_named_features():
    assert REGISTRY["xor"].sample_run is not None
    s = Setting(data=XorData(), train=TrainConfig(test_estimator="sample"))
    names = metric_names(s)
    assert "gamma_a" in names and "gamma_b" in names
    torch.testing.assert_close(xor_vectors(XorData(d=4, mu_norm=2.0, theta=math.pi / 2), torch.float64),
                               torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0]], dtype=torch.float64))


@pytest.mark.parametrize("theta", [0.0, -0.3, 1.6, 3.2, float("nan")])
def test_theta_outside_the_range_is_a_config_error(theta):
    with pytest.raises(ConfigError, match=r"data\.theta"):
        XorData(theta=theta)


@pytest.mark.parametrize("args, word", [
    (["--set", "data.theta=0"], "data.theta"),
    (["--set", "data.theta=2"], "data.theta"),
    (["--set", "data.counts=even"], "data.counts"),
    (["--set", "data.d=2"], "data.d"),               # d moves with the lr (zipped axis)
    (["--grid", "data.d=800,1600"], "data.d"),       # a second axis setting d is refused
    (["--set", "train.test_estimator=gaussian"], "train.test_estimator"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, word):
    res = CliRunner().invoke(app, ["run", "meng2024-xor-phase", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output


def _xor_setting(**changes) -> Setting:
    s = Setting(data=XorData(n=20, d=800, mu_norm=16.0, sigma_p=1.0, counts="balanced",
                             flip_p=0.1, flip_test=True, n_test=1000),
                model=TwoLayerCNN(m=20, activation="relu", sigma_0=0.01),
                optim=OptimConfig(name="gd", lr=1.0),
                train=TrainConfig(steps=300, log_points=3, test_estimator="sample"))
    return override(s, changes) if changes else s


def test_population_equals_single_runs_and_decomposition_is_exact():
    base = _xor_setting(**{"data.d": 120, "data.n_test": 200, "train.steps": 40,
                           "train.dtype": "float64", "model.m": 4})
    runs = [RunSpec(base, 0), RunSpec(override(base, {"data.theta": math.pi / 4, "data.n": 13}), 1),
            RunSpec(override(base, {"data.mu_norm": 2.0, "data.noise": "isotropic",
                                    "data.signal_position": "random", "optim.lr": 0.3}), 2)]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        for name, vals in pop.final.items():
            np.testing.assert_allclose(vals[i], one.final[name][0], rtol=1e-8, atol=1e-10,
                                       err_msg=f"run {i}, {name}")
    # GD stays in span{a, b, xi_i}: the decomposition with the two (non-orthogonal at pi/4)
    # feature rows reconstructs W exactly; the learned features are visible in gamma_a, gamma_b
    # (an isotropic-noise run leaves the noise's a, b parts in the basis too, still exact)
    assert pop.log_values["decomp_residual"].max() < 1e-8
    assert min(pop.final["gamma_a"][0], pop.final["gamma_b"][0]) > 0.5


def test_benign_and_harmful_cells_on_the_predicted_side():
    """n||mu||^4/(sigma_p^4 d) = 20 * 16^4 / 800 = 1638 (far above the quick preset's fitted
    C ~ 20-30): test error near p = 0.1; = 20 * 2.5^4 / 3200 = 0.24 (far below): near chance."""
    fast = {"train.log_points": 1, "data.n_test": 500}
    benign = train_chunk([RunSpec(_xor_setting(**fast), s) for s in range(3)])
    harmful = train_chunk([RunSpec(_xor_setting(**fast, **{"data.d": 3200, "data.mu_norm": 2.5}), s)
                           for s in range(3)])
    for res in (benign, harmful):
        assert res.final["train_error"].max() == 0.0                         # the noisy labels are fitted
    assert benign.final["test_error_noisy"].mean() <= 0.15
    assert benign.final["test_error"].mean() <= 0.05
    assert harmful.final["test_error_noisy"].mean() >= 0.35


def test_side_rows_fail_when_the_error_never_reaches_the_bayes_level():
    """Rows (v)/(vi) of meng2024-xor-phase read the control four-fold from the fitted C: a grid
    whose benign side sits at p + 0.02 passes, one stuck at p + 0.2 (a quarter of the XOR test
    set misclassified) fails; too few far cells fail too."""
    import pandas as pd

    from featlab.experiments.meng2024_xor_phase import _side_rows

    control = np.array([0.1, 0.2, 1.0, 10.0, 100.0, 200.0])
    good = pd.DataFrame({"error": [0.45, 0.4, 0.3, 0.15, 0.12, 0.11]})
    stuck = pd.DataFrame({"error": [0.45, 0.4, 0.35, 0.32, 0.30, 0.30]})
    assert all(r["passed"] for r in _side_rows(good, control, C=5.0))
    benign, harmful = _side_rows(stuck, control, C=5.0)
    assert not benign["passed"] and harmful["passed"]
    assert not any(r["passed"] for r in _side_rows(good, control, C=float("nan")))
    assert not _side_rows(good, control, C=60.0)[0]["passed"]          # one cell >= 4 C only


def _step_units(s: Setting) -> float:
    """One GD step in noise-memorization units, eta sigma_p^2 d / (n m)."""
    return s.optim.lr * s.data.sigma_p ** 2 * s.data.d / (s.data.n * s.model.m)


def test_presets_step_within_one_noise_memorization_unit():
    """Every run of every meng2024-xor-phase preset and control takes GD steps with
    eta sigma_p^2 d / (n m) <= 1 (the former constant lr 1 gave d / 400 = 16 at d = 6400)."""
    from featlab.experiments import get_experiment

    exp = get_experiment("meng2024-xor-phase")
    for preset in exp.presets:
        sweep = exp.sweep(preset)
        sweeps = [sweep, *(c.sweep(sweep) for c in exp.controls if c.sweep)]
        steps = [_step_units(r.setting) for sw in sweeps for r in sw.runs()]
        assert max(steps) <= 1 + 1e-5, (preset, max(steps))
        assert min(steps) >= 1 - 1e-5, (preset, min(steps))       # the same unit at every d


def test_the_step_rule_is_at_the_small_step_limit_and_lr_1_is_not():
    """At d = 6400, ||mu|| = 8.4 (on the quick grid's 0.2 contour), halving the step and doubling
    the number of steps leaves the step rule's test error where it is (GD at its small-step
    limit: measured change 0.001 over 6 seeds) but moves the constant lr 1's (16 noise units per
    step) by 0.04: the large step is what bent the contour at large d."""
    from featlab.experiments.meng2024_xor_phase import noise_step_lr

    cell = {"data.d": 6400, "data.mu_norm": 8.4, "data.n_test": 500, "train.log_points": 1}

    def err(lr: float, steps: int) -> float:
        s = _xor_setting(**cell, **{"optim.lr": lr, "train.steps": steps})
        return float(train_chunk([RunSpec(s, k) for k in range(3)]).final["test_error_noisy"].mean())

    eta = noise_step_lr(6400)
    assert eta == pytest.approx(1 / 16)
    assert abs(err(eta, 300) - err(eta / 2, 600)) <= 0.01
    assert err(1.0, 300) - err(0.5, 600) >= 0.02
