"""Attention with trained embeddings (Wu, Shevchenko, Oymak, Mondelli 2025) on the generic engine:
a population equals its single runs and an independent nn.Module + torch.optim two-stage reference
(float64), the vmapped gradient equals autograd of that module, the one GD step on E equals its
closed form, the signed frequencies equal Monte Carlo within s.e., the max-margin selector equals
an independent QP solution, and bad inputs are one line with exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.config import MLP, ConfigError
from featlab.data import vocab_tokens
from featlab.data.tokens import TokenSelectionData
from featlab.data.vocab_tokens import VocabTokenData, signed_frequency
from featlab.diagnostics.embedding_selection import max_margin_selector
from featlab.models import embedding_attention, family_of
from featlab.models.embedding_attention import EmbeddingAttention
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import task_of
from featlab.train.vmapped import vmap_loss_and_grad


def _setting(**kw) -> fl.Setting:
    s = fl.Setting(data=VocabTokenData(n=40, n_test=30, V=10, T=4, K=2, lean=0.3),
                   model=EmbeddingAttention(d=12, sigma0=0.3, v_norm=1.0, embed_steps=2),
                   optim=fl.OptimConfig(name="gd", lr=2.0, group_lr="cls=3"),
                   train=fl.TrainConfig(steps=8, log_points=4, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


class _Reference(torch.nn.Module):
    """Independent one-run model on token ids: f = sum_t softmax(E[ids] p)_t <E[ids_t], v>."""

    def __init__(self, E: torch.Tensor, p: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding.from_pretrained(E.clone(), freeze=False)
        self.p = torch.nn.Parameter(p.clone())
        self.register_buffer("v", v.clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:                  # ids (n, T)
        EX = self.emb(ids)                                                  # (n, T, d)
        s = torch.softmax(torch.einsum("ntd,d->nt", EX, self.p), dim=1)
        return (s * torch.einsum("ntd,d->nt", EX, self.v)).sum(1)


def _data(s: fl.Setting, seed: int) -> dict[str, torch.Tensor]:
    return vocab_tokens.sample_run(s.data, seed, s.data.n, "train", torch.float64)


def _init(s: fl.Setting, seed: int) -> dict[str, torch.Tensor]:
    return {k: v[0] for k, v in embedding_attention.init(s.model, [seed], s.data.input_shape,
                                                          torch.float64).items()}


def _reference_losses(s: fl.Setting, seed: int) -> dict[int, float]:
    """Two-stage GD with torch.optim: E (lr) for the first embed_steps steps, p (3 lr) always."""
    data, p0 = _data(s, seed), _init(s, seed)
    net = _Reference(p0["E"], p0["p"], p0["v"])
    opt_E = torch.optim.SGD([net.emb.weight], lr=s.optim.lr)
    opt_p = torch.optim.SGD([net.p], lr=3 * s.optim.lr)
    losses = {}
    for t in range(s.train.steps + 1):
        opt_E.zero_grad()
        opt_p.zero_grad()
        loss = torch.nn.functional.softplus(-data["y"] * net(data["ids"])).mean()
        losses[t] = float(loss.detach())
        if t < s.train.steps:
            loss.backward()
            opt_p.step()
            if t < s.model.embed_steps:
                opt_E.step()
    return losses


def test_population_equals_single_runs_and_module_reference():
    s = _setting()
    runs = [RunSpec(fl.override(s, {"model.sigma0": 0.2 + 0.1 * i, "model.v_norm": 1.0 + 0.5 * i,
                                    "data.shuffle_labels": i == 2}), i) for i in range(3)]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        rows = pop.log_run == i
        for name in one.log_values:
            np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name],
                                       rtol=1e-10, atol=1e-12, err_msg=name)
        ref = _reference_losses(r.setting, r.seed)
        steps = pop.log_step[rows]
        np.testing.assert_allclose(pop.log_values["train_loss"][rows], [ref[int(t)] for t in steps],
                                   rtol=1e-10, atol=1e-12)
        assert ref[s.train.steps] < ref[0]                                   # it learned


def test_vmapped_gradient_equals_module_autograd():
    s = _setting()
    params = embedding_attention.init(s.model, [0, 1], s.data.input_shape, torch.float64)
    params["p"] = torch.randn(params["p"].shape, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(3))   # non-uniform attention
    d0, d1 = _data(s, 0), _data(s, 1)
    X, y = torch.stack([d0["X"], d1["X"]]), torch.stack([d0["y"], d1["y"]])
    w = torch.full(y.shape, 1.0 / s.data.n, dtype=torch.float64)
    fn = vmap_loss_and_grad(family_of(s.model), s.model, task_of(s.data, s.model))
    loss, f, g = fn(s.model, params, X, y, w)
    assert set(g) == {"E", "p"}                                              # v is not trained
    for i, d in enumerate((d0, d1)):
        net = _Reference(params["E"][i], params["p"][i], params["v"][i])
        ref = torch.nn.functional.softplus(-d["y"] * net(d["ids"])).mean()
        ref.backward()
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(g["E"][i], net.emb.weight.grad, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(g["p"][i], net.p.grad, rtol=1e-10, atol=1e-14)


def test_one_step_on_E_equals_its_closed_form():
    """At p = 0: E^1_s - E^0_s = (eta/(nT)) sum_i y_i sigma(-y_i f^0_i) n_s(X_i) v (every embedding
    moves along v), and for a vanishing init the alignment is (eta ||v||^2/2) hat-alpha_s."""
    s = _setting(**{"model.sigma0": 0.5, "model.v_norm": 1.5})
    data, p0 = _data(s, 0), _init(s, 0)
    params = {k: v[None] for k, v in p0.items()}
    fn = vmap_loss_and_grad(family_of(s.model), s.model, task_of(s.data, s.model))
    w = torch.full((1, s.data.n), 1.0 / s.data.n, dtype=torch.float64)
    _, f0, g = fn(s.model, params, data["X"][None], data["y"][None], w)
    eta, n, T = s.optim.lr, s.data.n, s.data.T
    counts = torch.nn.functional.one_hot(data["ids"], s.data.V).sum(1).to(torch.float64)  # (n, V)
    coef = (data["y"] * torch.sigmoid(-data["y"] * f0[0])) @ counts / (n * T)         # (V,)
    torch.testing.assert_close(-eta * g["E"][0], eta * coef[:, None] * p0["v"][None, :],
                               rtol=1e-10, atol=1e-13)
    alpha_hat = data["y"] @ counts / (n * T)
    assert not torch.allclose(coef, alpha_hat / 2)                       # sigma(-y f0) != 1/2 here
    tiny = _setting(**{"model.sigma0": 1e-6})
    p1 = {k: v[None] for k, v in _init(tiny, 0).items()}
    _, _, g1 = fn(tiny.model, p1, data["X"][None], data["y"][None], w)
    align = -tiny.optim.lr * g1["E"][0] @ p1["v"][0]                      # (V,)
    torch.testing.assert_close(align, tiny.optim.lr / 2 * alpha_hat, rtol=1e-5, atol=1e-9)


def test_signed_frequency_equals_monte_carlo():
    cfg = VocabTokenData(n=20000, n_test=10, V=12, T=5, K=3, lean=0.4)
    data = vocab_tokens.sample_run(cfg, 7, cfg.n, "train", torch.float64)
    assert data["X"].shape == (cfg.n, 5, 12) and torch.equal(data["X"].argmax(-1), data["ids"])
    imp = vocab_tokens.important(cfg, data["ids"])
    assert (imp.sum(1) == 1).all()                                     # one important token each
    pos = data["y"] > 0
    assert (data["ids"][pos][imp[pos]] < 3).all() and (data["ids"][~pos][imp[~pos]] >= 3).all()
    terms = data["y"][:, None] * torch.nn.functional.one_hot(data["ids"], 12).sum(1) / cfg.T  # (n, V)
    mc, se = terms.mean(0), terms.std(0) / cfg.n ** 0.5
    alpha = signed_frequency(cfg)
    assert ((mc - alpha).abs() <= 4 * se + 1e-12).all(), (mc, alpha, se)
    assert alpha[:3].gt(0).all() and alpha[3:6].lt(0).all() and alpha[:3].sum() == pytest.approx(0.1)
    shuffled = vocab_tokens.sample_run(VocabTokenData(n=200, V=12, T=5, K=3, shuffle_labels=True),
                                       7, 200, "train", torch.float64)
    assert shuffled["y"].sum() == 0 and not torch.equal(shuffled["y"], data["y"][:200])


def test_max_margin_selector_equals_an_independent_qp():
    from scipy.optimize import minimize

    g = torch.Generator().manual_seed(0)
    V, d, n, T = 8, 10, 30, 4
    E = torch.randn(V, d, generator=g, dtype=torch.float64)
    ids = torch.stack([torch.randperm(V, generator=g)[:T] for _ in range(n)])       # (n, T)
    sel = torch.where(ids < 2, ids, -1).amax(1)
    keep = sel >= 0
    ids, sel = ids[keep], sel[keep]
    pm = max_margin_selector(E, ids, sel).numpy()
    G = np.array([(E[s] - E[t]).numpy() for s, row in zip(sel.tolist(), ids.tolist())
                  for t in row if t != s])
    qp = minimize(lambda x: x @ x, np.zeros(d), jac=lambda x: 2 * x, method="SLSQP",
                  constraints=[{"type": "ineq", "fun": lambda x: G @ x - 1, "jac": lambda x: G}],
                  options={"ftol": 1e-14, "maxiter": 500})
    assert qp.success
    np.testing.assert_allclose(pm, qp.x, rtol=1e-5, atol=1e-7)
    assert (G @ pm).min() == pytest.approx(1.0, abs=1e-9)
    infeasible = max_margin_selector(E[:2], torch.tensor([[0, 1], [1, 0]]), torch.tensor([0, 1]))
    assert torch.isnan(infeasible).all()                               # 0 over 1 and 1 over 0


def test_embeddings_stay_fixed_after_embed_steps():
    s = _setting(**{"train.steps": 5})
    p0 = _init(s, 0)
    res = train_chunk([RunSpec(s, 0)])
    assert res.final["weight_movement_embedding"][0] > 0
    frozen = train_chunk([RunSpec(fl.override(s, {"model.embed_steps": 0}), 0)])
    assert frozen.final["weight_movement_embedding"][0] == 0
    assert float(p0["p"].abs().max()) == 0.0


@pytest.mark.parametrize("key,value,word", [
    ("data.V", "5", "data.V"),                  # a vocabulary smaller than the sequence (T = 6)
    ("data.T", "1", "data.T"), ("data.lean", "1", "data.lean"), ("data.K", "12", "data.V"),
    ("model.d", "1", "model.d"), ("model.embed_steps", "-1", "model.embed_steps"),
])
def test_bad_inputs_are_one_line_and_exit_2(key, value, word, tmp_path):
    res = CliRunner().invoke(app, ["run", "wu2025-trained-embeddings", "--set", f"{key}={value}",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()


def test_the_model_needs_vocabulary_tokens():
    with pytest.raises(ConfigError, match="data.kind"):
        train_chunk([RunSpec(fl.Setting(data=TokenSelectionData(n=4, d=6, T=3, n_test=4),
                                        model=EmbeddingAttention(d=4)), 0)])
    with pytest.raises(ConfigError, match="model.kind"):
        fl.Setting(data=VocabTokenData(), model=MLP())
