"""The neural-collapse experiment: the probe equals nc_metrics of an explicit forward pass, NC1
falls >= 10x after zero training error on a tiny mean-field MSE setting and not with frozen
features, the one-hot MSE task, t_0, and bad inputs (one line, exit 2)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import featlab as fl
from featlab.config import MLP, ConfigError, to_dict
from featlab.data.gaussian_mixture import GaussianMixtureData, sample_run
from featlab.diagnostics.neural_collapse import NC_NAMES, nc_metrics
from featlab.experiments.neural_collapse import per_run, zero_error_step
from featlab.models import family_of
from featlab.probes import PROBES
from featlab.train.engine import RunSpec
from featlab.train.generic import train_chunk
from featlab.train.tasks import TASKS, task_of


def _tiny(steps: int, **optim) -> fl.Setting:
    return fl.Setting(
        data=GaussianMixtureData(n=40, d=32, n_test=16, n_classes=3, mu_norm=3.0, loss="mse"),
        model=MLP(depth=3, width=32, activation="relu", parametrization="mf", base_width=32),
        optim=fl.OptimConfig(name="gd", **{"lr": 0.2, "weight_decay": 2e-2, **optim}),
        train=fl.TrainConfig(steps=steps, log_points=12))


def _traj(out) -> pd.DataFrame:
    """The per-step frame per_run reads, from a ChunkResult of width-32 runs (run index = seed)."""
    frame = pd.DataFrame({"run": out.log_run, "step": out.log_step,
                          **{k: out.log_values[k] for k in ("train_error", "test_error", *NC_NAMES)}})
    frame["width"] = 32
    frame["seed"] = frame["run"]
    frame["status"] = "done"
    return frame


@pytest.mark.parametrize("parametrization,width", [("sp", 24), ("mf", 48)])
def test_probe_equals_nc_metrics_of_an_explicit_forward_pass(parametrization, width):
    """The probe's NC values per run == nc_metrics of h^2 = relu(m_2 W^2 relu(m_1 W^1 x)) and
    f = m_3 W^3 h^2 written out by hand (m_l = w^{-a_l} of the abc row; 1 for sp)."""
    s = fl.Setting(data=GaussianMixtureData(n=30, d=6, n_classes=4, mu_norm=2.0, loss="mse"),
                   model=MLP(depth=3, width=width, parametrization=parametrization, base_width=24))
    fam, C = family_of(s.model), 4
    params = fam.init(s.model, [0, 1], (6,), torch.float64, C)            # (P=2, ...)
    runs = [sample_run(s.data, seed, 30, "train", torch.float64) for seed in (0, 1)]
    X, y = torch.stack([r["X"] for r in runs]), torch.stack([r["y"] for r in runs])
    w = width / 24
    m = [1.0, 1.0, 1.0] if parametrization == "sp" else [1.0, w ** -0.5, w ** -1.0]
    f = torch.stack([fam.apply(s.model, {k: v[i] for k, v in params.items()}, X[i]) for i in (0, 1)])
    ctx = SimpleNamespace(setting=s, family=fam, task=task_of(s.data), params=params, data={"X": X, "y": y},
                          groups=fam.param_groups(s.model), f=f)
    got = PROBES["neural_collapse"].compute(ctx)
    for i in (0, 1):
        h1 = torch.relu(m[0] * X[i] @ params["W0"][i].T)
        h2 = torch.relu(m[1] * h1 @ params["W1"][i].T)
        logits = m[2] * h2 @ params["W2"][i].T
        assert torch.allclose(logits, f[i])
        ref = nc_metrics(h2, y[i], params["W2"][i], logits, C)
        for k in NC_NAMES:
            assert torch.allclose(got[k][i], ref[k], rtol=1e-10, atol=1e-12), (k, i)
    assert float(got["nc1"].min()) > 0.05                          # random features: no collapse


def test_nc1_falls_tenfold_after_zero_training_error():
    """Mean-field MLP, one-hot MSE + weight decay: each seed reaches zero training error early and
    NC1 then falls by >= 10x (measured 78-163x on seeds 0-2), NC4 ends at 0."""
    out = train_chunk([RunSpec(_tiny(400), seed) for seed in (0, 1)])
    runs = per_run(_traj(out))
    assert (runs["t0"] < runs["T"]).all(), runs
    assert (runs["nc1_fall"] >= 10).all(), runs[["t0", "nc1_t0", "nc1_T", "nc1_fall"]]
    assert (runs["nc4_T"] == 0).all() and (runs["nc3_T"] < runs["nc3_t0"]).all()


def test_frozen_features_do_not_collapse():
    """Only the readout trains: the features and so NC1, NC2 of the class means never move."""
    out = train_chunk([RunSpec(_tiny(60, group_lr="input=0,hidden=0"), 0)])
    nc1 = out.log_values["nc1"]
    assert nc1[0] > 0.05 and np.allclose(nc1, nc1[0], rtol=1e-5)
    assert np.allclose(out.log_values["nc2_equiangular"], out.log_values["nc2_equiangular"][0], rtol=1e-5)


def test_zero_error_step_is_the_step_from_which_the_error_stays_zero():
    steps = np.array([0, 1, 3, 10, 30])
    assert zero_error_step(steps, [0.5, 0.0, 0.1, 0.0, 0.0]) == 10
    assert zero_error_step(steps, [0.0] * 5) == 0
    assert math.isnan(zero_error_step(steps, [0.5, 0.2, 0.1, 0.0, 0.1]))


def test_onehot_mse_task():
    f = torch.tensor([[0.2, 0.9, -0.1], [1.5, 0.0, 0.3]])
    y = torch.tensor([1.0, 0.0])
    task = TASKS["multiclass_mse"]
    want = torch.tensor([0.2 ** 2 + 0.1 ** 2 + 0.1 ** 2, 0.5 ** 2 + 0.3 ** 2])
    assert torch.allclose(task.loss(f, y, False), want)
    assert torch.allclose(task.loss(f, torch.nn.functional.one_hot(y.long(), 3).float(), True), want)
    assert task.error(f, y).tolist() == [0.0, 0.0] and task.out_dim(GaussianMixtureData()) == 3
    assert task_of(GaussianMixtureData(loss="mse")).name == "multiclass_mse"
    assert task_of(GaussianMixtureData()).name == "multiclass"
    assert "loss" not in to_dict(GaussianMixtureData())              # old sweep ids unchanged
    with pytest.raises(ConfigError, match="data.loss"):
        GaussianMixtureData(loss="hinge")


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from featlab.cli import app

    runner = CliRunner()
    for args, word in ((["--set", "data.n_classes=1"], "data.n_classes"),
                       (["--set", "data.loss=hinge"], "data.loss")):
        res = runner.invoke(app, ["run", "neural-collapse", *args, "--out", str(tmp_path / "o")])
        assert res.exit_code == 2, (args, res.output)
        assert word in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()
