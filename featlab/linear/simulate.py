r"""Population simulator for linear models: P runs (seeds x grid points) on a leading axis, in lockstep.

Write the math for one run, then batch it. One run (see :mod:`featlab.linear.config`):

* data: :math:`x_k \sim N(0, H)`, :math:`y_k = \langle x_k, w^*\rangle + \varepsilon_k`, k = 1..n
  (one-pass SGD: n = steps x B, batch t is samples tB..tB+B-1, each used once);
* features :math:`z_k = A^\top x_k \in \mathbb R^F` (A = I for the linear model, F = p; a Gaussian
  sketch / random-feature matrix with N(0, 1/M) entries otherwise, F = M), or ReLU random features
  :math:`z_k = \mathrm{relu}(A^\top x_k)` with N(0, 1/p) entries (``relu_rf``);
* fit :math:`\theta \in \mathbb R^F` by SGD, GD, ridge or min-norm;
* measure the excess risk *exactly given* :math:`\theta` (no test sample):
  :math:`E_x\langle x, A\theta - w^*\rangle^2 = \sum_i \lambda_i (A\theta - w^*)_i^2`, and the test MSE
  ``risk`` = excess + sigma^2; for ``relu_rf`` the excess is
  :math:`\theta^\top K\theta - 2\theta^\top c + w^{*\top}Hw^*` with the exact feature moments K, c of
  :mod:`featlab.theory.linear.random_features`. SGD also logs the Polyak average :math:`\bar\theta_t = \frac1{t+1}\sum_{u\le t}\theta_u`
  (``excess_risk_avg``, the iterate of Zou et al. 2021) and the tail average of the second half,
  :math:`\frac{1}{t - s + 1}\sum_{u=s}^{t}\theta_u` with :math:`s = \lfloor (t+1)/2\rfloor`
  (``excess_risk_tail``; the exact theory is ``sgd_averaged_risk(start=s, N=t-s+1)``); GD, ridge and min-norm log ``train_loss``
  :math:`\frac1n\|y - Z\theta\|^2`.

Batched: Z (P, n, F), y (P, n), theta (P, F), per-run step sizes (P, T), spectra (P, p). Each run draws
its data from ``featlab.rng.generator(seed, "data")`` (x), ``(seed, "noise")`` (epsilon) and
``(seed, "features")`` (A), on the CPU, so a run's numbers do not depend on its chunk or device.
Runs that reach a non-finite risk are marked ``diverged``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from featlab.linalg import spd_solve
from featlab.linear.config import LinearSetting, spectrum, target
from featlab.rng import generator
from featlab.theory.linear import schedule as step_schedule
from featlab.theory.linear.random_features import relu_feature_moments
from featlab.train import engine
from featlab.train.engine import ChunkResult, RunSpec, log_schedule

__all__ = ["PER_RUN_FIELDS", "structural_key", "plan_chunks", "train_chunk", "sample_features",
           "sample_data", "step_sizes", "metric_names"]

#: Fields that may differ between the runs of one chunk (they change no tensor shape or code path).
PER_RUN_FIELDS = frozenset({
    "data.spectrum", "data.a", "data.c", "data.spikes", "data.spike", "data.tail", "data.target",
    "data.b", "data.r2", "data.sigma2", "optim.lr", "optim.schedule", "optim.t0", "optim.power",
    "optim.lam_reg",
})


def metric_names(setting: LinearSetting) -> tuple[str, ...]:
    """Names of the logged metrics for this optimizer."""
    extra = ("excess_risk_avg", "excess_risk_tail") if setting.optim.name == "sgd" else ("train_loss",)
    return ("excess_risk", "risk", *extra)


def structural_key(setting: LinearSetting) -> tuple:
    """Fields that must agree within a chunk (:func:`featlab.train.engine.structural_key`)."""
    return engine.structural_key(setting, PER_RUN_FIELDS)


def plan_chunks(runs: list[RunSpec], device: str = "cpu", chunk_size: int | None = None,
                memory_budget: float | None = None) -> list[list[RunSpec]]:
    """Group runs by structural key (order kept); split groups so a chunk's data fit the budget
    (CPU default 2 GiB, like the CNN trainer's budget: one-pass SGD pre-draws all n samples of a
    run, so 256 MiB gave chunks of 2 runs at p = 400, n = 40,000; CUDA half the free memory).
    ``chunk_size`` overrides."""
    def size_of(group: list[RunSpec]) -> int:
        s = group[0].setting
        per_run = s.run_bytes(peak=False) // (1 if s.train.dtype == "float64" else 2)
        return int(max(1, min(4096, engine.memory_budget(device, memory_budget) // per_run)))

    return engine.plan_chunks(runs, structural_key, size_of, chunk_size)


# ----------------------------------------------------------------------------- one run's draws

def sample_features(setting: LinearSetting, seed: int) -> np.ndarray | None:
    """A (p, M) with N(0, 1/M) entries (N(0, 1/p) for ``relu_rf``) from stream (seed, "features");
    None for the linear model."""
    if setting.model.name == "linear":
        return None
    p, M = setting.data.p, setting.model.M
    g = generator(seed, "features")
    scale = p if setting.model.name == "relu_rf" else M
    return (torch.randn(p, M, generator=g, dtype=torch.float64) / scale**0.5).numpy()


def sample_data(setting: LinearSetting, seed: int, n: int, dtype: torch.dtype = torch.float64
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One run's n training samples: features Z = X A (n, F) and labels y (n,).

    x_k = sqrt(lambda) * g_k with g_k ~ N(0, I_p) from stream (seed, "data"); eps_k ~ N(0, sigma2)
    from (seed, "noise"); samples are drawn in blocks so a long SGD run never holds X (n, p) at once.
    """
    d = setting.data
    lam = torch.as_tensor(spectrum(d))
    w = torch.as_tensor(target(d))
    A = sample_features(setting, seed)
    A = None if A is None else torch.as_tensor(A)
    gx, ge = generator(seed, "data"), generator(seed, "noise")
    block = max(1, (1 << 21) // d.p)
    Z, y = [], []
    for lo in range(0, n, block):
        m = min(block, n - lo)
        X = torch.randn(m, d.p, generator=gx, dtype=torch.float64) * lam.sqrt()       # (m, p)
        y.append(X @ w + d.sigma2**0.5 * torch.randn(m, generator=ge, dtype=torch.float64))
        Z.append(X if A is None else X @ A)                                            # (m, F)
    if setting.model.name == "relu_rf":
        Z = [torch.relu(z) for z in Z]
    return torch.cat(Z).to(dtype), torch.cat(y).to(dtype)


def step_sizes(setting: LinearSetting) -> np.ndarray:
    """(T,) SGD step sizes gamma_0..gamma_{T-1}, from :func:`featlab.theory.linear.schedule`."""
    o, T = setting.optim, setting.train.steps
    kw = {"t0": o.t0, "p": o.power} if o.schedule == "poly" else {}
    return step_schedule(o.schedule, o.lr, T, **kw)


# ----------------------------------------------------------------------------- the chunk

def _stack(runs: list[RunSpec], device: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    s0 = runs[0].setting
    n = s0.samples
    draws = [sample_data(r.setting, r.seed, n, dtype) for r in runs]
    feats = [sample_features(r.setting, r.seed) for r in runs]
    out = {
        "Z": torch.stack([z for z, _ in draws]),                                           # (P, n, F)
        "y": torch.stack([y for _, y in draws]),                                           # (P, n)
        "lam": torch.tensor(np.stack([spectrum(r.setting.data) for r in runs]), dtype=dtype),  # (P, p)
        "w_star": torch.tensor(np.stack([target(r.setting.data) for r in runs]), dtype=dtype),
        "sigma2": torch.tensor([r.setting.data.sigma2 for r in runs], dtype=dtype),      # (P,)
    }
    if s0.model.name == "relu_rf":                      # exact test-risk moments of each run's features
        mom = [relu_feature_moments(A, spectrum(r.setting.data), target(r.setting.data))
               for A, r in zip(feats, runs)]
        out["K"] = torch.tensor(np.stack([m.K for m in mom]), dtype=dtype)                  # (P, F, F)
        out["c"] = torch.tensor(np.stack([m.c for m in mom]), dtype=dtype)                  # (P, F)
        out["target_var"] = torch.tensor([m.target_var for m in mom], dtype=dtype)          # (P,)
    elif feats[0] is not None:
        out["A"] = torch.tensor(np.stack(feats), dtype=dtype)                               # (P, p, F)
    if s0.optim.name == "sgd":
        out["gamma"] = torch.tensor(np.stack([step_sizes(r.setting) for r in runs]), dtype=dtype)
    else:
        out["lr"] = torch.tensor([r.setting.optim.lr for r in runs], dtype=dtype)
        out["lam_reg"] = torch.tensor([r.setting.optim.lam_reg if r.setting.optim.name == "ridge" else 0.0
                                       for r in runs], dtype=dtype)
    return {k: v.to(device) for k, v in out.items()}


def _excess(theta: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
    """(P,) sum_i lambda_i (A theta - w*)_i^2, exact given theta (P, F) (ReLU features: theta^T K theta
    - 2 theta^T c + w*^T H w*)."""
    if "K" in c:
        quad = (torch.bmm(c["K"], theta[:, :, None])[:, :, 0] * theta).sum(1)
        return quad - 2 * (c["c"] * theta).sum(1) + c["target_var"]
    w = theta if "A" not in c else torch.bmm(c["A"], theta[:, :, None])[:, :, 0]        # (P, p)
    return (c["lam"] * (w - c["w_star"]) ** 2).sum(1)


def _train_loss(theta: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
    r = torch.bmm(c["Z"], theta[:, :, None])[:, :, 0] - c["y"]                            # (P, n)
    return (r**2).mean(1)


def _solve(c: dict[str, torch.Tensor]) -> torch.Tensor:
    r"""Ridge :math:`(Z^\top Z + n\lambda I)^{-1}Z^\top y` (primal, F <= n) or
    :math:`Z^\top(ZZ^\top + n\lambda I)^{-1}y` (dual, F > n); lambda = 0 is the min-norm solution."""
    Z, y = c["Z"], c["y"]
    P, n, F = Z.shape
    reg = (n * c["lam_reg"])[:, None, None]
    if F <= n:
        G = Z.transpose(1, 2) @ Z + reg * torch.eye(F, dtype=Z.dtype, device=Z.device)
        return spd_solve(G, Z.transpose(1, 2) @ y[:, :, None])[:, :, 0]
    G = Z @ Z.transpose(1, 2) + reg * torch.eye(n, dtype=Z.dtype, device=Z.device)
    return (Z.transpose(1, 2) @ spd_solve(G, y[:, :, None]))[:, :, 0]


def train_chunk(runs: list[RunSpec], device: str = "cpu",
                on_step: Callable[[int, int], None] | None = None) -> ChunkResult:
    """Fit one chunk of structurally identical runs; returns their logs as a ChunkResult."""
    t_start = time.perf_counter()
    s0: LinearSetting = runs[0].setting
    dtype = torch.float64 if s0.train.dtype == "float64" else torch.float32
    c = _stack(runs, device, dtype)
    P, n, F = c["Z"].shape
    names = metric_names(s0)
    logs: list[tuple[int, dict[str, torch.Tensor]]] = []
    theta = torch.zeros(P, F, dtype=dtype, device=device)

    def record(step: int, theta: torch.Tensor, extra: dict[str, torch.Tensor]) -> None:
        ex = _excess(theta, c)
        logs.append((step, {"excess_risk": ex, "risk": ex + c["sigma2"], **extra}))

    if s0.optim.name in ("ridge", "minnorm"):
        theta = _solve(c)
        record(1, theta, {"train_loss": _train_loss(theta, c)})
        T, flops = 1, 2.0 * P * n * F * min(n, F)
        if on_step is not None:
            on_step(0, 1)
    else:
        T = s0.train.steps
        due = set(log_schedule(T, s0.train.log_schedule, s0.train.log_points))
        B = s0.optim.batch_size
        theta_sum = torch.zeros_like(theta)
        snap_at = {(t + 1) // 2 - 1 for t in due}          # prefix sums the tail averages subtract
        snaps = {-1: torch.zeros_like(theta)}
        for t in range(T + 1):
            if s0.optim.name == "sgd":
                theta_sum += theta                          # sum_{u <= t} theta_u
                if t in snap_at:
                    snaps[t] = theta_sum.clone()
                if t in due:
                    start = (t + 1) // 2
                    tail = (theta_sum - snaps[start - 1]) / (t - start + 1)
                    record(t, theta, {"excess_risk_avg": _excess(theta_sum / (t + 1), c),
                                      "excess_risk_tail": _excess(tail, c)})
                if t == T:
                    break
                zb = c["Z"][:, t * B:(t + 1) * B]                                           # (P, B, F)
                r = torch.bmm(zb, theta[:, :, None])[:, :, 0] - c["y"][:, t * B:(t + 1) * B]   # (P, B)
                grad = torch.bmm(zb.transpose(1, 2), r[:, :, None])[:, :, 0] / B              # (P, F)
                theta = theta - c["gamma"][:, t:t + 1] * grad
            else:
                if t in due:
                    record(t, theta, {"train_loss": _train_loss(theta, c)})
                if t == T:
                    break
                r = torch.bmm(c["Z"], theta[:, :, None])[:, :, 0] - c["y"]                  # (P, n)
                grad = torch.bmm(c["Z"].transpose(1, 2), r[:, :, None])[:, :, 0] / n
                theta = theta - c["lr"][:, None] * grad
            if on_step is not None:
                on_step(t, T)
        flops = 4.0 * P * F * (T * B if s0.optim.name == "sgd" else T * n)
    steps = np.array([s for s, _ in logs])
    values = {k: torch.stack([v[k] for _, v in logs]).to(torch.float64).cpu().numpy() for k in names}
    final = {k: v[-1].copy() for k, v in values.items()}                                    # (P,)
    diverged = ~np.isfinite(values["excess_risk"]).all(0)
    return ChunkResult(
        runs=list(runs), status=["diverged" if dv else "done" for dv in diverged],
        steps=np.full(P, T), final=final,
        log_run=np.tile(np.arange(P), len(steps)).astype(np.int64),
        log_step=np.repeat(steps, P).astype(np.int64),
        log_values={k: v.reshape(-1) for k, v in values.items()},
        wall_s=time.perf_counter() - t_start, device=str(device), flops=flops)
