"""One-layer softmax attention with average pooling (Jiang et al. 2024) on the generic engine: a
population equals its single runs and an independent nn.Module + torch.optim reference
(float64), the vmapped gradient equals autograd of that module, the attention probes read its
query-averaged softmax, and bad model inputs name their field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.config import ConfigError
from featlab.data import tokens
from featlab.data.tokens import TokenSelectionData
from featlab.models import family_of, softmax_attention
from featlab.models.softmax_attention import SoftmaxAttention
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import task_of
from featlab.train.vmapped import vmap_loss_and_grad


class _Reference(torch.nn.Module):
    """Independent one-run model built from nn.functional.scaled_dot_product_attention (scale 1)."""

    def __init__(self, p: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.W = torch.nn.ParameterDict({k: torch.nn.Parameter(v.clone()) for k, v in p.items()})

    def forward(self, X: torch.Tensor) -> torch.Tensor:                     # X (n, T, d)
        q, k, v = X @ self.W["W_Q"], X @ self.W["W_K"], X @ self.W["W_V"]
        h = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)   # (n, T, d_v)
        return (h @ self.W["w_O"]).mean(1)


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=TokenSelectionData(n=10, d=6, T=4, mu_norm=3.0, rho=0.0, flips=2, n_test=12),
                   model=SoftmaxAttention(width_qk=5, width_v=3, sigma_0=0.3),
                   optim=fl.OptimConfig(name="gd", lr=0.3),
                   train=fl.TrainConfig(steps=8, log_points=3, log_schedule="linear", dtype="float64"))
    return fl.override(s, kw) if kw else s


def _p0(s, seed):
    return {k: v[0] for k, v in softmax_attention.init(s.model, [seed], s.data.input_shape,
                                                        torch.float64).items()}


@pytest.mark.parametrize("changes", [{}, {"optim.name": "adam", "optim.lr": 0.05}])
def test_population_equals_single_runs_and_module_reference(changes):
    s = _setting(**changes)
    runs = [RunSpec(fl.override(s, {"model.sigma_0": 0.2 + 0.1 * i}), i) for i in range(3)]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        rows = pop.log_run == i
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name],
                                       rtol=1e-12, atol=1e-14, err_msg=name)
        data = tokens.sample_run(r.setting.data, r.seed, s.data.n, "train", torch.float64)
        net = _Reference(_p0(r.setting, r.seed))
        opt = (torch.optim.Adam(net.parameters(), lr=s.optim.lr) if s.optim.name == "adam"
               else torch.optim.SGD(net.parameters(), lr=s.optim.lr))
        ref = {}
        for t in range(s.train.steps + 1):
            opt.zero_grad()
            loss = torch.nn.functional.softplus(-data["y"] * net(data["X"])).mean()
            ref[t] = float(loss.detach())
            loss.backward()
            opt.step()
        np.testing.assert_allclose(pop.log_values["train_loss"][rows],
                                   [ref[int(t)] for t in pop.log_step[rows]], rtol=1e-10)
        assert ref[s.train.steps] < ref[0]


def test_vmapped_gradient_equals_module_autograd():
    s = _setting()
    params = softmax_attention.init(s.model, [0, 1], s.data.input_shape, torch.float64)
    data = [tokens.sample_run(s.data, k, s.data.n, "train", torch.float64) for k in (0, 1)]
    X, y = torch.stack([d["X"] for d in data]), torch.stack([d["y"] for d in data])
    w = torch.full(y.shape, 1.0 / s.data.n, dtype=torch.float64)
    loss, _, g = vmap_loss_and_grad(family_of(s.model), s.model, task_of(s.data))(
        s.model, params, X, y, w)
    for i in range(2):
        net = _Reference({k: v[i] for k, v in params.items()})
        ref = torch.nn.functional.softplus(-y[i] * net(X[i])).mean()
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=1e-14)
        for k in params:
            torch.testing.assert_close(g[k][i], net.W[k].grad, rtol=1e-10, atol=1e-14)


def test_attention_probes_read_the_query_averaged_softmax():
    res = train_chunk([RunSpec(_setting(), 0)])
    assert "attn_relevant_clean" in res.final and "weight_movement_W_Q" in res.final
    ent = res.log_values["attn_entropy"]
    assert np.all(ent >= 0) and np.all(ent <= np.log(4) + 1e-12)


@pytest.mark.parametrize("key,value", [("model.width_qk", -1), ("model.sigma_0", -0.1),
                                       ("model.width_v", 1.5)])
def test_bad_model_inputs_name_their_field(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        fl.override(_setting(), {key: value})
