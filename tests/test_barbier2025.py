"""Extensive-width teacher-student MLP (barbier2025-specialisation): the mlp_teacher data, the
Langevin optimizer and the teacher-overlap probe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from featlab import optim
from featlab.cli import app
from featlab.config import MLP, ConfigError, OptimConfig, Setting, TrainConfig
from featlab.data import REGISTRY
from featlab.data.mlp_teacher import MLPTeacherData, sample_run, teacher
from featlab.experiments.barbier2025_specialisation import bayes_temperature, steepest_rise
from featlab.optim.transforms import gaussian_noise, langevin
from featlab.probes import matched_overlap, teacher_overlap
from featlab.rng import run_key
from featlab.train.engine import RunSpec
from featlab.train.generic import train_chunk


def _setting(**optim_kw) -> Setting:
    return Setting(data=MLPTeacherData(d=6, alpha=1.5, n_test=64, noise=0.05),
                   model=MLP(depth=2, width=6, activation="tanh", bias=False),
                   optim=OptimConfig(name="langevin", lr=0.3, **optim_kw),
                   train=TrainConfig(steps=15, log_points=3, dtype="float64"))


def test_data_sizes_and_teacher_are_the_papers_scalings():
    cfg = MLPTeacherData(d=10, kappa=0.5, alpha=2.0)
    assert (cfg.k, cfg.n) == (5, 200)
    r = sample_run(cfg, 3, cfg.n, "train", torch.float64)
    W, a = teacher(cfg, 3)
    assert r["X"].shape == (200, 10) and r["teacher_W"].shape == (5, 10)
    assert torch.equal(r["teacher_W"], W) and torch.equal(r["teacher_a"], a)
    y_clean = torch.tanh(r["X"] @ W.T) @ a
    assert float((r["y"] - y_clean).std()) == pytest.approx(0.05, rel=0.2)   # label noise
    assert REGISTRY["mlp_teacher"].sample_run is sample_run
    noise = sample_run(MLPTeacherData(d=10, kappa=0.5, alpha=2.0, pure_noise=True), 3, 200,
                       "train", torch.float64)
    assert abs(float(np.corrcoef(noise["y"], y_clean)[0, 1])) < 0.2         # no teacher left


def test_population_equals_single_runs_float64():
    runs = [RunSpec(_setting(temperature=T), seed) for seed, T in ((0, 0.0), (1, 1e-3), (2, 3e-4))]
    pop = train_chunk(runs)
    for p, r in enumerate(runs):
        one = train_chunk([r])
        for k in ("train_loss", "test_loss", "teacher_overlap", "teacher_overlap_weighted",
                  "teacher_overlap_matched"):
            assert pop.final[k][p] == pytest.approx(one.final[k][0], rel=1e-12, abs=1e-14), k


def test_langevin_at_zero_temperature_is_gd_bit_for_bit():
    a = train_chunk([RunSpec(_setting(temperature=0.0), 0)])
    b = train_chunk([RunSpec(Setting(**{**_setting().__dict__,
                                        "optim": OptimConfig(name="gd", lr=0.3)}), 0)])
    for k in ("train_loss", "teacher_overlap"):
        assert a.final[k][0] == b.final[k][0]
    c = train_chunk([RunSpec(_setting(temperature=1e-3), 0)])
    assert c.final["teacher_overlap"][0] != a.final["teacher_overlap"][0]     # the noise acts


def test_langevin_noise_has_variance_2_eta_T_and_is_per_run_reproducible():
    P, shape = 3, (40, 50)
    lr = torch.tensor([0.1, 0.5, 0.2], dtype=torch.float64)
    T = torch.tensor([1e-2, 1e-3, 0.0], dtype=torch.float64)
    keys = torch.tensor([run_key(s, "langevin") for s in (4, 5, 6)])
    params = {"W": torch.zeros(P, *shape, dtype=torch.float64)}
    opt = langevin(lr, T, keys)
    zero = {"W": torch.zeros_like(params["W"])}
    u, _ = opt.update(zero, opt.init(params), params, 7)
    var = u["W"].flatten(1).var(1)                                           # (P,)
    m = shape[0] * shape[1]
    for p in range(2):
        want = 2 * float(lr[p] * T[p])
        assert abs(float(var[p]) - want) < 5 * want * math.sqrt(2 / m)       # 5 s.e. of a variance
    assert float(u["W"][2].abs().max()) == 0.0                              # T = 0: no noise
    # run 1 trained alone draws the same noise; another step or run draws different noise
    alone = langevin(lr[1:2], T[1:2], keys[1:2])
    p1 = {"W": params["W"][1:2]}
    u1, _ = alone.update({"W": zero["W"][1:2]}, alone.init(p1), p1, 7)
    assert torch.equal(u1["W"][0], u["W"][1])
    assert not torch.equal(gaussian_noise(keys, "W", 8, shape), gaussian_noise(keys, "W", 7, shape))
    assert not torch.equal(gaussian_noise(keys, "b", 7, shape), gaussian_noise(keys, "W", 7, shape))


def test_langevin_samples_the_gibbs_law_of_a_quadratic():
    """L = h w^2 / 2: the chain's stationary variance is 2T / (h (2 - eta h)) exactly (-> T/h)."""
    P, h, eta, T = 4000, 2.0, 0.1, 0.05
    keys = torch.tensor([run_key(s, "langevin") for s in range(P)])
    w = {"w": torch.zeros(P, 1, dtype=torch.float64)}
    opt = langevin(eta, T, keys)
    state = opt.init(w)
    for t in range(150):
        u, state = opt.update({"w": h * w["w"]}, state, w, t)
        w = {"w": w["w"] + u["w"]}
    want = 2 * T / (h * (2 - eta * h))
    got = float(w["w"].var())
    assert abs(got - want) < 5 * want * math.sqrt(2 / P), (got, want)


