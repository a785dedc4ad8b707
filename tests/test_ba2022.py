"""ba2022-one-step: the kernel lower bound equals its closed forms and Monte Carlo; the one-step +
ridge pipeline (MLP in muP at base width 1, one GD step with the readout frozen, the
readout_ridge probe) equals an independent implementation of Ba et al.'s procedure written from
the paper's formulas; a population equals its single runs; bad inputs name their field."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.config import MLP, ConfigError
from featlab.data.single_index import SingleIndexData, direction, sample_run
from featlab.experiments.ba2022_one_step import lr_of
from featlab.models import mlp
from featlab.theory.one_step import CLOSED_FORMS, kernel_lower_bound
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk


@pytest.mark.parametrize("teacher", ["erf", "relu", "linear"])
def test_kernel_bound_equals_closed_form(teacher):
    assert kernel_lower_bound(teacher) == pytest.approx(CLOSED_FORMS[teacher], abs=1e-10)


@pytest.mark.parametrize("teacher", ["tanh", "erf"])
def test_kernel_bound_equals_monte_carlo(teacher):
    g = torch.Generator().manual_seed(5)
    z = torch.randn(2_000_000, generator=g, dtype=torch.float64)
    s = {"tanh": torch.tanh, "erf": torch.erf}[teacher](z)
    # residual of the best affine fit in z: its variance is ||P_{>1} sigma*||^2
    r = s - s.mean() - (z * s).mean() * z
    est, se = float(r.pow(2).mean()), float(r.pow(2).std() / math.sqrt(len(z)))
    assert abs(est - kernel_lower_bound(teacher)) < 4 * se + 1e-6


def _setting(eta: float, N: int = 48, d: int = 12, n: int = 60) -> fl.Setting:
    return fl.Setting(data=SingleIndexData(n=n, d=d, n_test=300, noise=0.1),
                      model=MLP(depth=2, width=N, activation="erf", parametrization="mup", base_width=1),
                      optim=fl.OptimConfig(name="gd", lr=lr_of(eta, N), group_lr="output=0"),
                      train=fl.TrainConfig(steps=1, log_points=2, log_schedule="linear",
                                           dtype="float64", readout_ridge=1e-2))


def _paper_procedure(s: fl.Setting, seed: int, eta: float) -> dict[int, tuple[float, float]]:
    """Ba et al.'s procedure from their formulas: f(x) = (1/sqrt N) a^T erf(W x), one step
    W_1 = W_0 + eta sqrt(N) G_0 with G_0 = -grad_W (1/2n) sum (y - f)^2, then ridge on a fresh
    sample with penalty (lambda/N) ||a||^2 on the features erf(X W^T)/sqrt(N). Returns, before
    (step 0) and after the step, (test risk, excess risk vs the noiseless target)."""
    N, d, lam = s.model.width, s.data.d, s.train.readout_ridge
    p = mlp.init(s.model, [seed], (d,), torch.float64, 1)
    W0 = p["W0"][0].clone().requires_grad_(True)                            # (N, d)
    a = p["W1"][0, 0] * math.sqrt(N)                                        # f = a^T erf(Wx)/sqrt N
    tr = sample_run(s.data, seed, s.data.n, "train", torch.float64)
    fr = sample_run(s.data, seed, s.data.n, "ridge", torch.float64)
    te = sample_run(s.data, seed, s.data.n_test, "test", torch.float64)
    f = torch.erf(tr["X"] @ W0.T) @ a / math.sqrt(N)
    loss = 0.5 * ((tr["y"] - f) ** 2).mean()
    (g,) = torch.autograd.grad(loss, W0)
    out = {}
    for step, W in ((0, W0.detach()), (1, W0.detach() - eta * math.sqrt(N) * g)):
        Phi = (torch.erf(fr["X"] @ W.T) / math.sqrt(N)).numpy()             # (n, N)
        n = len(Phi)
        A = Phi.T @ Phi / n + (lam / N) * np.eye(N)
        a_hat = np.linalg.solve(A, Phi.T @ fr["y"].numpy() / n)
        pred = (torch.erf(te["X"] @ W.T) / math.sqrt(N)).numpy() @ a_hat
        out[step] = (float(np.mean((te["y"].numpy() - pred) ** 2)),
                     float(np.mean((te["f_star"].numpy() - pred) ** 2)))
    return out


@pytest.mark.parametrize("eta,N,n", [(1.0, 48, 60), (48 ** 0.5, 48, 60), (48 ** 0.5, 24, 60),
                                     (48 ** 0.5, 48, 30)])             # last: n < N, dual form
def test_one_step_pipeline_equals_the_paper_procedure(eta, N, n):
    s = _setting(eta, N=N, n=n)
    res = train_chunk([RunSpec(s, 3)])
    ref = _paper_procedure(s, 3, eta)
    for step in (0, 1):
        row = res.log_step == step
        assert res.log_values["ridge_risk"][row][0] == pytest.approx(ref[step][0], rel=1e-8)
        assert res.log_values["ridge_excess"][row][0] == pytest.approx(ref[step][1], rel=1e-8)
    if eta > 1:                                   # the large step changes the readout's risk
        assert ref[1][1] < 0.9 * ref[0][1]


def test_population_equals_single_runs():
    runs = [RunSpec(_setting(eta), seed) for eta, seed in ((1.0, 0), (7.0, 1), (7.0, 2))]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        for name, v in one.log_values.items():
            np.testing.assert_allclose(pop.log_values[name][pop.log_run == i], v, rtol=1e-10,
                                       atol=1e-12, err_msg=name)


def test_single_index_data():
    cfg = SingleIndexData(n=5, d=7)
    assert float(direction(cfg, 0).norm()) == pytest.approx(1.0)
    a, b = sample_run(cfg, 0, 5, "train"), sample_run(cfg, 0, 5, "ridge")
    assert not torch.equal(a["X"], b["X"])                                  # a fresh sample
    torch.testing.assert_close(a["f_star"], torch.erf(a["X"].double() @ direction(cfg, 0)).float())


@pytest.mark.parametrize("changes,field", [
    ({"train.readout_ridge": -1.0}, "train.readout_ridge"),
    ({"data.teacher": "gelu"}, "data.teacher"),
])
def test_bad_inputs_name_their_field(changes, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        fl.override(_setting(1.0), changes)


def test_ridge_readout_refused_on_the_cnn():
    with pytest.raises(ConfigError, match=r"train\.readout_ridge"):
        fl.override(fl.Setting(), {"train.readout_ridge": 0.1})


def test_cli_bad_ridge_exits_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "featlab", "run", "ba2022-one-step", "--set",
                          "train.readout_ridge=-2", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "train.readout_ridge" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
