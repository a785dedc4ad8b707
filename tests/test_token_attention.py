"""Token-selection attention (Sakamoto & Sato 2025) on the generic engine: a population equals its
single runs and an independent nn.Module + torch.optim reference (float64), the vmapped gradient
equals autograd of that module, the token data are what the paper describes, a benign and a
high-SNR cell land on the predicted side, and bad inputs are one line with exit code 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.config import MLP, ConfigError
from featlab.data import tokens
from featlab.data.tokens import TokenSelectionData
from featlab.models import family_of, token_attention
from featlab.models.token_attention import TokenAttention
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import task_of
from featlab.train.vmapped import vmap_loss_and_grad


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=TokenSelectionData(n=10, d=12, T=5, mu_norm=4.0, flips=3, n_test=20),
                   model=TokenAttention(nu_norm=0.25),
                   optim=fl.OptimConfig(name="gd", lr=0.5),
                   train=fl.TrainConfig(steps=10, log_points=4, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


class _Reference(torch.nn.Module):
    """Independent one-run model: f(X) = sum_t softmax(X W p)_t <x_t, nu>."""

    def __init__(self, W: torch.Tensor, p: torch.Tensor, nu: torch.Tensor) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(W.clone())
        self.p = torch.nn.Parameter(p.clone())
        self.register_buffer("nu", nu.clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:                     # X (n, T, d)
        logits = torch.einsum("ntd,de,e->nt", X, self.W, self.p)
        return (torch.softmax(logits, dim=1) * torch.einsum("ntd,d->nt", X, self.nu)).sum(1)


def _data(s: fl.Setting, seed: int) -> dict[str, torch.Tensor]:
    return tokens.sample_run(s.data, seed, s.data.n, "train", torch.float64)


def _reference_losses(s: fl.Setting, seed: int) -> dict[int, float]:
    data = _data(s, seed)
    p0 = {k: v[0] for k, v in token_attention.init(s.model, [seed], s.data.input_shape,
                                                    torch.float64).items()}
    net = _Reference(p0["W"], p0["p"], p0["nu"])
    if s.optim.name == "adam":
        opt = torch.optim.Adam([net.W, net.p], lr=s.optim.lr, betas=(s.optim.b1, s.optim.b2),
                               eps=s.optim.eps)
    else:
        opt = torch.optim.SGD([net.W, net.p], lr=s.optim.lr)
    losses = {}
    for t in range(s.train.steps + 1):
        opt.zero_grad()
        loss = torch.nn.functional.softplus(-data["y"] * net(data["X"])).mean()
        losses[t] = float(loss.detach())
        if t < s.train.steps:
            loss.backward()
            opt.step()
    return losses


@pytest.mark.parametrize("changes", [{}, {"optim.name": "adam", "optim.lr": 0.05}])
def test_population_equals_single_runs_and_module_reference(changes):
    s = _setting(**changes)
    runs = [RunSpec(fl.override(s, {"model.init_scale": 1.0 + 0.2 * i,
                                    "data.mu_norm": 3.0 + i, "data.flips": i}), i)
            for i in range(3)]
    pop = train_chunk(runs)
    assert len({r.setting.data.mu_norm for r in runs}) == 3      # per-run fields share a chunk
    for i, r in enumerate(runs):
        one = train_chunk([r])
        rows = pop.log_run == i
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name],
                                       rtol=1e-12, atol=1e-14, err_msg=name)
        ref = _reference_losses(r.setting, r.seed)
        steps = pop.log_step[rows]
        np.testing.assert_allclose(pop.log_values["train_loss"][rows], [ref[int(t)] for t in steps],
                                   rtol=1e-10, atol=1e-12)
        assert ref[s.train.steps] < ref[0]                                   # it learned


def test_vmapped_gradient_equals_module_autograd():
    s = _setting()
    params = token_attention.init(s.model, [0, 1], s.data.input_shape, torch.float64)
    params["p"] = torch.randn(params["p"].shape, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(3))   # non-uniform attention
    X = torch.stack([_data(s, k)["X"] for k in (0, 1)])
    y = torch.stack([_data(s, k)["y"] for k in (0, 1)])
    w = torch.full(y.shape, 1.0 / s.data.n, dtype=torch.float64)
    fn = vmap_loss_and_grad(family_of(s.model), s.model, task_of(s.data))
    loss, f, g = fn(s.model, params, X, y, w)
    assert set(g) == {"W", "p"}                                              # nu is not trained
    for i in range(2):
        net = _Reference(params["W"][i], params["p"][i], params["nu"][i])
        ref = torch.nn.functional.softplus(-y[i] * net(X[i])).mean()
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(g["W"][i], net.W.grad, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(g["p"][i], net.p.grad, rtol=1e-10, atol=1e-14)


def test_token_data_follow_the_paper():
    cfg = TokenSelectionData(n=40, d=30, T=6, mu_norm=50.0, rho=0.2, flips=5, n_test=40)
    tr = tokens.sample_run(cfg, 0, cfg.n, "train", torch.float64)
    te = tokens.sample_run(cfg, 0, cfg.n_test, "test", torch.float64)
    assert tr["X"].shape == (40, 6, 30) and cfg.input_shape == (6, 30)
    flipped = tr["flipped"].bool()
    assert int(flipped.sum()) == 5 and int(flipped[:20].sum()) == 2         # 2 in class +1, 3 in -1
    assert torch.equal(tr["y"], torch.where(flipped, -tr["y_clean"], tr["y_clean"]))
    assert not te["flipped"].any() and torch.equal(te["y"], te["y_clean"])
    pos = tr["y_clean"] > 0
    x1 = tr["X"][:, tokens.RELEVANT]                                        # mu_y on coordinate 0 or 1
    assert (x1[pos, 0] > 25).all() and (x1[~pos, 1] > 25).all()
    assert (tr["X"][pos, 1, 0].mean() - 10).abs() < 1 and (tr["X"][pos, 2, 1].mean() - 10).abs() < 1
    assert tr["X"][:, 3:, :2].abs().max() < 6                               # noise tokens only
    assert not torch.equal(tr["X"][:5], te["X"][:5])                        # test set on its own stream
    assert math.isclose(cfg.oracle_error, 0.5 * math.erfc(50 / 2), rel_tol=1e-12)


@pytest.mark.slow
def test_benign_and_high_snr_cells_land_on_the_predicted_side():
    """The quick preset's moderate (||mu|| = 10) and high-SNR (||mu|| = 100) cells at d = 400, one
    population (||mu|| and nu_norm are per-run fields), on seeds whose flipped labels are all
    fitted in the benign cell at this scale (CHECKS.md: about 1 flipped sample in 24 is not)."""
    base = fl.Setting(data=TokenSelectionData(n=20, d=400, T=8, flips=4, n_test=200),
                      model=TokenAttention(), optim=fl.OptimConfig(name="gd", lr=0.1),
                      train=fl.TrainConfig(steps=500, log_points=1))
    cell = lambda mu, seed: RunSpec(fl.override(base, {"data.mu_norm": mu, "model.nu_norm": 1 / mu}),  # noqa: E731
                                    seed)
    res = train_chunk([cell(10.0, 0), cell(100.0, 1)])
    f = {k: v for k, v in res.final.items()}
    assert f["train_error"][0] == 0 and f["test_error"][0] <= 0.05           # benign: fitted, generalizes
    assert f["attn_relevant_flipped"][0] < 0.1 and f["attn_relevant_clean"][0] > 0.5
    assert f["train_error_flipped"][1] == 1 and f["attn_relevant_flipped"][1] > 0.9  # high SNR: not fitted
    assert f["train_error_clean"][1] == 0 and f["test_error"][1] <= 0.05


@pytest.mark.parametrize("key,value,word", [
    ("data.T", "1", "data.T"), ("data.flips", "21", "data.flips"), ("data.flips", "-1", "data.flips"),
    ("model.nu_norm", "0", "model.nu_norm"), ("model.init", "xavier", "model.init"),
    ("data.d", "100000", "data.d"),                      # W (d x d) would not fit in memory
])
def test_bad_inputs_are_one_line_and_exit_2(key, value, word, tmp_path):
    res = CliRunner().invoke(app, ["run", "sakamoto2025-token-selection", "--set", f"{key}={value}",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()


def test_token_data_need_a_token_model():
    with pytest.raises(ConfigError, match="model.kind"):
        fl.Setting(data=TokenSelectionData(), model=MLP())


def test_attention_bench_workload_times_both_sides():
    from featlab.bench_attention import attention_workload, step_flops

    r = attention_workload("cpu", P=2, d=16, steps=3, loop_runs=1)
    assert r["population_s"] > 0 and r["loop_s_scaled"] > 0 and r["speedup"] > 0
    assert r["vmap_population_s"] > 0                      # the forced vmap path, same process
    assert r["analytic_vs_vmap"] == pytest.approx(r["vmap_population_s"] / r["population_s"])
    assert r["population_gflops"] == pytest.approx(2 * 3 * step_flops(16, 20, 8) / r["population_s"] / 1e9)
