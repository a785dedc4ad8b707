"""Vectorized sampling draws exactly the per-run data (same streams, bit for bit), and a run
trained inside a large chunk (the span path's thousands-of-runs chunks) equals the same run alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.data import sample_batch, sample_run, stack_runs
from featlab.diagnostics import test_error as te
from featlab.rng import generator
from featlab.train.population import RunSpec, plan_chunks, train_chunk
from tests.conftest import small_setting

_FIELDS = ("X", "y", "y_clean", "mask", "signal_patch", "mu", "mu_class", "noise_idx")


def _cfgs(**changes) -> list[fl.SignalNoiseData]:
    """Five runs' data configs with different n, ||mu||, sigma_p and flip rates (ragged n)."""
    base = fl.override(small_setting(), {f"data.{k}": v for k, v in changes.items()}).data
    return [fl.override(fl.Setting(data=base), {"data.n": n, "data.mu_norm": mu, "data.sigma_p": sp,
                                                "data.flip_p": p}).data
            for n, mu, sp, p in ((12, 2.0, 0.5, 0.0), (7, 0.0, 1.0, 0.2), (12, 3.5, 0.3, 0.1),
                                 (3, 1.0, 2.0, 0.4), (9, 0.7, 0.9, 0.05))]


@pytest.mark.parametrize("changes", [
    {},
    {"noise": "isotropic", "signal_position": "random", "flip_test": True},
    {"mu_direction": "random", "noise": "orthogonal"},
    {"mu_direction": "random", "noise": "isotropic", "signal_position": "random"},
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("seeds", [[3, 0, 17, 5, 123456], [3, 0, 3, 0, 3]])
def test_vectorized_sampling_is_the_per_run_sampling(changes, dtype, split, seeds):
    """Distinct seeds, and seeds shared across runs that differ in ||mu||, sigma_p, flip rate and
    n (the runs whose draws coincide draw once and are copied: the copies must be exact)."""
    cfgs = _cfgs(**changes)
    ns = [c.n for c in cfgs] if split == "train" else [40] * len(cfgs)
    ref = stack_runs([sample_run(c, s, n, split, dtype) for c, s, n in zip(cfgs, seeds, ns)])
    got = sample_batch(cfgs, seeds, split, dtype, ns)
    for name in _FIELDS:
        a, b = getattr(got, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert torch.equal(a, b), f"{name} differs from the per-run draw"
    assert got.group is None and got.noise_basis is None
    assert float(got.mask.sum()) == sum(ns)
    if split == "train" and any(c.flip_p > 0 for c in cfgs):
        assert bool((got.y != got.y_clean).any()), "some labels are flipped"


def _gaussian_reference(cfgs, seeds, n_test, m, dtype) -> te.TestDraws:
    """The per-run Gaussian test draws written out run by run."""
    ys, yo, eps = [], [], []
    for cfg, seed in zip(cfgs, seeds):
        g = generator(seed, "test-gaussian")
        y = torch.randint(0, 2, (n_test,), generator=g).to(dtype) * 2 - 1
        flips = torch.rand(n_test, generator=g, dtype=torch.float64) < (cfg.flip_p if cfg.flip_test else 0.0)
        ys.append(y)
        yo.append(torch.where(flips, -y, y))
        eps.append(torch.randn(n_test, 2 * m, generator=g, dtype=dtype))
    return te.TestDraws("gaussian", torch.stack(ys), torch.stack(yo), eps=torch.stack(eps))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seeds", [[9, 1, 2, 77, 4], [9, 1, 9, 9, 1]])
def test_vectorized_gaussian_test_draws_are_the_per_run_draws(dtype, seeds):
    cfgs = _cfgs(flip_test=True)
    got = te.draw_test("gaussian", cfgs, seeds, 50, 3, dtype)
    ref = _gaussian_reference(cfgs, seeds, 50, 3, dtype)
    for name in ("y_clean", "y_obs"):
        assert torch.equal(getattr(got, name), getattr(ref, name)), name
    assert torch.equal(got.run_eps(), ref.eps)
    assert bool((got.y_obs != got.y_clean).any())


@pytest.mark.parametrize("seed_of", [lambda i: i, lambda i: i // 13], ids=["distinct", "per-grid"])
def test_a_run_in_a_large_chunk_equals_the_run_alone(seed_of):
    """float64, the official model on the span path: a chunk of 600 runs (one structural group,
    planned as one chunk) gives each run the numbers it gets alone; "per-grid": the 13 ||mu||
    values of a seed share its draws in the chunk (and its Gaussian test readout is one matmul
    per seed), while alone every run draws its own."""
    s = fl.override(small_setting(), {
        "data.n": 6, "data.d": 40, "data.n_test": 64, "model.m": 2, "model.activation": "relu",
        "model.bias": True, "model.second_layer": "1", "model.init": "torch_default",
        "model.patch_reduce": "mean", "data.noise": "isotropic", "data.signal_position": "random",
        "data.flip_p": 0.1, "data.flip_test": True, "optim.lr": 0.1, "train.steps": 12,
        "train.log_points": 3})
    runs = [RunSpec(fl.override(s, {"data.mu_norm": 0.25 * (i % 13)}), seed_of(i)) for i in range(600)]
    chunks = plan_chunks(runs)
    assert len(chunks) == 1, "the span path plans thousands of runs per chunk"
    big = train_chunk(runs)
    assert big.span
    for i in (0, 1, 311, 599):
        alone = train_chunk([runs[i]])
        assert big.steps[i] == alone.steps[0] and big.status[i] == alone.status[0]
        for name, vals in big.final.items():
            np.testing.assert_allclose(vals[i], alone.final[name][0], rtol=1e-10, atol=1e-12,
                                       err_msg=f"run {i}, {name}")
        mine = big.log_run == i
        np.testing.assert_array_equal(big.log_step[mine], alone.log_step)
        for name in big.log_values:
            np.testing.assert_allclose(big.log_values[name][mine], alone.log_values[name],
                                       rtol=1e-10, atol=1e-12, err_msg=f"run {i}, log {name}")


@pytest.mark.parametrize("init", ["normal", "torch_default"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_init_params_draw_each_runs_stream(init, dtype):
    """The batched init equals each run's own draws (written out run by run)."""
    from featlab.models.cnn import init_params

    cfg = fl.TwoLayerCNN(m=3, init=init, bias=init == "torch_default")
    seeds, sig = [4, 0, 99, 4, 0], [0.01, 0.5, 2.0, 0.3, 0.5]          # seeds 4 and 0 repeat
    got = init_params(cfg, sig, seeds, 17, dtype)
    for p, (seed, s0) in enumerate(zip(seeds, sig)):
        g = generator(seed, "init")
        if init == "normal":
            W, b = torch.randn(6, 17, generator=g, dtype=dtype) * s0, torch.zeros(6, dtype=dtype)
        else:
            bound = 1.0 / 17 ** 0.5
            W = (torch.rand(6, 17, generator=g, dtype=dtype) * 2 - 1) * bound
            b = (torch.rand(6, generator=g, dtype=dtype) * 2 - 1) * bound
        assert torch.equal(got["W"][p], W) and torch.equal(got["b"][p], b)


def test_run_hash_is_config_hash_with_the_json_cached_per_setting():
    """RunSpec.hash (setting JSON cached per object) is config_hash; 1 and 1.0 stay distinct."""
    from featlab.config import config_hash

    from dataclasses import replace

    base = small_setting()
    a = replace(base, optim=replace(base.optim, lr=1))
    b = replace(base, optim=replace(base.optim, lr=1.0))
    assert a == b                                            # equal dataclasses, different JSON
    for s in (a, b, small_setting()):
        for seed in (0, 7, 123456789):
            assert RunSpec(s, seed).hash == config_hash(s, seed)
    assert RunSpec(a, 0).hash != RunSpec(b, 0).hash


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_shared_gaussian_draws_give_the_per_run_test_metrics(activation):
    """The runs of a seed share one eps row and are evaluated by one matmul per seed; the test
    metrics equal those from per-run eps copies (float64), also after dropping runs (select)."""
    P, m, d, n_test = 24, 3, 15, 200
    cfg = fl.TwoLayerCNN(m=m, activation=activation)
    base = _cfgs(flip_test=True)[0]
    data = [fl.override(fl.Setting(data=base), {"data.mu_norm": 0.5 * p}).data for p in range(P)]
    seeds = [p % 3 for p in range(P)]
    shared = te.draw_test("gaussian", data, seeds, n_test, m, torch.float64)
    assert shared.eps_of is not None and shared.eps.shape[0] == 3
    per_run = te.TestDraws("gaussian", shared.y_clean, shared.y_obs, eps=shared.run_eps())
    g = torch.Generator().manual_seed(0)
    params = {"W": torch.randn(P, 2 * m, d, generator=g, dtype=torch.float64),
              "b": 0.1 * torch.randn(P, 2 * m, generator=g, dtype=torch.float64)}
    mu = torch.zeros(P, d, dtype=torch.float64)
    mu[:, 0] = torch.tensor([c.mu_norm for c in data])
    sigma_p = torch.ones(P, dtype=torch.float64)
    orth = torch.tensor([p % 2 == 0 for p in range(P)])
    keep = torch.tensor([p for p in range(P) if p % 5 != 1])
    everyone = torch.arange(P)
    for sel in (everyone, keep):
        args = ({k: v[sel] for k, v in params.items()}, mu[sel], sigma_p[sel], orth[sel])
        a = te.test_metrics(cfg, args[0], shared.select(sel), *args[1:])
        b = te.test_metrics(cfg, args[0], per_run.select(sel), *args[1:])
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-12, atol=1e-12, msg=k)
    assert float(a["test_error"].std()) > 0                       # the runs really differ


def test_runs_sharing_a_seed_draw_once(monkeypatch):
    """The grid points of one seed (same n, d; ||mu||, sigma_p, flip rate differ) share the
    data, test and init draws: each stream's generator is built once per seed, not per run."""
    from featlab.data import signal_noise
    from featlab.models import cnn

    calls: list[str] = []
    def counting(seed, stream):
        calls.append(stream)
        return generator(seed, stream)
    for mod in (signal_noise, te, cnn):
        monkeypatch.setattr(mod, "generator", counting)
    base = _cfgs()[0]
    cfgs = [fl.override(fl.Setting(data=base), {"data.mu_norm": mu, "data.flip_p": p}).data
            for mu in (0.0, 1.0, 4.0) for p in (0.0, 0.2)]                      # 6 runs
    seeds = [7, 8] * 3
    sample_batch(cfgs, seeds, "train", torch.float32)
    te.draw_test("gaussian", cfgs, seeds, 20, 2, torch.float32)
    cnn.init_params(fl.TwoLayerCNN(m=2), [0.1] * 6, seeds, base.d, torch.float32)
    assert sorted(calls) == ["data"] * 2 + ["init"] * 2 + ["test-gaussian"] * 2


def test_threaded_draws_do_not_depend_on_the_thread_count():
    """The per-run draws run on torch's thread count; 1 and 2 threads give the same tensors."""
    from featlab.models.cnn import init_params

    cfgs = _cfgs(noise="isotropic", signal_position="random") * 30                 # 150 runs
    seeds = list(range(150))
    before = torch.get_num_threads()
    out = []
    try:
        for k in (1, 2):
            torch.set_num_threads(k)
            out.append((sample_batch(cfgs, seeds, "train", torch.float32),
                        te.draw_test("gaussian", cfgs, seeds, 30, 2, torch.float32),
                        init_params(fl.TwoLayerCNN(m=2), [0.1] * 150, seeds, cfgs[0].d, torch.float32)))
    finally:
        torch.set_num_threads(before)
    (b1, t1, w1), (b2, t2, w2) = out
    for name in _FIELDS:
        assert torch.equal(getattr(b1, name), getattr(b2, name)), name
    assert torch.equal(t1.eps, t2.eps) and torch.equal(t1.y_obs, t2.y_obs)
    assert torch.equal(w1["W"], w2["W"])
