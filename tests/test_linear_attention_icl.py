"""Linear attention for in-context regression (Wu et al. 2024): the exact ICL risk and the Bayes
risk equal Monte Carlo on the data model's own prompts within their standard errors (and a theory
without the fourth-moment terms is rejected), Gamma* is a stationary point of the risk, a
population equals its single runs and an nn.Module + torch.optim reference (float64), the vmapped
gradient equals autograd, and bad inputs exit 2 with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.data import icl_regression
from featlab.data.icl_regression import ICLRegressionData
from featlab.models import family_of, linear_attention
from featlab.models.linear_attention import LinearAttentionICL
from featlab.theory.icl import bayes_risk, icl_risk, optimal_gamma
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import task_of
from featlab.train.vmapped import vmap_loss_and_grad

CFG = ICLRegressionData(n=10, d=4, n_ctx=6, decay=1.0, psi=0.9, sigma=0.5, n_test=20)


def _prompts(cfg: ICLRegressionData, n: int, seed: int = 0):
    out = icl_regression.sample_run(cfg, seed, n, "test", torch.float64)
    return out["X"], out["y"]


def _H(cfg):
    return torch.diag(torch.tensor(cfg.lam, dtype=torch.float64))


def _mc(Gamma: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    f = linear_attention.apply(LinearAttentionICL(), {"Gamma": Gamma}, X)
    sq = (f - y) ** 2
    return float(sq.mean()), float(sq.std() / len(sq) ** 0.5)


def test_exact_icl_risk_equals_monte_carlo_and_a_wrong_theory_is_rejected():
    X, y = _prompts(CFG, 200_000)
    H, psi2, s2, n = _H(CFG), CFG.psi ** 2, CFG.sigma ** 2, CFG.n_ctx
    G = 0.6 * torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for Gamma in (G, optimal_gamma(H, n, psi2, s2), torch.zeros(4, 4, dtype=torch.float64)):
        mean, se = _mc(Gamma, X, y)
        assert abs(mean - float(icl_risk(Gamma, H, n, psi2, s2))) <= 4 * se, (mean, se)
    mean, se = _mc(G, X, y)
    wrong = float(icl_risk(G, H, n, psi2, s2, fourth_moment=False))
    assert abs(mean - wrong) > 10 * se                                       # the check can fail


def test_optimal_gamma_is_the_minimum_of_the_risk():
    H, psi2, s2, n = _H(CFG), CFG.psi ** 2, CFG.sigma ** 2, CFG.n_ctx
    G = optimal_gamma(H, n, psi2, s2).requires_grad_()
    (g,) = torch.autograd.grad(icl_risk(G, H, n, psi2, s2), G)
    assert g.abs().max() < 1e-12
    r = float(icl_risk(G.detach(), H, n, psi2, s2))
    for seed in range(3):
        E = 1e-2 * torch.randn(4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        assert float(icl_risk(G.detach() + E, H, n, psi2, s2)) > r


def test_bayes_risk_equals_tuned_ridge_monte_carlo():
    X, y = _prompts(CFG, 40_000, seed=2)
    ctx, xq = X[:, :-1], X[:, -1, :-1]
    A, b = ctx[..., :-1], ctx[..., -1]
    lam = CFG.sigma ** 2 / CFG.psi ** 2                                      # posterior mean = ridge
    beta = torch.linalg.solve(A.transpose(1, 2) @ A + lam * torch.eye(4, dtype=torch.float64),
                              (A.transpose(1, 2) @ b[..., None]))[..., 0]
    sq = ((xq * beta).sum(1) - y) ** 2
    mean, se = float(sq.mean()), float(sq.std() / len(sq) ** 0.5)
    B, B_se = bayes_risk(CFG.lam, CFG.n_ctx, CFG.psi ** 2, CFG.sigma ** 2, draws=4000)
    assert abs(mean - B) <= 4 * (se ** 2 + B_se ** 2) ** 0.5
    H = _H(CFG)
    assert B < float(icl_risk(optimal_gamma(H, 6, 0.81, 0.25), H, 6, 0.81, 0.25))  # ridge beats it


class _Reference(torch.nn.Module):
    def __init__(self, Gamma: torch.Tensor) -> None:
        super().__init__()
        self.Gamma = torch.nn.Parameter(Gamma.clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:                     # X (N, n + 1, d + 1)
        h = torch.einsum("nid,ni->nd", X[:, :-1, :-1], X[:, :-1, -1]) / (X.shape[1] - 1)
        return torch.einsum("nd,de,ne->n", X[:, -1, :-1], self.Gamma, h)


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=CFG, model=LinearAttentionICL(init_scale=0.1),
                   optim=fl.OptimConfig(name="gd", lr=0.05),
                   train=fl.TrainConfig(steps=8, log_points=3, log_schedule="linear", dtype="float64"))
    return fl.override(s, kw) if kw else s


@pytest.mark.parametrize("changes", [{}, {"optim.name": "adam", "optim.lr": 0.02}])
def test_population_equals_single_runs_and_module_reference(changes):
    s = _setting(**changes)
    runs = [RunSpec(fl.override(s, {"model.init_scale": 0.1 * i}), i) for i in range(3)]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        rows = pop.log_run == i
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name],
                                       rtol=1e-12, atol=1e-14, err_msg=name)
        d = icl_regression.sample_run(r.setting.data, r.seed, CFG.n, "train", torch.float64)
        net = _Reference(linear_attention.init(r.setting.model, [r.seed], CFG.input_shape,
                                               torch.float64)["Gamma"][0])
        opt = (torch.optim.Adam([net.Gamma], lr=s.optim.lr) if s.optim.name == "adam"
               else torch.optim.SGD([net.Gamma], lr=s.optim.lr))
        ref = {}
        for t in range(s.train.steps + 1):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(d["X"]), d["y"])
            ref[t] = float(loss.detach())
            loss.backward()
            opt.step()
        np.testing.assert_allclose(pop.log_values["train_loss"][rows],
                                   [ref[int(t)] for t in pop.log_step[rows]], rtol=1e-10)
        assert ref[s.train.steps] < ref[0]


def test_vmapped_gradient_equals_module_autograd():
    s = _setting()
    G = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    data = [icl_regression.sample_run(CFG, k, CFG.n, "train", torch.float64) for k in (0, 1)]
    X, y = torch.stack([d["X"] for d in data]), torch.stack([d["y"] for d in data])
    w = torch.full(y.shape, 1.0 / CFG.n, dtype=torch.float64)
    loss, _, g = vmap_loss_and_grad(family_of(s.model), s.model, task_of(CFG))(
        s.model, {"Gamma": G}, X, y, w)
    for i in range(2):
        net = _Reference(G[i])
        ref = torch.nn.functional.mse_loss(net(X[i]), y[i])
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(g["Gamma"][i], net.Gamma.grad, rtol=1e-10, atol=1e-14)


def test_test_context_length_changes_only_the_test_prompts():
    cfg = ICLRegressionData(n=5, d=3, n_ctx=4, test_ctx=9, n_test=6)
    assert icl_regression.sample_run(cfg, 0, 5, "train")["X"].shape == (5, 5, 4)
    assert icl_regression.sample_run(cfg, 0, 6, "test")["X"].shape == (6, 10, 4)


@pytest.mark.parametrize("key,value", [("data.n_ctx", "0"), ("data.psi", "0"), ("data.sigma", "-1"),
                                       ("data.decay", "-1")])
def test_bad_inputs_are_one_line_and_exit_2(key, value, tmp_path):
    res = CliRunner().invoke(app, ["run", "wu2023-icl-tasks", "--set", f"{key}={value}",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert key in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()
