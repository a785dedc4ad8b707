"""The CUDA path trains the same runs as the CPU path (skipped without a GPU; run these on a lent
GPU machine: ``python -m pytest -q tests/test_cuda.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.train.population import RunSpec, plan_chunks, train_chunk
from tests.conftest import small_setting
from tests.test_population import _assert_same, _mixed_runs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("changes", [
    {},                                                       # GD: span representation
    {"optim.name": "sgd", "optim.batch_size": 4},
    {"optim.name": "adam", "optim.lr": 0.01},                 # primal path
    {"optim.sam_rho": 0.05},
    {"optim.mixup_alpha": 1.0},
    {"optim.label_noise": 0.2},
])
def test_cuda_population_equals_cpu_population(changes):
    runs = _mixed_runs(fl.override(small_setting(), changes))
    _assert_same(train_chunk(runs, "cuda"), [train_chunk([r], "cpu") for r in runs])


def test_cuda_chunks_fit_the_memory_budget():
    runs = [RunSpec(small_setting(data__d=2000, data__n=200), s) for s in range(64)]
    chunks = plan_chunks(runs, "cuda", memory_budget=2e6)
    assert len(chunks) > 1 and sum(map(len, chunks)) == 64


def test_cli_runs_a_quick_sweep_on_cuda(tmp_path):
    out = fl.run_experiment("signal-noise-dynamics", "quick", out=tmp_path, device="cuda", seeds=1)
    assert out.check["rows"] and np.isfinite(out.timings["train_s"])


def test_bench_quick_on_cuda():
    from featlab.bench import run_bench

    res = run_bench("cuda", quick=True)
    assert res["speedup"] > 0 and res["throughput_step_gflops"] > 0