def test_overlap_probe_equals_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 5, 7, generator=g, dtype=torch.float64)
    Ws = torch.randn(2, 3, 7, generator=g, dtype=torch.float64)
    a = torch.randn(2, 3, generator=g, dtype=torch.float64)
    q, qw = teacher_overlap(W, Ws), teacher_overlap(W, Ws, a)
    for p in range(2):
        best = [max(abs(float(Ws[p, i] @ W[p, j])) / float(Ws[p, i].norm() * W[p, j].norm())
                    for j in range(5)) for i in range(3)]
        assert float(q[p]) == pytest.approx(sum(best) / 3, rel=1e-12)
        c = [float(a[p, i]) ** 2 for i in range(3)]
        assert float(qw[p]) == pytest.approx(sum(b * ci for b, ci in zip(best, c)) / sum(c), rel=1e-12)
    # a student holding the teacher's neurons (permuted, sign-flipped, rescaled) has q = 1
    perm = torch.cat([-2.0 * Ws[:, [2, 0, 1]], W[:, :2]], dim=1)
    assert torch.allclose(teacher_overlap(perm, Ws), torch.ones(2, dtype=torch.float64))


def test_matched_overlap_equals_brute_force_over_permutations():
    import itertools

    g = torch.Generator().manual_seed(1)
    W = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    Ws = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    got = matched_overlap(W, Ws)
    for p in range(3):
        Wn, Sn = W[p] / W[p].norm(dim=1, keepdim=True), Ws[p] / Ws[p].norm(dim=1, keepdim=True)
        c = (Sn @ Wn.T).abs()
        best = max(sum(float(c[i, j]) for i, j in enumerate(pi)) / 4
                   for pi in itertools.permutations(range(4)))
        assert float(got[p]) == pytest.approx(best, rel=1e-12)
    assert bool((got <= teacher_overlap(W, Ws) + 1e-12).all())
    assert float(matched_overlap(Ws[:, [1, 0, 3, 2]], Ws)[0]) == pytest.approx(1.0)
    assert float(matched_overlap(Ws[:, :1], Ws)[0]) == pytest.approx(0.25)  # N < k: partners missing


def test_steepest_rise_and_bayes_temperature():
    assert steepest_rise(np.array([0.25, 1.0, 4.0]), np.array([0.5, 0.55, 0.9])) == 2.0
    assert steepest_rise(np.array([0.25, 1.0, 4.0]), np.array([0.5, 0.85, 0.9])) == 0.5
    assert bayes_temperature(1.0, 10, 0.1) == pytest.approx(2 * 0.01 / 100)


def test_langevin_is_registered_with_a_per_run_temperature():
    assert "langevin" in optim.REGISTRY and "temperature" in optim.PER_RUN_HPARAMS
    with pytest.raises(ValueError, match="noise_key"):
        optim.build(OptimConfig(name="langevin", temperature=1e-3),
                    {k: torch.ones(1, dtype=torch.float64) for k in optim.PER_RUN_HPARAMS})


@pytest.mark.parametrize("make, word", [
    (lambda: OptimConfig(name="langevin", temperature=-1.0), "optim.temperature"),
    (lambda: OptimConfig(name="langevin", temperature=float("nan")), "optim.temperature"),
    (lambda: MLPTeacherData(alpha=0.0), "data.alpha"),
    (lambda: MLPTeacherData(kappa=-1.0), "data.kappa"),
    (lambda: MLPTeacherData(d=0), "data.d"),
])
def test_bad_config_names_the_parameter(make, word):
    with pytest.raises(ConfigError, match=word.replace(".", r"\.")):
        make()


@pytest.mark.parametrize("args, word", [
    (["--set", "data.kappa=0"], "data.kappa"),
    (["--set", "data.activation=relu6"], "data.activation"),
    (["--set", "data.readout=uniform"], "data.readout"),
    (["--set", "optim.temperature=-1"], "optim.temperature"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, word):
    res = CliRunner().invoke(app, ["run", "barbier2025-specialisation", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
