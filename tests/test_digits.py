"""The 8x8 digits data model: shapes and stratified disjoint splits, standardization with the
training statistics only, a run's split from its own stream (alone == inside a population), bad
inputs as one line and exit code 2 through the CLI, and an MLP that learns the digits (and does
not learn shuffled labels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.config import MLP, ConfigError
from featlab.data import REGISTRY
from featlab.data.digits import CLASS_COUNTS, DigitsData, load, sample_run, split_indices
from featlab.train.engine import RunSpec
from featlab.train.generic import _setup, train_chunk


def test_the_shipped_array_and_its_class_counts():
    X, y = load()
    assert X.shape == (1797, 64) and X.dtype == torch.float64 and y.shape == (1797,)
    assert tuple(torch.bincount(y).tolist()) == CLASS_COUNTS
    assert float(X.min()) == 0 and float(X.max()) == 16
    assert REGISTRY["digits"].sample_run is sample_run


def test_shapes_labels_and_a_stratified_disjoint_split():
    cfg = DigitsData(n=300, n_test=200)
    tr, te = sample_run(cfg, 4, 300, "train"), sample_run(cfg, 4, 200, "test")
    assert tr["X"].shape == (300, 64) and tr["y"].shape == (300,) and te["X"].shape == (200, 64)
    assert tr["X"].dtype == torch.float32 and cfg.n_classes == 10 and cfg.task == "multiclass"
    counts = torch.bincount(tr["y"].long(), minlength=10)
    expect = torch.tensor(CLASS_COUNTS) * 300 / 1797                        # n m_c / M
    assert (counts - expect).abs().max() < 1 and int(counts.sum()) == 300
    idx = split_indices(cfg, 4)
    assert (len(idx["train"]), len(idx["test"]), len(idx["rest"])) == (300, 200, 1297)
    every = torch.cat([idx["train"], idx["test"], idx["rest"]])
    assert torch.equal(every.sort().values, torch.arange(1797))              # disjoint, complete
    _, y = load()
    assert torch.equal(y[idx["train"]].double(), tr["y"].double())           # labels of those rows
    assert torch.equal(sample_run(cfg, 4, 5, "test")["X"], te["X"][:5])       # the split's first n
    fresh = sample_run(cfg, 4, 100, "ridge")                                  # a probe's extra split
    assert fresh["X"].shape == (100, 64)
    assert not torch.equal(split_indices(cfg, 5)["train"], idx["train"])       # seeds differ


def test_a_class_subset_is_relabelled_in_the_given_order():
    cfg = DigitsData(n=100, n_test=50, classes="8,3", loss="mse")
    assert cfg.n_classes == 2 and cfg.task == "multiclass_mse"
    out = sample_run(cfg, 0, 100, "train")
    _, y = load()
    raw = y[split_indices(cfg, 0)["train"]]
    assert set(raw.tolist()) == {3, 8}
    assert torch.equal(out["y"].long(), (raw == 3).long())                   # 8 -> 0, 3 -> 1
    assert fl.Setting(data=cfg, model=MLP()).data.n_classes == 2


def test_standardization_uses_the_training_images_only():
    X_raw, _ = load()
    cfg = DigitsData(n=200, n_test=300)
    idx = split_indices(cfg, 1)
    tr = sample_run(cfg, 1, 200, "train", torch.float64)["X"]
    te = sample_run(cfg, 1, 300, "test", torch.float64)["X"]
    A, B = X_raw[idx["train"]], X_raw[idx["test"]]
    m, s = A.mean(0), A.std(0, unbiased=False)
    varies = s > 0
    assert 0 < int((~varies).sum()) < 64                                     # e.g. the corners
    torch.testing.assert_close(te[:, varies], ((B - m) / s)[:, varies], rtol=0, atol=1e-12)
    assert (te[:, ~varies] == 0).all() and (tr[:, ~varies] == 0).all()
    torch.testing.assert_close(tr[:, varies].mean(0), torch.zeros(int(varies.sum()), dtype=torch.float64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(tr[:, varies].std(0, unbiased=False),
                               torch.ones(int(varies.sum()), dtype=torch.float64), rtol=0, atol=1e-12)
    assert te[:, varies].mean(0).abs().max() > 0.05                          # not the test's own mean
    g = sample_run(DigitsData(n=200, n_test=300, standardize="global"), 1, 300, "test", torch.float64)
    torch.testing.assert_close(g["X"], (B - A.mean()) / A.std(unbiased=False), rtol=0, atol=1e-12)
    raw = sample_run(DigitsData(n=200, n_test=300, standardize="none"), 1, 300, "test", torch.float64)
    assert torch.equal(raw["X"], B)


def _setting(steps: int, dtype: str = "float64", **data) -> fl.Setting:
    return fl.Setting(data=DigitsData(**{"n": 400, "n_test": 400, **data}),
                      model=MLP(depth=2, width=64, activation="relu"),
                      optim=fl.OptimConfig(name="gd", lr=0.5),
                      train=fl.TrainConfig(steps=steps, log_points=3, dtype=dtype))


def test_a_run_alone_equals_the_same_run_in_a_population():
    s = _setting(20)
    runs = [RunSpec(s, 2), RunSpec(s, 7), RunSpec(s, 11)]
    in_pop, alone = _setup(runs, "cpu")[2], _setup([runs[1]], "cpu")[2]     # the trainer's data
    for k in ("X", "y", "Xt", "yt"):
        assert torch.equal(in_pop[k][1], alone[k][0]), k                      # bit-identical split
    assert not torch.equal(in_pop["X"][0], in_pop["X"][1])
    pop = train_chunk(runs)
    one = train_chunk([RunSpec(s, 7)])
    rows = pop.log_run == 1
    for name in one.log_values:
        np.testing.assert_allclose(pop.log_values[name][rows], one.log_values[name], rtol=1e-12,
                                   atol=1e-14, err_msg=name)


def test_an_mlp_learns_the_digits_and_not_shuffled_labels():
    """Two-layer ReLU MLP (width 64), 400 training images, full-batch GD lr 0.5, 200 steps: test
    accuracy > 0.8 (chance 0.1; measured 0.93 and 0.975 on seeds 0, 1 at 300 steps); with
    shuffled training labels the same net stays near chance on the test set."""
    out = train_chunk([RunSpec(_setting(200, "float32"), 0),
                       RunSpec(_setting(200, "float32", shuffle_labels=True), 0)])
    last = out.log_step == out.log_step.max()
    err = out.log_values["test_error"][last]
    assert 1 - err[0] > 0.8, err
    assert 1 - err[1] < 0.3, err


@pytest.mark.parametrize("value,word", [("n=5000", "data.n"), ("n=3", "data.n"),
                                        ("n_test=1700", "data.n_test"), ("classes=3,x", "data.classes"),
                                        ("classes=4", "data.classes"), ("standardize=zscore", "data.standardize")])
def test_bad_inputs_are_one_line_and_exit_2(value, word, tmp_path):
    from typer.testing import CliRunner

    from featlab.cli import app

    res = CliRunner().invoke(app, ["run", "mlp-width-sweep", "--set", "data.kind=digits",
                                   "--set", f"data.{value}", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()


def test_bad_values_name_their_field_and_fix():
    with pytest.raises(ConfigError, match=r"data\.n=3 is invalid.*data\.n >= 10"):
        DigitsData(n=3)
    with pytest.raises(ConfigError, match=r"data\.n_test=.*data\.n_test <= 297"):
        DigitsData(n=1500, n_test=400)
    with pytest.raises(ConfigError, match=r"data\.n=.*data\.n <= 356"):
        DigitsData(n=400, classes="3,8")


def test_the_experiments_digits_arms_and_the_unchanged_teacher_runs():
    """mup-width-transfer's teacher runs are the former explicit teacher setting (same run ids,
    so stored runs resume); its digits runs use the squared loss; neural-collapse's quick grid
    holds the mixture at two widths and the digits at one."""
    from featlab.data.teacher_student import TeacherStudentData
    from featlab.experiments import get_experiment

    runs = get_experiment("mup-width-transfer").sweep("quick").runs()
    teacher = [r for r in runs if r.setting.data.kind == "teacher_student"]
    digits = [r for r in runs if r.setting.data.kind == "digits"]
    assert len(teacher) == len(digits) == 160
    assert {r.setting.data for r in teacher} == {
        TeacherStudentData(n=128, d=16, n_test=256, teacher_width=8, teacher_activation="tanh", noise=0.1)}
    assert {r.setting.data for r in digits} == {DigitsData(n=256, n_test=256, loss="mse")}
    nc = get_experiment("neural-collapse").sweep("quick").runs()
    arms = sorted({(r.setting.data.kind, r.setting.model.width) for r in nc})
    assert arms == [("digits", 64), ("gaussian_mixture", 64), ("gaussian_mixture", 256)]
    assert {r.setting.data.task for r in nc} == {"multiclass_mse"}
