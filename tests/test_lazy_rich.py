"""lazy-rich-phase: the centered model starts at f = 0; the ntk probe's kernel equals per-sample
autograd gradients weighted by the per-group learning rates, and its linearized prediction equals
linearized GD iterated step by step and, as t -> infinity, an explicit kernel-regression solve;
a population equals its single runs; at large alpha the trained net follows the linearized model;
bad inputs name their field."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.config import ConfigError
from featlab.data import REGISTRY as DATA
from featlab.data.teacher_student import TeacherStudentData
from featlab.models import centered
from featlab.models.centered import CenteredMLP
from featlab.probes import PROBES
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import task_of


def _setting(alpha: float = 1.0, steps: int = 20, width: int = 6) -> fl.Setting:
    return fl.Setting(data=TeacherStudentData(n=10, d=3, n_test=7, teacher_width=2, noise=0.1),
                      model=CenteredMLP(depth=3, width=width, activation="tanh", alpha=alpha),
                      optim=fl.OptimConfig(name="gd", lr=0.3),
                      train=fl.TrainConfig(steps=steps, log_points=3, log_schedule="linear",
                                           dtype="float64"))


def _explicit_kernel(s: fl.Setting, p: dict, X: torch.Tensor) -> torch.Tensor:
    """sum_k m_k g_k(x_i) . g_k(x_j) from per-sample autograd (a loop over samples)."""
    mult = centered.lr_multipliers(s.model, "gd", (s.data.d,))
    groups = centered.param_groups(s.model)
    w = {k: v.clone().requires_grad_(k in groups) for k, v in p.items()}
    grads = []
    for x in X:
        f = centered.apply(s.model, w, x[None])[0]
        g = torch.autograd.grad(f, [w[k] for k in groups])
        grads.append([gi.flatten() for gi in g])
    n = len(X)
    K = torch.zeros(n, n, dtype=torch.float64)
    for j, k in enumerate(groups):
        G = torch.stack([grads[i][j] for i in range(n)])
        K += mult[groups[k]] * G @ G.T
    return K


def _ctx(s: fl.Setting, seed: int, step: float):
    """A probe context for one run at initialization (params = W0)."""
    fam = centered.FAMILY
    tr = DATA[s.data.kind].sample_run(s.data, seed, s.data.n, "train", torch.float64)
    te = DATA[s.data.kind].sample_run(s.data, seed, s.data.n_test, "test", torch.float64)
    p = centered.init(s.model, [seed], (s.data.d,), torch.float64)
    data = {"X": tr["X"][None], "y": tr["y"][None], "Xt": te["X"][None], "yt": te["y"][None]}
    return SimpleNamespace(setting=s, family=fam, task=task_of(s.data), params=p, W0=p,
                           groups=fam.param_groups(s.model), data=data,
                           hp={"lr": torch.tensor([s.optim.lr], dtype=torch.float64)}, step=step), tr, te


def test_centered_model_starts_at_zero():
    s = _setting()
    res = train_chunk([RunSpec(s, 0)])
    y = DATA["teacher_student"].sample_run(s.data, 0, s.data.n, "train", torch.float64)["y"]
    first = res.log_values["train_loss"][res.log_step == 0][0]
    assert first == pytest.approx(float((y ** 2).mean()), rel=1e-12)


def test_linearized_prediction_equals_iterated_linear_gd_and_kernel_regression():
    s = _setting(alpha=2.0)
    ctx, tr, te = _ctx(s, 1, 0)
    X_all = torch.cat([tr["X"], te["X"]])
    K_all = _explicit_kernel(s, {k: v[0] for k, v in ctx.W0.items()}, X_all)
    n = s.data.n
    K, Kx = K_all[:n, :n], K_all[n:, :n]
    c = 2 * s.optim.lr / n
    f, ft = torch.zeros(n, dtype=torch.float64), torch.zeros(len(te["X"]), dtype=torch.float64)
    for t in range(1, 41):                         # linearized GD on (1/n) sum (f - y)^2
        r = f - tr["y"]
        f, ft = f - c * K @ r, ft - c * Kx @ r
        if t in (1, 7, 40):
            ctx.step = t
            got = PROBES["ntk"].compute(ctx)
            assert float(got["lin_test_loss"][0]) == pytest.approx(float(((ft - te["y"]) ** 2).mean()),
                                                                   rel=1e-9)
            assert float(got["ntk_distance"][0]) == pytest.approx(0.0, abs=1e-12)   # W = W0
    ctx.step = 1e9                                 # t -> infinity: kernel interpolation
    got = PROBES["ntk"].compute(ctx)
    interp = Kx @ torch.linalg.solve(K, tr["y"])
    assert float(got["lin_test_loss"][0]) == pytest.approx(float(((interp - te["y"]) ** 2).mean()),
                                                           rel=1e-6)


def test_population_equals_single_runs():
    runs = [RunSpec(fl.override(_setting(), {"optim.lr": lr}), seed)
            for lr, seed in ((0.3, 0), (0.1, 1), (0.3, 2))]
    pop = train_chunk(runs)
    for i, r in enumerate(runs):
        one = train_chunk([r])
        for name, v in one.log_values.items():
            np.testing.assert_allclose(pop.log_values[name][pop.log_run == i], v, rtol=1e-10,
                                       atol=1e-12, err_msg=name)


def test_large_alpha_is_lazy_small_alpha_is_not():
    lazy = train_chunk([RunSpec(_setting(alpha=64.0, steps=60, width=16), 0)]).final
    rich = train_chunk([RunSpec(_setting(alpha=1 / 16, steps=60, width=16), 0)]).final
    assert abs(lazy["test_loss"][0] - lazy["lin_test_loss"][0]) < 1e-2 * lazy["lin_test_loss"][0]     # the criterion: 1%
    assert lazy["ntk_distance"][0] < 1e-4 < 1e-2 < rich["ntk_distance"][0]


def test_bad_alpha_names_its_field():
    with pytest.raises(ConfigError, match=r"model\.alpha"):
        fl.override(_setting(), {"model.alpha": 0.0})


def test_cli_bad_alpha_exits_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "featlab", "run", "lazy-rich-phase", "--set",
                          "model.alpha=-1", "--out", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "model.alpha" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
