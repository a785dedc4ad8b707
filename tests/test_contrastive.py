"""Contrastive learning on the generic engine (Huang et al. 2024, arXiv 2411.02837): the InfoNCE
loss equals a direct per-sample implementation, the vmapped gradient equals autograd of an
independent reference (and the stop-gradient matters), a population equals its single runs
(float64), the paired data are what the paper describes, the probes measure what they say, and
bad inputs are one line with exit code 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.config import ConfigError
from featlab.data import contrastive_pairs
from featlab.data.contrastive_pairs import ContrastivePairsData
from featlab.diagnostics.contrastive import ridge_probe_accuracy
from featlab.models import contrastive_encoders, family_of
from featlab.models.contrastive_encoders import ContrastiveEncoders
from featlab.train.contrastive import info_nce
from featlab.train.engine import RunSpec
from featlab.train.population import train_chunk
from featlab.train.tasks import task_of
from featlab.train.vmapped import vmap_loss_and_grad


def _setting(views: str = "multimodal", **kw) -> fl.Setting:
    s = fl.Setting(data=ContrastivePairsData(n=12, d=30, n_test=16, views=views, mu_norm=3.0,
                                             mu2_norm=6.0, nu_norm=1.5, tau=0.7),
                   model=ContrastiveEncoders(width=6, sigma_0=0.3, shared=views == "augment"),
                   optim=fl.OptimConfig(name="gd", lr=0.2),
                   train=fl.TrainConfig(steps=8, log_points=3, log_schedule="linear",
                                        dtype="float64"))
    return fl.override(s, kw) if kw else s


def _direct_info_nce(f: np.ndarray, y: np.ndarray, tau: float) -> np.ndarray:
    """Per-sample loop: both directions, positive = own partner, negatives = other labels."""
    n, _, m = f.shape
    out = np.zeros(n)
    for i in range(n):
        for a, b in ((0, 1), (1, 0)):
            sim = lambda j: float(f[i, a] @ f[j, b]) / m / tau  # noqa: E731
            pos = math.exp(sim(i))
            neg = sum(math.exp(sim(j)) for j in range(n) if y[j] != y[i])
            out[i] += -math.log(pos / (pos + neg))
    return out


def test_info_nce_equals_a_direct_per_sample_implementation():
    g = torch.Generator().manual_seed(0)
    f = torch.rand(9, 2, 4, generator=g, dtype=torch.float64) * 3
    y = torch.tensor([1, 1, -1, 1, -1, -1, 1, -1, -1], dtype=torch.float64)
    for tau in (0.2, 1.0, 3.0):
        got = info_nce(f, y, tau).numpy()
        np.testing.assert_allclose(got, _direct_info_nce(f.numpy(), y.numpy(), tau), rtol=1e-12)
    bound = task_of(ContrastivePairsData(tau=0.2)).loss(f, y)
    np.testing.assert_allclose(bound.numpy(), _direct_info_nce(f.numpy(), y.numpy(), 0.2), rtol=1e-12)
    # the negatives are the other label only: a same-label partner changes nothing
    f2 = f.clone()
    f2[1, 1] += 5.0                                   # sample 1 has sample 0's label
    assert info_nce(f2, y, 1.0)[0] == pytest.approx(float(info_nce(f, y, 1.0)[0]), rel=1e-12)
    f2[2, 1] += 5.0                                   # sample 2 is a negative of sample 0
    assert float(info_nce(f2, y, 1.0)[0]) > float(info_nce(f, y, 1.0)[0]) + 1e-3


def _reference_loss(W: torch.Tensor, W2: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                    tau: float, stop: bool = True) -> torch.Tensor:
    """Independent one-run loss: explicit patches, explicit sums over samples and negatives."""
    m = W.shape[0]
    h = [sum(torch.clamp(X[:, v, p] @ Wv.T, min=0) for p in range(2)) for v, Wv in enumerate((W, W2))]
    total = 0.0
    n = X.shape[0]
    for i in range(n):
        for a, b in ((0, 1), (1, 0)):
            partner = h[b].detach() if stop else h[b]
            s = [(h[a][i] * partner[j]).sum() / m / tau for j in range(n)]
            den = torch.exp(s[i]) + sum(torch.exp(s[j]) for j in range(n) if y[j] != y[i])
            total = total - (s[i] - torch.log(den))
    return total / n


@pytest.mark.parametrize("views", ["multimodal", "augment"])
def test_vmapped_gradient_equals_autograd_of_an_independent_reference(views):
    s = _setting(views)
    fam = family_of(s.model)
    seeds = [3, 4]
    data = [contrastive_pairs.sample_run(s.data, k, s.data.n, "train", torch.float64) for k in seeds]
    X, y = torch.stack([d["X"] for d in data]), torch.stack([d["y"] for d in data])
    params = fam.init(s.model, seeds, s.data.input_shape, torch.float64)
    params = {k: v + 0.05 * torch.randn_like(v) for k, v in params.items()}   # off the init
    fn = vmap_loss_and_grad(fam, s.model, task_of(s.data))
    w = torch.full((2, s.data.n), 1.0 / s.data.n, dtype=torch.float64)
    loss, f, grads = fn(s.model, params, X, y, w)
    assert f.shape == (2, s.data.n, 2, s.model.width)
    for p in range(2):
        W = params["W"][p].clone().requires_grad_()
        W2 = W if s.model.shared else params["W2"][p].clone().requires_grad_()
        ref = _reference_loss(W, W2, X[p], y[p], s.data.tau)
        assert float(loss[p]) == pytest.approx(float(ref.detach()), rel=1e-12)
        leaves = [W] if s.model.shared else [W, W2]
        ref_g = torch.autograd.grad(ref, leaves)
        torch.testing.assert_close(grads["W"][p], ref_g[0], rtol=1e-10, atol=1e-12)
        if not s.model.shared:
            torch.testing.assert_close(grads["W2"][p], ref_g[1], rtol=1e-10, atol=1e-12)
        # without the stop-gradient the gradient is different: the test sees the sg
        no_sg = torch.autograd.grad(_reference_loss(W, W2, X[p], y[p], s.data.tau, stop=False),
                                    leaves)[0]
        assert float((no_sg - grads["W"][p]).abs().max()) > 1e-4
    assert set(grads) == ({"W"} if s.model.shared else {"W", "W2"})


def _runs(s: fl.Setting, seeds, sigmas) -> list[RunSpec]:
    """Runs that differ in seed, sigma_0 and the per-run data fields (one chunk)."""
    return [RunSpec(fl.override(s, {"model.sigma_0": sg, "data.nu_norm": 1.0 + k,
                                    "data.sigma_eps": 0.1 * (k + 1)}), k)
            for k, sg in zip(seeds, sigmas)]


@pytest.mark.parametrize("views", ["multimodal", "augment"])
def test_population_equals_single_runs_float64(views):
    s = _setting(views)
    runs = _runs(s, [0, 1, 2], [0.3, 0.1, 0.5])
    from featlab.train.generic import plan_chunks

    assert len(plan_chunks(runs)) == 1                       # one population of three runs
    pop = train_chunk(runs)
    for k, run in enumerate(runs):
        one = train_chunk([run])
        for name, v in one.final.items():
            assert v[0] == pytest.approx(pop.final[name][k], rel=1e-10, abs=1e-12), name
        for name, v in one.log_values.items():
            np.testing.assert_allclose(v, pop.log_values[name][pop.log_run == k], rtol=1e-10,
                                       atol=1e-12, err_msg=name)
    start = pop.log_values["train_loss"][pop.log_step == 0]
    assert np.isfinite(pop.final["train_loss"]).all() and (pop.final["train_loss"] < start).all()


def test_paired_data_are_the_papers():
    cfg = ContrastivePairsData(n=40, d=3000, n_test=30, mu_norm=5.0, mu2_norm=15.0, nu_norm=2.0,
                               sigma_eps=0.1)
    tr = contrastive_pairs.sample_run(cfg, 0, cfg.n, "train", torch.float64)
    X, y = tr["X"], tr["y"]
    assert X.shape == (40, 2, 2, 3000) and (y == 1).sum() == 20 and (y == -1).sum() == 20
    mu, mu2 = torch.zeros(3000, dtype=torch.float64), torch.zeros(3000, dtype=torch.float64)
    mu[0], mu2[1] = 5.0, 15.0
    torch.testing.assert_close(X[:, 0, 0], y[:, None] * mu)
    torch.testing.assert_close(X[:, 1, 0], y[:, None] * mu2)
    assert float(X[:, 0, 1].std()) == pytest.approx(1.0, rel=0.02)
    corr = float((X[:, 0, 1] * X[:, 1, 1]).sum(1).mean()) / 3000
    assert abs(corr) < 0.05                                  # independent modality noise
    aug = contrastive_pairs.sample_run(ContrastivePairsData(n=40, d=3000, views="augment",
                                                            sigma_eps=0.1), 0, 40, "train",
                                       torch.float64)["X"]
    torch.testing.assert_close(aug[:, 1, 0], aug[:, 0, 0])   # the augmentation keeps the signal
    eps = aug[:, 1, 1] - aug[:, 0, 1]
    assert float(eps.std()) == pytest.approx(0.1, rel=0.02)
    te = contrastive_pairs.sample_run(cfg, 0, cfg.n_test, "test", torch.float64)
    nu = torch.zeros(3000, dtype=torch.float64)
    nu[0] = 2.0
    torch.testing.assert_close(te["X"][:, 0, 0], te["y"][:, None] * nu)
    assert float((te["X"][:, 0, 1] - X[:30, 0, 1]).abs().min()) > 0   # fresh OOD noise
    assert cfg.n_snr2 == pytest.approx(40 * 25 / 3000)


def test_ridge_probe_separates_a_signal_and_not_noise():
    g = torch.Generator().manual_seed(1)
    n, m = 200, 10
    y = torch.cat([torch.ones(n // 2), -torch.ones(n // 2)]).double()
    H = torch.randn(2, n, m, generator=g, dtype=torch.float64)
    Ht = torch.randn(2, n, m, generator=g, dtype=torch.float64)
    H[0, :, 0] += 3 * y
    Ht[0, :, 0] += 3 * y                                   # run 0: a signal neuron, run 1: none
    train, test = ridge_probe_accuracy(H, y.expand(2, n), Ht, y.expand(2, n))
    assert float(test[0]) > 0.9 and abs(float(test[1]) - 0.5) < 0.12
    assert float(train[0]) > 0.9


def test_signal_and_noise_probes_read_the_encoders():
    s = _setting("multimodal")
    res = train_chunk([RunSpec(s, 5)])
    at0 = {k: v[res.log_step == 0][0] for k, v in res.log_values.items()}     # at the init
    p = contrastive_encoders.init(s.model, [5], s.data.input_shape, torch.float64)
    X = contrastive_pairs.sample_run(s.data, 5, s.data.n, "train", torch.float64)["X"]
    assert at0["signal_1"] == pytest.approx(float((p["W"][0][:, 0] * 3.0).max()))
    assert at0["signal_2"] == pytest.approx(float((p["W2"][0][:, 1] * 6.0).max()))
    assert at0["noise_1"] == pytest.approx(float((p["W"][0] @ X[:, 0, 1].T).max()))
    assert at0["noise_2"] == pytest.approx(float((p["W2"][0] @ X[:, 1, 1].T).max()))
    assert res.final["noise_1"][0] != pytest.approx(at0["noise_1"])           # training moved it


def test_tau_must_be_positive():
    for tau in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="data.tau"):
            ContrastivePairsData(tau=tau)


@pytest.mark.parametrize("key,value,word", [
    ("data.tau", "0", "data.tau"), ("data.tau", "-0.5", "data.tau"),
    ("model.sigma_0", "-1", "model.sigma_0"), ("data.views", "three", "data.views"),
    ("optim.batch_size", "10", "optim.batch_size"), ("optim.mixup_alpha", "0.5", "optim.mixup_alpha"),
])
def test_bad_inputs_are_one_line_and_exit_2(key, value, word, tmp_path):
    res = CliRunner().invoke(app, ["run", "huang2024-multimodal-contrastive", "--set",
                                   f"{key}={value}", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert word in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()


def _frame(multi, single, ratio_single=6.0, prem=0.6):
    import pandas as pd

    rows = []
    for views, accs, ratio in (("multimodal", multi, 3.0), ("augment", single, ratio_single)):
        for k, a in enumerate(accs):
            rows.append({"run_id": f"{views}{k}", "data.views": views, "data.tau": 0.5,
                         "model.sigma_0": 0.01, "data.negatives": "other_label",
                         "data.n_negatives": 0, "ood_accuracy": a, "ood_accuracy_0": prem,
                         "signal_1": 1.0, "noise_1": ratio, "signal_2": 5.0, "noise_2": 4.0,
                         "probe_train_accuracy": 1.0, "train_loss": 0.1})
    return pd.DataFrame(rows)


def test_check_rows_pass_on_the_claim_and_fail_without_it():
    from featlab.experiments.base import verdict
    from featlab.experiments.huang2024_multimodal_contrastive import _rows

    good = verdict(_rows(_frame([0.93, 0.92, 0.94, 0.92], [0.5, 0.6, 0.55, 0.52])))
    assert good["passed"], good["rows"]
    no_edge = verdict(_rows(_frame([0.93, 0.92, 0.94, 0.92], [0.9, 0.92, 0.88, 0.91])))
    assert not no_edge["passed"]                                       # the gap row fails
    weak = verdict(_rows(_frame([0.7, 0.72, 0.69, 0.71], [0.5, 0.55, 0.52, 0.5])))
    assert not weak["passed"]                                          # multimodal < 0.85
    same_memo = verdict(_rows(_frame([0.93, 0.92, 0.94, 0.92], [0.5, 0.6, 0.55, 0.52], 3.0)))
    assert not same_memo["passed"]                                     # the mechanism row fails
    solved_at_init = verdict(_rows(_frame([0.93, 0.92, 0.94, 0.92], [0.5, 0.6, 0.55, 0.52],
                                          prem=0.9)))
    assert not solved_at_init["passed"]                                # the premise fails


# --- the negatives' options (issue 16 item 2: the verdict's sensitivity to the number of negatives)

def _direct_info_nce_masked(f: np.ndarray, neg: np.ndarray, tau: float) -> np.ndarray:
    """Per-sample loop over an explicit negatives matrix neg[i, j] (both directions)."""
    n, _, m = f.shape
    out = np.zeros(n)
    for i in range(n):
        for a, b in ((0, 1), (1, 0)):
            sim = lambda j: float(f[i, a] @ f[j, b]) / m / tau  # noqa: E731
            pos = math.exp(sim(i))
            out[i] += -math.log(pos / (pos + sum(math.exp(sim(j)) for j in range(n) if neg[i, j])))
    return out


def test_negative_mask_all_and_a_fixed_subset_of_m():
    from featlab.train.contrastive import negative_mask

    y = torch.tensor([1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1], dtype=torch.float64)
    n = len(y)
    other = (y[:, None] != y[None, :]).numpy()
    np.testing.assert_array_equal(negative_mask(y).numpy(), other)
    every = negative_mask(y, "all").numpy()
    np.testing.assert_array_equal(every, ~np.eye(n, dtype=bool))
    for kind, eligible in (("other_label", other), ("all", every)):
        for M in (1, 3, 5):
            sub = negative_mask(y, kind, M).numpy()
            assert (sub.sum(1) == M).all(), (kind, M)              # M negatives per anchor
            assert not (sub & ~eligible).any() and not np.diag(sub).any()
            np.testing.assert_array_equal(sub, negative_mask(y, kind, M).numpy())  # fixed
            if M > 1:                                              # nested: M-1 is inside M
                assert not (negative_mask(y, kind, M - 1).numpy() & ~sub).any()
        assert len({tuple(r) for r in negative_mask(y, kind, 2).numpy().astype(int)}) > 2  # rows differ
    # M = the full count of the other label (6 for the +1 anchors) is every eligible sample there
    np.testing.assert_array_equal(negative_mask(y, "other_label", 6).numpy()[:5], other[:5])


@pytest.mark.parametrize("negatives,M", [("all", 0), ("all", 4), ("other_label", 2)])
def test_info_nce_with_other_negatives_equals_the_direct_loop(negatives, M):
    from featlab.train.contrastive import negative_mask

    g = torch.Generator().manual_seed(2)
    f = torch.rand(10, 2, 4, generator=g, dtype=torch.float64) * 3
    y = torch.tensor([1, 1, -1, 1, -1, -1, 1, -1, -1, 1], dtype=torch.float64)
    neg = negative_mask(y, negatives, M).numpy()
    got = info_nce(f, y, 0.4, negatives, M).numpy()
    np.testing.assert_allclose(got, _direct_info_nce_masked(f.numpy(), neg, 0.4), rtol=1e-12)
    cfg = ContrastivePairsData(n=10, tau=0.4, negatives=negatives, n_negatives=M)
    np.testing.assert_allclose(task_of(cfg).loss(f, y).numpy(), got, rtol=1e-12)   # bound
    if negatives == "all":     # a same-label partner is now a negative: the loss sees it
        f2 = f.clone()
        j = next(j for j in range(1, 10) if neg[0, j] and y[j] == y[0])
        f2[j, 1] += 5.0
        assert float(info_nce(f2, y, 0.4, negatives, M)[0]) > float(got[0]) + 1e-3
    assert not np.allclose(got, info_nce(f, y, 0.4).numpy())    # differs from the default


def test_vmapped_gradient_with_all_negatives_equals_autograd_of_the_direct_loss():
    s = _setting("augment", **{"data.negatives": "all", "data.n_negatives": 5})
    fam = family_of(s.model)
    seeds = [1, 2]
    data = [contrastive_pairs.sample_run(s.data, k, s.data.n, "train", torch.float64) for k in seeds]
    X, y = torch.stack([d["X"] for d in data]), torch.stack([d["y"] for d in data])
    params = fam.init(s.model, seeds, s.data.input_shape, torch.float64)
    params = {k: v + 0.05 * torch.randn_like(v) for k, v in params.items()}
    w = torch.full((2, s.data.n), 1.0 / s.data.n, dtype=torch.float64)
    _, _, grads = vmap_loss_and_grad(fam, s.model, task_of(s.data))(s.model, params, X, y, w)
    from featlab.train.contrastive import negative_mask

    for p in range(2):
        W = params["W"][p].clone().requires_grad_()
        neg = negative_mask(y[p], "all", 5)
        h = [torch.clamp(X[p, :, v] @ W.T, min=0).sum(1) for v in range(2)]   # (n, m) per view
        total = 0.0
        for i in range(s.data.n):
            for a, b in ((0, 1), (1, 0)):
                sim = lambda j: (h[a][i] * h[b][j].detach()).sum() / W.shape[0] / s.data.tau  # noqa
                den = torch.exp(sim(i)) + sum(torch.exp(sim(j)) for j in range(s.data.n) if neg[i, j])
                total = total - (sim(i) - torch.log(den))
        ref = torch.autograd.grad(total / s.data.n, [W])[0]
        torch.testing.assert_close(grads["W"][p], ref, rtol=1e-10, atol=1e-12)


def test_new_negatives_fields_keep_old_sweep_ids():
    from featlab.config import to_dict

    d = to_dict(ContrastivePairsData())
    assert "negatives" not in d and "n_negatives" not in d          # defaults are omitted
    d = to_dict(ContrastivePairsData(negatives="all", n_negatives=3))
    assert d["negatives"] == "all" and d["n_negatives"] == 3


@pytest.mark.parametrize("kw,word", [
    ({"n_negatives": 51}, "data.n_negatives"), ({"n_negatives": -1}, "data.n_negatives"),
    ({"negatives": "all", "n_negatives": 100}, "data.n_negatives"),
    ({"negatives": "same_label"}, "data.negatives"),
])
def test_bad_negatives_raise_one_clear_error(kw, word):
    with pytest.raises(ConfigError, match=word):
        ContrastivePairsData(n=100, **kw)
    ContrastivePairsData(n=100, n_negatives=50)                      # the limits are allowed
    ContrastivePairsData(n=100, negatives="all", n_negatives=99)


@pytest.mark.parametrize("key,value", [("data.n_negatives", "51"), ("data.negatives", "mine")])
def test_bad_negatives_on_the_cli_are_one_line_and_exit_2(key, value, tmp_path):
    res = CliRunner().invoke(app, ["run", "huang2024-multimodal-contrastive", "--set",
                                   f"{key}={value}", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert key in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o" / "featlab.duckdb").exists()


def test_sensitivity_preset_moves_one_choice_at_a_time():
    from featlab.experiments.huang2024_multimodal_contrastive import (CELL_KEYS, SENSITIVITY, TAU,
                                                                       SIGMA_0, sensitivity)

    chosen = SENSITIVITY[0]
    assert chosen == (TAU, SIGMA_0, "other_label", 0)
    for cell in SENSITIVITY[1:]:
        assert sum(a != b for a, b in zip(cell, chosen)) == 1 or cell[2] == "all", cell
    taus = {c[0] for c in SENSITIVITY}
    sigmas = {c[1] for c in SENSITIVITY}
    ms = {(c[2], c[3]) for c in SENSITIVITY}
    assert len(taus) >= 3 and len(sigmas) >= 3 and len(ms) >= 3
    runs = sensitivity().runs()
    assert len(runs) == len(SENSITIVITY) * 2 * 4
    got = {tuple(fl.flatten(r.setting)[k] for k in CELL_KEYS) for r in runs}
    assert got == set(SENSITIVITY)


def test_sensitivity_rows_report_every_cell_and_its_verdict():
    import pandas as pd

    from featlab.experiments.base import verdict
    from featlab.experiments.huang2024_multimodal_contrastive import _rows

    main = _frame([0.93, 0.92, 0.94, 0.92], [0.5, 0.6, 0.55, 0.52])
    weak = main.assign(**{"data.n_negatives": 5, "run_id": main["run_id"] + "m5"})
    weak.loc[weak["data.views"] == "multimodal", "ood_accuracy"] = [0.7, 0.72, 0.69, 0.71]
    every = main.assign(**{"data.negatives": "all", "run_id": main["run_id"] + "all"})
    res = verdict(_rows(pd.concat([main, weak, every], ignore_index=True)))
    assert res["passed"], res["rows"]                 # the checked cell decides the verdict
    sens = [r for r in res["rows"] if r["quantity"].startswith("sensitivity")]
    text = " | ".join(f"{r['quantity']} {r['claim']} {r['measured']}" for r in sens)
    assert len(sens) == 2, text
    assert "M = 5 other-label" in text and "M = 99 any-label" in text
    assert "would fail" in text and "would pass" in text


@pytest.mark.slow
def test_other_label_negatives_make_the_single_modal_encoder_learn_the_signal():
    """The known discrepancy's cause (CHECKS.md): with other-label negatives the label separates
    every positive pair from every negative, so single-modal learning picks up the signal; with
    every other sample as a negative it memorizes noise instead (n SNR^2 = 1.25 as the paper)."""
    base = fl.Setting(data=ContrastivePairsData(n=40, d=400, n_test=20, views="augment",
                                                mu_norm=3.54, mu2_norm=10.6, tau=0.5),
                      model=ContrastiveEncoders(width=20, sigma_0=0.01, shared=True),
                      optim=fl.OptimConfig(name="gd", lr=0.02),
                      train=fl.TrainConfig(steps=80, log_points=2, log_schedule="linear"))
    final = {}
    for neg in ("other_label", "all"):
        s = fl.override(base, {"data.negatives": neg})
        res = train_chunk([RunSpec(s, k) for k in (0, 1)])
        final[neg] = {k: float(np.mean(res.final[k])) for k in ("signal_1", "noise_1")}
    assert final["other_label"]["signal_1"] > 2.0 * final["all"]["signal_1"], final
    ratio = lambda f: f["noise_1"] / f["signal_1"]  # noqa: E731
    assert ratio(final["all"]) > 2.0 * ratio(final["other_label"]), final
