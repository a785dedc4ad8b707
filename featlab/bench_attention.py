r"""The attention workload of ``featlab bench``: token-selection attention (Sakamoto & Sato 2025,
:mod:`featlab.models.token_attention`) as one population on the generic engine against one run at
a time with an ``nn.Module`` + ``torch.optim.SGD`` loop, the way the official script trains it.

The population is timed twice in one process: through the family's batched analytic gradient
(``Family.vjp``, the default: :mod:`featlab.train.analytic`) and through the forced
``vmap(grad_and_value)`` path, so the ratio of the two is measured under the same load.

:func:`attention_bench` times two sizes. At d = 64 one run's step is dominated by per-call
overhead, which the population shares. At d = 400 (the ``sakamoto2025-token-selection`` quick
preset) the step is memory-bound on both sides: each step reads W (d x d, 640 KB in float32 at
d = 400) for W p and for W^T u, writes the gradient u p^T, and the update reads that and W and
writes W again (about eight W-sized passes per step, in the loop as in the population). A loop's
one W stays in the 1 MiB L2 cache of this CPU, while a population's P matrices (a 16-run chunk:
10 MB each pass) stream from L3 or memory: one elementwise pass over W costs about 5x more per
element at P = 16 than for one run (measured, one thread, 2-core EPYC), which eats the overhead
the population saves, so the population stays near 1x the loop there whatever the FLOP count
(5 d^2 of the step's 5 d^2 + 6 n T d). Beating it would need fewer passes over W (a rank-one
update W - \eta u p^T without forming the gradient, for GD only), not a faster gradient.

Both train the same runs (token data of :mod:`featlab.data.tokens`, the official init, full-batch
GD on the mean logistic loss); the population's time includes sampling, init and its final
diagnostics, the loop's its sampling. FLOPs per run and step (matmuls only): W p and W^T g_q
(2 d^2 each), the outer product g_q p^T (d^2), X q, X \nu and X^T g_logits (2 n T d each):
5 d^2 + 6 n T d.
"""

from __future__ import annotations

import time
from typing import Any

import torch

__all__ = ["attention_workload", "attention_bench", "step_flops"]


def step_flops(d: int, n: int, T: int) -> float:
    """Matmul FLOPs of one training step of one run (module docstring)."""
    return 5.0 * d * d + 6.0 * n * T * d


class _Attention(torch.nn.Module):
    """The per-run reference model: f(X) = sum_t softmax(X W p)_t <x_t, nu>."""

    def __init__(self, W: torch.Tensor, p: torch.Tensor, nu: torch.Tensor) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(W.clone())
        self.p = torch.nn.Parameter(p.clone())
        self.register_buffer("nu", nu.clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:                     # X (n, T, d)
        s = torch.softmax(X @ (self.W @ self.p), dim=-1)                     # (n, T)
        return (s * (X @ self.nu)).sum(-1)


def _population_seconds(runs: list, device: str, vmap: bool) -> float:
    """Seconds to train ``runs`` as populations (chunked by the engine's rule)."""
    from featlab.train.population import plan_chunks, train_chunk

    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    for chunk in plan_chunks(runs, device):
        train_chunk(chunk, device, vmap=vmap)
    sync()
    return time.perf_counter() - t0


def attention_workload(device: str = "cpu", P: int = 64, d: int = 400, n: int = 20, T: int = 8,
                       steps: int = 200, loop_runs: int = 4, lr: float = 0.1,
                       compare_vmap: bool = True) -> dict[str, Any]:
    """Seconds for P token-selection runs as one population (analytic gradient; with
    ``compare_vmap`` also through the forced vmap path) vs ``loop_runs`` runs one at a time
    (scaled to P), the speedups, and the achieved GFLOP/s."""
    from featlab.config import OptimConfig, Setting, TrainConfig, override
    from featlab.data import tokens
    from featlab.data.tokens import TokenSelectionData
    from featlab.models import token_attention
    from featlab.models.token_attention import TokenAttention
    from featlab.train.population import RunSpec, train_chunk

    s = Setting(data=TokenSelectionData(n=n, d=d, T=T, mu_norm=10.0, n_test=n),
                model=TokenAttention(nu_norm=0.1), optim=OptimConfig(name="gd", lr=lr),
                train=TrainConfig(steps=steps, log_points=1))
    runs = [RunSpec(s, i) for i in range(P)]
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    for vmap in (False, True):                          # warm-up: torch.func imports
        train_chunk([RunSpec(override(s, {"train.steps": 2}), 0)], device, vmap=vmap)
    pop_s = _population_seconds(runs, device, vmap=False)
    vmap_s = _population_seconds(runs, device, vmap=True) if compare_vmap else float("nan")
    t0 = time.perf_counter()
    for seed in range(loop_runs):
        data = tokens.sample_run(s.data, seed, n, "train")
        X, y = data["X"].to(device), data["y"].to(device)
        p0 = token_attention.init(s.model, [seed], (T, d), torch.float32)
        net = _Attention(p0["W"][0], p0["p"][0], p0["nu"][0]).to(device)
        opt = torch.optim.SGD([net.W, net.p], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.softplus(-y * net(X)).mean()
            loss.backward()
            opt.step()
    sync()
    loop_s = (time.perf_counter() - t0) * P / loop_runs
    flops = P * steps * step_flops(d, n, T)
    return {"P": P, "d": d, "n": n, "T": T, "steps": steps, "population_s": pop_s,
            "vmap_population_s": vmap_s, "loop_s_scaled": loop_s, "loop_runs_timed": loop_runs,
            "speedup": loop_s / pop_s, "vmap_speedup": loop_s / vmap_s,
            "analytic_vs_vmap": vmap_s / pop_s,
            "population_gflops": flops / pop_s / 1e9, "loop_gflops": flops / loop_s / 1e9}


def attention_bench(device: str = "cpu", quick: bool = False,
                    ceiling_gflops: float | None = None) -> dict[str, Any]:
    """:func:`attention_workload` at d = 64 and d = 400 (smaller P and fewer steps with ``quick``)
    and a one-line summary (``summary``) with the GFLOP/s as a fraction of ``ceiling_gflops``."""
    sizes = ((64, 16 if quick else 128), (400, 4 if quick else 32))
    out: dict[str, Any] = {}
    parts = []
    for d, P in sizes:
        r = attention_workload(device, P=P, d=d, steps=20 if quick else 200,
                               loop_runs=2 if quick else 4)
        out[f"d{d}"] = r
        frac = f" = {r['population_gflops'] / ceiling_gflops:.1%} of the ceiling" if ceiling_gflops else ""
        parts.append(f"d = {d}, P = {P}: population (analytic vjp) {r['population_s']:.2f}s, "
                     f"through vmap {r['vmap_population_s']:.2f}s, per-run nn.Module + "
                     f"torch.optim {r['loop_s_scaled']:.2f}s: {r['speedup']:.1f}x "
                     f"(vmap {r['vmap_speedup']:.1f}x; analytic {r['analytic_vs_vmap']:.1f}x "
                     f"faster than vmap), {r['population_gflops']:.2f} GFLOP/s{frac}")
    out["summary"] = ("token-selection attention (n = 20, T = 8, "
                      f"{20 if quick else 200} steps): " + "; ".join(parts))
    return out
