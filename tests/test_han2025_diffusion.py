"""The tied-weight denoiser / classifier (Han et al. 2025) on the generic engine: a population
equals its single runs (float64), the DDPM-loss and logistic gradients equal autograd of an
independent nn.Module, a stand-alone GD loop with the same per-run diffusion noise reproduces
a trained run, the diffusion noise is N(0, 1) and per run, the data are Def. 2.1's, the
early-phase ratio follows the first-order drift, and bad inputs are one line with exit code 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.data import class_signals
from featlab.data.class_signals import ClassSignalData
from featlab.models import family_of, tied_denoiser
from featlab.models.tied_denoiser import TiedDenoiser
from featlab.rng import run_key
from featlab.train.tasks import hash_normal, task_of
from featlab.train.vmapped import vmap_loss_and_grad


def _setting(objective: str = "denoise", **kw) -> fl.Setting:
    lr, steps = (0.01, 12) if objective == "denoise" else (1.0, 20)
    s = fl.Setting(data=ClassSignalData(n=8, d=40, n_snr2=2.0, n_test=10),
                   model=TiedDenoiser(m=4, sigma_0=0.05, objective=objective),
                   optim=fl.OptimConfig(name="gd", lr=lr),
                   train=fl.TrainConfig(steps=steps, log_points=3, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


class _Reference(torch.nn.Module):
    """Independent one-run network: per patch p, out_p = (1/sqrt m) sum_r sigma(<w_r, x_p>) w_r
    (denoise) or f = (1/m) sum_p sum_r a_r sigma(<w_r, x_p>), a = (+1,..,+1,-1,..,-1) (classify),
    written with explicit loops over patches and neurons."""

    def __init__(self, W: torch.Tensor, objective: str, activation: str = "square") -> None:
        super().__init__()
        self.W = torch.nn.Parameter(W.clone())
        self.objective, self.activation = objective, activation

    def sigma(self, z: torch.Tensor) -> torch.Tensor:
        return z ** 2 if self.activation == "square" else torch.clamp(z, min=0) ** 2

    def forward(self, X: torch.Tensor) -> torch.Tensor:                      # X (n, K, d)
        m = self.W.shape[0]
        if self.objective == "denoise":
            patches = []
            for p in range(X.shape[1]):
                out = torch.zeros_like(X[:, p])
                for r in range(m):
                    out = out + self.sigma(X[:, p] @ self.W[r])[:, None] * self.W[r][None, :]
                patches.append(out / math.sqrt(m))
            return torch.stack(patches, 1)
        f = torch.zeros(X.shape[0], dtype=X.dtype)
        for p in range(X.shape[1]):
            for r in range(m):
                f = f + (1.0 if r < m // 2 else -1.0) * self.sigma(X[:, p] @ self.W[r])
        return f / m


def _ddpm_loss(net: _Reference, X_t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i sum_p ||net(x_t)_p - eps_p||^2."""
    return ((net(X_t) - eps) ** 2).sum((1, 2)).mean()


def test_data_are_def_2_1():
    cfg = ClassSignalData(n=200, d=50, n_snr2=3.0, n_test=5)
    out = class_signals.sample_run(cfg, 3, cfg.n, "train", torch.float64)
    X, y = out["X"], out["y"]
    assert cfg.mu_norm == pytest.approx(math.sqrt(3.0 * 50 / 200))
    mu = out["mu"]
    assert float(mu[0] @ mu[1]) == 0 and torch.allclose(mu.norm(dim=1), torch.full((2,), cfg.mu_norm,
                                                                                dtype=torch.float64))
    assert torch.equal(X[y > 0, 0], mu[0].expand(int((y > 0).sum()), -1))     # x^(1) = mu_y
    assert torch.equal(X[y < 0, 0], mu[1].expand(int((y < 0).sum()), -1))
    assert (X[:, 1, :2] == 0).all()                                          # xi orthogonal to both
    assert abs(X[:, 1, 2:].var().item() - 1.0) < 0.05
    again = class_signals.sample_run(cfg, 3, cfg.n, "train", torch.float64)
    assert torch.equal(again["X"], X)
    none = class_signals.sample_run(ClassSignalData(n=200, d=50, n_snr2=3.0, signal="none"), 3, 200,
                                    "train", torch.float64)
    assert (none["X"][:, 0] == 0).all() and torch.equal(none["mu"], mu)


def test_diffusion_noise_is_standard_normal_and_per_run():
    keys = torch.tensor([run_key(s, "diffusion") for s in range(3)], dtype=torch.int64)
    z = hash_normal(keys, 5, (4000,))
    assert z.shape == (3, 4000)
    assert abs(z.mean().item()) < 0.05 and abs(z.var().item() - 1.0) < 0.05
    assert abs((z[0] * z[1]).mean().item()) < 0.05                          # runs independent
    assert torch.equal(hash_normal(keys[1:2], 5, (4000,))[0], z[1])          # population-free
    assert not torch.equal(hash_normal(keys, 6, (4000,)), z)                 # fresh every step
    X = torch.randn(3, 7, 2, 5, dtype=torch.float64)
    X_t, eps = task_of(None, TiedDenoiser(alpha_bar=0.3)).corrupt(TiedDenoiser(alpha_bar=0.3), X,
                                                                  keys, 2)
    assert torch.allclose(X_t, math.sqrt(0.3) * X + math.sqrt(0.7) * eps)
    assert torch.equal(eps, hash_normal(keys, 2, (7, 2, 5)))


@pytest.mark.parametrize("objective,activation", [("denoise", "square"), ("denoise", "relu2"),
                                                  ("classify", "square")])
