"""Training strategies (label noise, mixup, SAM): each equals a plain autograd reference step for
step, its randomness has the stated law, and a population equals its single runs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

import featlab as fl
from featlab.models.cnn import loss_and_grad, loss_autograd
from featlab.rng import hash_beta, hash_uniform
from featlab.train.objective import Strategy, step_gradient
from featlab.train.population import RunSpec, _batch_weight, _setup, train_chunk
from tests.conftest import small_setting
from tests.test_population import _assert_same, _mixed_runs


def _chunk(setting: fl.Setting, seeds=(0, 1, 2)):
    c, _ = _setup([RunSpec(setting, s) for s in seeds], "cpu", span=False)
    return c, _batch_weight(c, setting, 0)


def _autograd_grad(cfg, params, X, y, weight, soft=False):
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    if soft:
        from featlab.models.cnn import output_from_preacts, preacts
        f = output_from_preacts(cfg, preacts(p, X))
        sp = torch.nn.functional.softplus
        loss = (weight * (0.5 * (1 + y) * sp(-f) + 0.5 * (1 - y) * sp(f))).sum(1)
    else:
        loss = loss_autograd(cfg, p, X, y, weight)
    loss.sum().backward()
    return {k: v.grad for k, v in p.items()}


def test_soft_labels_equal_the_mixup_loss_and_autograd():
    s = small_setting()
    c, w = _chunk(s)
    gen = torch.Generator().manual_seed(3)
    lam = torch.rand(c.batch.y.shape, generator=gen, dtype=torch.float64)
    y2 = -c.batch.y
    soft = lam * c.batch.y + (1 - lam) * y2
    loss, _, g = loss_and_grad(s.model, c.params, c.batch.X, soft, w, soft=True)
    l1, f, _ = loss_and_grad(s.model, c.params, c.batch.X, c.batch.y, w * lam, False)
    l2, _, _ = loss_and_grad(s.model, c.params, c.batch.X, y2, w * (1 - lam), False)
    torch.testing.assert_close(loss, l1 + l2, rtol=1e-10, atol=1e-12)
    ref = _autograd_grad(s.model, c.params, c.batch.X, soft, w, soft=True)
    torch.testing.assert_close(g["W"], ref["W"], rtol=1e-8, atol=1e-12)
    hard, _, gh = loss_and_grad(s.model, c.params, c.batch.X, c.batch.y, w, soft=True)
    hard0, _, gh0 = loss_and_grad(s.model, c.params, c.batch.X, c.batch.y, w)
    torch.testing.assert_close(hard, hard0)
    torch.testing.assert_close(gh["W"], gh0["W"])


def test_label_noise_flips_each_label_with_probability_p_at_every_step():
    s = small_setting(data__n=400, optim__label_noise=0.2)
    c, w = _chunk(s)
    flips = []
    for t in range(30):
        u = hash_uniform(c.hp["key_ln"], t, (400,))
        flips.append((u < 0.2).double())
    flips = torch.stack(flips)                                             # (T, P, n)
    rate = flips.mean().item()
    assert abs(rate - 0.2) < 4 * np.sqrt(0.2 * 0.8 / flips.numel())
    assert (flips[0] != flips[1]).any(), "fresh flips every step"
    # the step objective uses exactly these labels: compare with the autograd reference
    loss, _, g = step_gradient(s.model, Strategy(label_noise=True), c.params, c.batch, w, c.hp, 7)
    y7 = torch.where(hash_uniform(c.hp["key_ln"], 7, (400,)) < 0.2, -c.batch.y, c.batch.y)
    ref = _autograd_grad(s.model, c.params, c.batch.X, y7, w)
    torch.testing.assert_close(g["W"], ref["W"], rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(loss, loss_autograd(s.model, c.params, c.batch.X, y7, w))


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_hash_beta_has_the_beta_law(alpha):
    keys = torch.tensor([11, 12], dtype=torch.int64)
    draws = hash_beta(keys, 3, (4000,), torch.full((2,), alpha)).flatten().numpy()
    assert scipy.stats.kstest(draws, scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_mixup_step_equals_manual_mixing():
    s = small_setting(data__n=8, optim__mixup_alpha=0.4)
    c, w = _chunk(s)
    t = 5
    loss, _, g = step_gradient(s.model, Strategy(mixup=True), c.params, c.batch, w, c.hp, t)
    n = c.batch.y.shape[1]
    lam = hash_beta(c.hp["key_mix"], t, (n,), c.hp["mixup_alpha"])
    perm = torch.argsort(hash_uniform(c.hp["key_mix"], t, (n,)), dim=1)
    for p in range(len(c.ids)):                                            # one run at a time
        X, y, pi, lp = c.batch.X[p], c.batch.y[p], perm[p], lam[p]
        assert sorted(pi.tolist()) == list(range(n))
        Xm = lp[:, None, None] * X + (1 - lp[:, None, None]) * X[pi]
        params = {k: v[p:p + 1] for k, v in c.params.items()}
        l1 = loss_autograd(s.model, params, Xm[None], y[None], (w[p] * lp)[None])
        l2 = loss_autograd(s.model, params, Xm[None], y[pi][None], (w[p] * (1 - lp))[None])
        torch.testing.assert_close(loss[p], (l1 + l2)[0], rtol=1e-10, atol=1e-12)
    fixed = fl.override(s, {"optim.mixup_lambda": 1.0})                   # lambda = 1: no mixing
    c2, _ = _chunk(fixed)
    l_fixed, _, g_fixed = step_gradient(s.model, Strategy(mixup=True), c2.params, c2.batch, w, c2.hp, t)
    l_plain, _, g_plain = loss_and_grad(s.model, c2.params, c2.batch.X, c2.batch.y, w)
    torch.testing.assert_close(g_fixed["W"], g_plain["W"])


def test_sam_gradient_is_taken_at_the_ascent_point_and_switches_off():
    s = small_setting(optim__sam_rho=0.05, optim__sam_steps=3)
    c, w = _chunk(s)
    _, _, g = step_gradient(s.model, Strategy(sam=True), c.params, c.batch, w, c.hp, 0)
    g0 = _autograd_grad(s.model, c.params, c.batch.X, c.batch.y, w)
    norm = g0["W"].flatten(1).norm(dim=1)
    ascent = {"W": c.params["W"] + 0.05 * g0["W"] / norm[:, None, None], "b": c.params["b"]}
    ref = _autograd_grad(s.model, ascent, c.batch.X, c.batch.y, w)
    torch.testing.assert_close(g["W"], ref["W"], rtol=1e-8, atol=1e-12)
    assert (g["W"] - g0["W"]).abs().max() > 1e-6, "SAM must differ from the plain gradient"
    _, _, late = step_gradient(s.model, Strategy(sam=True), c.params, c.batch, w, c.hp, 3)
    torch.testing.assert_close(late["W"], g0["W"], rtol=1e-10, atol=1e-14)


def test_sam_training_matches_a_manual_sam_loop():
    """Five steps of SAM + GD from the trainer equal a plain autograd SAM loop (train loss)."""
    s = small_setting(optim__sam_rho=0.1, train__steps=5, train__log_points=1)
    res = train_chunk([RunSpec(s, 0)])
    c, w = _chunk(s, seeds=(0,))
    params = {k: v.clone() for k, v in c.params.items()}
    for _ in range(5):
        g = _autograd_grad(s.model, params, c.batch.X, c.batch.y, w)["W"]
        ascent = {"W": params["W"] + 0.1 * g / g.flatten(1).norm(dim=1)[:, None, None], "b": params["b"]}
        params["W"] = params["W"] - s.optim.lr * _autograd_grad(s.model, ascent, c.batch.X, c.batch.y, w)["W"]
    loss = loss_autograd(s.model, params, c.batch.X, c.batch.y, w)
    np.testing.assert_allclose(res.final["train_loss"][0], loss.item(), rtol=1e-8)


def test_population_equals_single_runs_with_strategies():
    """Runs with different label-noise rates, SAM radii/switches and mixup alphas in one chunk."""
    base = small_setting(optim__name="momentum")
    extra = [{"optim.label_noise": 0.1}, {"optim.sam_rho": 0.05}, {"optim.mixup_alpha": 0.5},
             {"optim.sam_rho": 0.2, "optim.sam_steps": 4}, {"optim.mixup_lambda": 0.7},
             {"optim.label_noise": 0.3, "optim.mixup_alpha": 2.0}]
    runs = [RunSpec(fl.override(r.setting, e), r.seed) for r, e in zip(_mixed_runs(base), extra)]
    _assert_same(train_chunk(runs), [train_chunk([r]) for r in runs])


def test_strategy_inputs_are_validated():
    for key, bad in [("optim.label_noise", 0.5), ("optim.sam_rho", -1.0), ("optim.sam_steps", -2),
                     ("optim.mixup_alpha", float("nan")), ("optim.mixup_lambda", 1.5)]:
        with pytest.raises(fl.ConfigError, match=key.split(".")[1]):
            fl.override(fl.Setting(), {key: bad})


def test_bench_times_every_optimizer():
    from featlab.bench import OPTIMIZERS, optimizer_throughput

    rows = optimizer_throughput("cpu", d=40, n=6, m=2, steps=2)
    assert [r["optimizer"] for r in rows] == [o[0] for o in OPTIMIZERS]
    assert all(r["step_ms"] > 0 and np.isfinite(r["cost_vs_gd"]) for r in rows)
