"""Functional optimizers: per-run learning rates, chain, convergence on a quadratic."""

from __future__ import annotations

import torch

from featlab.config import OptimConfig
from featlab.optim import build, chain, scale_by_lr, tree_select


def test_gd_converges_on_a_quadratic_with_per_run_lr():
    # L_p(w) = 0.5 a_p ||w||^2: run p has curvature a_p and its own lr (factor 1 - lr_p a_p)
    a = torch.tensor([1.0, 4.0, 10.0], dtype=torch.float64)
    lr = torch.tensor([0.5, 0.1, 0.15], dtype=torch.float64)
    opt = build(OptimConfig(name="gd"), {"lr": lr})
    params = {"W": torch.ones(3, 3, dtype=torch.float64)}
    state = opt.init(params)
    for t in range(200):
        grads = {"W": params["W"] * a[:, None]}
        upd, state = opt.update(grads, state, params, t)
        params = {"W": params["W"] + upd["W"]}
    assert params["W"].abs().max() < 1e-6
    # the per-run rate is really per run: one step from ones
    upd, _ = opt.update({"W": torch.ones(3, 3, dtype=torch.float64)}, opt.init(params), params, 0)
    torch.testing.assert_close(upd["W"][:, 0], -lr)


def test_chain_composes_and_state_selects():
    lr = torch.tensor([1.0, 2.0])
    opt = chain(scale_by_lr(lr), scale_by_lr(torch.tensor([3.0, 3.0])))
    g = {"W": torch.ones(2, 4)}
    upd, state = opt.update(g, opt.init(g), g, 0)
    torch.testing.assert_close(upd["W"][:, 0], torch.tensor([3.0, 6.0]))
    sub = tree_select(state, torch.tensor([1]))
    assert sub[0]["lr"].tolist() == [2.0]


def test_mean_field_wd_scaling_keeps_the_decay_step_at_lr_wd_in_every_group():
    """At zero loss gradient the step is pure decay: -lr m_g wd theta under wd_scaling="lr",
    -lr wd theta under "mean_field" (m_g: the parametrization's multiplier); a group_lr
    multiplier scales the whole step in both."""
    import pytest

    from featlab.config import ConfigError
    from featlab.optim import PER_RUN_HPARAMS, build_grouped

    P = 3
    theta = {"a": torch.randn(P, 4, 5, dtype=torch.float64), "b": torch.randn(P, 5, dtype=torch.float64)}
    zero = {k: torch.zeros_like(v) for k, v in theta.items()}
    groups, mults = {"a": "hidden", "b": "input"}, {"hidden": 4.0}
    lr, wd = 0.1, 0.01
    for name in ("gd", "adamw"):
        for scaling, expect_a in (("lr", 4.0), ("mean_field", 1.0)):
            for group_lr, extra_b in (("", 1.0), ("input=0.5", 0.5)):
                cfg = OptimConfig(name=name, lr=lr, weight_decay=wd, wd_scaling=scaling,
                                  group_lr=group_lr)
                hp = {k: torch.full((P,), float(getattr(cfg, k)), dtype=torch.float64)
                      for k in PER_RUN_HPARAMS}
                opt = build_grouped(cfg, hp, groups, mults)
                up, _ = opt.update(zero, opt.init(theta), theta, 0)
                torch.testing.assert_close(up["a"], -lr * expect_a * wd * theta["a"])
                torch.testing.assert_close(up["b"], -lr * extra_b * wd * theta["b"])
    with pytest.raises(ConfigError, match="optim.wd_scaling"):
        OptimConfig(wd_scaling="width")