def test_gradient_equals_autograd_of_nn_module(objective, activation):
    s = _setting(objective, **{"model.activation": activation})
    fam, task = family_of(s.model), task_of(s.data, s.model)
    seeds = [0, 1, 2]
    params = tied_denoiser.init(s.model, seeds, s.data.input_shape, torch.float64)
    data = [class_signals.sample_run(s.data, k, s.data.n, "train", torch.float64) for k in seeds]
    X = torch.stack([d["X"] for d in data])
    y = torch.stack([d["y"] for d in data])
    if task.corrupt is not None:
        keys = torch.tensor([run_key(k, "diffusion") for k in seeds], dtype=torch.int64)
        X, y = task.corrupt(s.model, X, keys, 3)
    w = torch.full((3, s.data.n), 1.0 / s.data.n, dtype=torch.float64)
    loss, f, grads = vmap_loss_and_grad(fam, s.model, task)(s.model, params, X, y, w)
    for p in range(3):
        net = _Reference(params["W"][p], objective, activation)
        ref = (_ddpm_loss(net, X[p], y[p]) if objective == "denoise"
               else torch.nn.functional.softplus(-y[p] * net(X[p])).mean())
        ref.backward()
        assert torch.allclose(loss[p], ref.detach(), rtol=1e-12)
        assert torch.allclose(grads["W"][p], net.W.grad, rtol=1e-10, atol=1e-14)


def _by_run(res) -> dict:
    f = res.final.sort_values(["seed", "data.n_snr2"])
    return f


@pytest.mark.parametrize("objective", ["denoise", "classify"])
def test_population_equals_single_runs(objective):
    sweep = fl.Sweep(_setting(objective), {"data.n_snr2": [0.5, 4.0], "model.sigma_0": [0.03, 0.05]},
                     seeds=1)
    together = _by_run(fl.train(sweep))
    alone = _by_run(fl.train(sweep, chunk_size=1))
    cols = ["train_loss", "test_loss", "signal_max", "noise_max", "feature_ratio", "feature_ratio_raw"]
    np.testing.assert_allclose(together[cols].to_numpy(float), alone[cols].to_numpy(float),
                               rtol=1e-10, atol=0)
    assert (together["status"] == "done").all()


def test_training_equals_a_standalone_gd_loop():
    """The engine's denoiser run == GD on the reference module with the same per-step noise."""
    s, seed = _setting("denoise"), 4
    res = fl.train(fl.Sweep(s, {}, seeds=1, seed_offset=seed)).final.iloc[0]
    data = class_signals.sample_run(s.data, seed, s.data.n, "train", torch.float64)
    W0 = tied_denoiser.init(s.model, [seed], s.data.input_shape, torch.float64)["W"][0]
    net = _Reference(W0, "denoise")
    key = torch.tensor([run_key(seed, "diffusion")], dtype=torch.int64)
    ab = s.model.alpha_bar
    for t in range(s.train.steps):
        eps = hash_normal(key, t, tuple(data["X"].shape))[0]
        net.zero_grad()
        _ddpm_loss(net, math.sqrt(ab) * data["X"] + math.sqrt(1 - ab) * eps, eps).backward()
        with torch.no_grad():
            net.W -= s.optim.lr * net.W.grad
    eval_key = torch.tensor([run_key(seed, "diffusion_eval")], dtype=torch.int64)
    eps = hash_normal(eval_key, 0, tuple(data["X"].shape))[0]
    loss = _ddpm_loss(net, math.sqrt(ab) * data["X"] + math.sqrt(1 - ab) * eps, eps).detach()
    assert res["train_loss"] == pytest.approx(float(loss), rel=1e-10)
    ratio = tied_denoiser.feature_ratio(net.W.detach()[None], W0[None], data["mu"][None],
                                        data["X"][None, :, 1])
    assert res["feature_ratio"] == pytest.approx(float(ratio["feature_ratio"][0]), rel=1e-10)


@pytest.mark.slow
def test_early_phase_ratio_grows_like_n_snr2_and_the_classifier_jumps():
    """Four n SNR^2 values, 2 seeds: the denoiser's learned ratio doubles per doubling of n SNR^2
    (slope within 0.25 of 1, the first-order drift), the classifier's rises far faster."""
    from featlab.experiments.han2025_diffusion_features import _POINTS, quick

    base = quick()                                  # n = 20; n SNR^2 moves with ||mu||
    sweep = fl.Sweep(base.setting, {**dict(base.grid),
                                    _POINTS: [(20, v) for v in (0.5, 1.0, 2.0, 4.0)]}, seeds=2)
    f = fl.train(sweep).final
    obj = f["model.objective,optim.lr,train.steps"].map(lambda v: v[0] if isinstance(v, tuple)
                                                        else str(v))
    slopes = {}
    for name in ("denoise", "classify"):
        g = f[obj.str.contains(name)]
        n_snr2 = g[_POINTS].map(lambda v: float(v[1]))
        slopes[name] = np.polyfit(np.log(n_snr2), np.log(g["feature_ratio"]), 1)[0]
    assert abs(slopes["denoise"] - 1.0) < 0.25, slopes
    assert slopes["classify"] > 1.8, slopes


@pytest.mark.parametrize("key,value,word", [
    ("model.alpha_bar", "0", "model.alpha_bar"), ("model.alpha_bar", "1", "model.alpha_bar"),
    ("model.sigma_0", "0", "model.sigma_0"), ("model.m", "3", "model.m"),
    ("data.n_snr2", "-1", "data.n_snr2"), ("model.activation", "tanh", "model.activation"),
    ("optim.mixup_alpha", "0.5", "optim.mixup_alpha"),
])
def test_bad_inputs_are_one_line_and_exit_2(key, value, word, tmp_path):
    res = CliRunner().invoke(app, ["run", "han2025-diffusion-features", "--set", f"{key}={value}",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()
