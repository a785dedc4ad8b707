r"""Benchmark: the coord-check workload as populations vs one model at a time (mup style).

Workload: the coord-check setting (:mod:`featlab.experiments.coord_check`: ReLU MLP with 3 hidden
layers, teacher-student batch n = 64, d = 16, GD, K - 1 = 3 steps, mean |h| of every hidden layer
at t = 1..K) for SP and muP x widths x lrs x seeds.

- population: featlab's trainer, one chunk per (parametrization, width) holding every lr and
  seed (the ``act_scale`` probe taps the layers inside ``apply``);
- one at a time: what mup's ``coord_check`` does, an ``nn.Sequential`` per run with forward hooks
  on the activations and ``torch.optim.SGD`` with muP's per-group lr (TP V Table 3), same
  initial weights.

Both record the same numbers; :func:`coord_check_bench` returns the largest relative difference
between them beside the two wall times (after one untimed warm-up run of each).

On a CPU the population is not faster here: from width ~512 on one run's matmuls already fill a
core, and featlab's trainer also logs test loss, weight and feature movement at every step, which
the hooked loop does not; the population pays off at small widths and on a GPU.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["coord_check_bench"]


def _runs(widths, lrs, seeds):
    from featlab.config import override
    from featlab.experiments.coord_check import _setting
    from featlab.train.engine import RunSpec

    base = _setting()
    return [RunSpec(override(base, {"model.parametrization": par, "model.width": w, "optim.lr": lr}), s)
            for par in ("sp", "mup") for w in widths for lr in lrs for s in range(seeds)]


def _one_at_a_time(run, device: str) -> np.ndarray:
    """(K, layers) mean |h| of one run: nn.Sequential + forward hooks + torch.optim.SGD."""
    from featlab.data.teacher_student import sample_run
    from featlab.models import mlp

    s = run.setting
    cfg = s.model
    data = sample_run(s.data, run.seed, s.data.n, "train")
    X, y = data["X"].to(device), data["y"].to(device)
    p = mlp.init(cfg, [run.seed], (s.data.d,), torch.float32)
    mult, groups = mlp.lr_multipliers(cfg, s.optim.name), mlp.param_groups(cfg)
    layers, param_groups, record = [], [], []
    for l in range(cfg.depth):
        W = p[f"W{l}"][0]
        lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(W)
        param_groups.append({"params": [lin.weight], "lr": s.optim.lr * mult[groups[f"W{l}"]]})
        layers.append(lin)
        if l < cfg.depth - 1:
            act = torch.nn.ReLU()
            act.register_forward_hook(lambda m, i, o: record.append(float(o.detach().abs().mean())))
            layers.append(act)
    net = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(param_groups)
    K = s.train.steps + 1
    for t in range(K):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(X)[:, 0], y)
        if t < K - 1:
            loss.backward()
            opt.step()
    return np.array(record).reshape(K, cfg.depth - 1)


def coord_check_bench(device: str = "cpu", quick: bool = False,
                      say: Callable[[str], Any] = print) -> dict[str, float]:
    """Time the workload both ways (module docstring); prints one line with ``say``."""
    from featlab.train.population import plan_chunks, train_chunk

    widths = [64, 128, 256] if quick else [64, 128, 256, 512, 1024, 2048]
    lrs, seeds = ([0.1], 2) if quick else ([0.05, 0.1, 0.2], 3)
    runs = _runs(widths, lrs, seeds)
    warm = _runs([64], [0.1], 1)                      # first-call costs (vmap, imports) untimed
    train_chunk(warm, device)
    _one_at_a_time(warm[0], device)
    t0 = time.perf_counter()
    results = [(chunk, train_chunk(chunk, device)) for chunk in plan_chunks(runs, device)]
    pop_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = [_one_at_a_time(r, device) for r in runs]
    loop_s = time.perf_counter() - t0
    index = {id(r): i for i, r in enumerate(runs)}
    worst = 0.0
    for chunk, res in results:
        for j, r in enumerate(chunk):
            ref = loop[index[id(r)]]
            for l in range(ref.shape[1]):
                ours = res.log_values[f"act_scale_h{l + 1}"][res.log_run == j]
                worst = max(worst, float(np.max(np.abs(ours - ref[:, l]) / np.abs(ref[:, l]))))
    out = {"runs": len(runs), "chunks": len(results), "population_s": pop_s, "loop_s": loop_s,
           "speedup": loop_s / pop_s, "max_rel_diff": worst}
    say(f"coord-check workload ({len(runs)} runs: SP, muP x widths {widths[0]}..{widths[-1]} x "
        f"{len(lrs)} lrs x {seeds} seeds, {len(results)} chunks): population {pop_s:.2f}s vs one "
        f"model at a time with hooks {loop_s:.2f}s: {loop_s / pop_s:.1f}x; same mean |h| to "
        f"{worst:.1e} (relative)")
    return out
