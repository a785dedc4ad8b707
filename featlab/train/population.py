r"""Population trainer: P runs stacked on a leading axis, advanced in lockstep.

Every tensor of a chunk carries the population axis first: data X (P, n, K, d), weights
W (P, 2m, d), per-run hyperparameters (P,). One step is two batched matmuls for all runs
(:func:`featlab.models.cnn.loss_and_grad`, through the step objective of
:mod:`featlab.train.objective`: minibatch, label noise, mixup, SAM) and one optimizer update;
with a linear optimizer it is one (nK x nK) matmul in the span of the patches
(:mod:`featlab.train.span`, chosen automatically; W is rebuilt only for diagnostics).
The data come from any registered data model (``featlab.data.REGISTRY``). A run stops when its
train loss falls below its ``loss_threshold``, when it reaches its step budget, or when it
diverges (non-finite loss or gradient); stopped runs are frozen, logged one last time and
dropped from the chunk once enough have stopped (compaction), so they never stall the rest.

Runs are grouped by their *structural* fields (those that fix shapes or code paths, e.g. d,
m, activation, dtype); everything else (n, ||mu||, sigma_p, flip_p, sigma_0, lr, steps, ...)
may differ per run inside a chunk. Chunk sizes are chosen to keep the data cache-resident on
the CPU and within a memory budget on CUDA (:func:`plan_chunks`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from featlab import optim
from featlab.config import ConfigError, Setting, memory_limit
from featlab.data import PatchBatch, sample_batch, sample_run
from featlab.diagnostics.patch_probes import PatchProbeContext, span_moments_apply
from featlab.diagnostics.test_error import TestDraws, draw_test
from featlab.models.cnn import init_params
from featlab.models.cnn import param_groups as cnn_param_groups
from featlab.optim.base import tree_select
from featlab.rng import hash_uniform, run_key
from featlab.train import engine
from featlab.train.engine import ChunkResult, RunSpec, log_schedule
from featlab.train.objective import Strategy, step_gradient, strategy_of
from featlab.train.span import SpanBasis, SpanMoments, loss_and_grad_any, span_eligible

__all__ = ["RunSpec", "ChunkResult", "PER_RUN_FIELDS", "per_run_fields", "structural_key", "check_fits",
           "plan_chunks", "log_schedule", "train_chunk", "METRICS", "metric_names"]

#: Model/optimizer/training fields that may differ between runs of one chunk (all others, and
#: the data fields not in the data model's PER_RUN_FIELDS, define the chunk's structure).
PER_RUN_FIELDS = frozenset({
    "model.sigma_0", "optim.lr", "optim.momentum", "optim.b1", "optim.b2", "optim.eps",
    "optim.decay", "optim.label_noise", "optim.sam_rho", "optim.sam_steps", "optim.mixup_alpha",
    "optim.mixup_lambda", "optim.temperature", "train.steps", "train.loss_threshold",
})

#: Names of the per-step diagnostics every data model logs, in logging order (plus
#: :func:`metric_names`' data-model-specific ones).
METRICS = ("train_loss", "train_error", "step_loss", "train_error_clean", "train_error_flipped",
           "ln2_precision", "ln2_recall", "test_loss", "test_error", "test_error_noisy",
           "gamma_max", "gamma_max_pos", "gamma_max_neg", "rho_max", "rho_mean", "rho_pos_max",
           "rho_neg_max", "decomp_residual", "weight_movement")


def metric_names(setting: Setting) -> tuple[str, ...]:
    """The names the setting's probes log (:func:`featlab.probes.probe_names`): for the two-layer
    CNN METRICS, then gamma_<feature> (several features) and train/test_error_<group>
    (:mod:`featlab.diagnostics.patch_probes`); a family on the generic path logs its own."""
    from featlab.probes import probe_names
    return probe_names(setting)


def per_run_fields(setting: Setting) -> frozenset[str]:
    """Dotted fields of ``setting`` that may differ inside one chunk: the optimizer/training ones
    of PER_RUN_FIELDS and those its data and model configs declare (``PER_RUN_FIELDS``)."""
    return _per_run_fields(type(setting.data), type(setting.model))


@functools.cache
def _per_run_fields(data_cls: type, model_cls: type) -> frozenset[str]:
    model = getattr(model_cls, "PER_RUN_FIELDS", frozenset())
    return (frozenset(k for k in PER_RUN_FIELDS if not k.startswith("model."))
            | {f"data.{k}" for k in getattr(data_cls, "PER_RUN_FIELDS", ())}
            | {f"model.{k}" for k in model})


def structural_key(setting: Setting) -> tuple:
    """Fields that must agree within a chunk (:func:`featlab.train.engine.structural_key`)."""
    return engine.structural_key(setting, per_run_fields(setting))


def _dtype(setting: Setting) -> torch.dtype:
    return torch.float64 if setting.train.dtype == "float64" else torch.float32


def _run_bytes(s: Setting) -> tuple[int, int]:
    """(data bytes, total bytes) of one run's tensors."""
    item = _dtype(s).itemsize
    n, d, M = s.data.n, s.data.d, 2 * s.model.m
    K = _patches(s)
    data = item * n * K * d
    test = item * s.data.n_test * (K * d if s.train.test_estimator == "sample" else M + 2)
    return data, data + test + item * (6 * M * d + 6 * n * K * M)


def check_fits(runs: list[RunSpec]) -> None:
    """ConfigError naming data.d or data.n if one run's tensors, plus the float64 draw of its noise
    and that draw's projection (16 n K d bytes), exceed :func:`featlab.config.memory_limit`: such a
    run would fail to allocate mid-sweep. One estimate per distinct (data, m, dtype, estimator)."""
    seen, limit = set(), memory_limit()
    for r in runs:
        s = r.setting
        if not _analytic(s):                            # generic path: strategies it can run
            from featlab.train.generic import check_strategies
            check_strategies(s)
            continue
        key = (s.data, s.model.m, s.train.dtype, s.train.test_estimator)
        if key in seen:
            continue
        seen.add(key)
        data_b, total_b = _run_bytes(s)                  # data_b = itemsize x n K d
        n, d = s.data.n, s.data.d
        need = total_b + 16 * data_b // _dtype(s).itemsize
        if need > limit:
            name, value = ("data.d", d) if d >= n else ("data.n", n)
            raise ConfigError(f"{name}={value!r} is invalid: one run needs about {need / 2**30:.1f} GiB "
                              f"(n = {n} samples x d = {d}, 2m = {2 * s.model.m} filters), over this "
                              f"machine's limit of {limit / 2**30:.1f} GiB (half its memory); make {name} "
                              f"smaller")


def _patches(s: Setting) -> int:
    """Number of patches K of the data model (from one tiny draw for models other than signal_noise)."""
    if s.data.kind == "signal_noise":
        return 2
    return int(sample_run(s.data, 0, 1, "test")["X"].shape[1])


def plan_chunks(runs: list[RunSpec], device: str = "cpu", chunk_size: int | None = None,
                memory_budget: float | None = None, span: bool | None = None) -> list[list[RunSpec]]:
    """Group runs by structural key (order kept) and split each group into chunks.

    CPU, primal path: about 8 MB of training data per chunk, at least 16 runs (the batched
    matmuls stay in cache; measured 1.3-3x faster than 24-100 MB chunks). CPU, span path
    (:func:`featlab.train.span.span_eligible`): the loop touches only the Gram matrices and the
    (2m, nK) coefficient tensors, so the chunk is sized by those (about 32 MB of them, up to
    4096 runs: the per-op overhead is then spread over thousands of runs) within the memory
    budget. CUDA: half of the free memory. ``chunk_size`` overrides all; ``span=False``: size
    for the primal path (the chunks will be trained with ``train_chunk(..., span=False)``).
    """
    def size_of(group: list[RunSpec]) -> int:
        s0 = group[0].setting
        if not _analytic(s0):                           # a family on the generic path
            from featlab.train import generic
            return generic.chunk_size_of(s0, device, memory_budget)
        n_max = max(r.setting.data.n for r in group)
        data_b, total_b = _run_bytes(s0)
        data_b = data_b * n_max // s0.data.n
        total_b = total_b + data_b
        budget = engine.memory_budget(device, memory_budget)
        if str(device).startswith("cuda"):
            return int(min(65536, max(1, budget // total_b)))
        fit = max(1, budget // total_b)
        nK, M = n_max * _patches(s0), 2 * s0.model.m
        strategy = strategy_of([r.setting.optim for r in group])
        if span is not False and span_eligible(s0, strategy.mixup, strategy.sam, nK):
            step_b = _dtype(s0).itemsize * (nK * nK + 4 * M * nK)
            return int(min(4096, max(16, 32 * 2**20 // step_b), fit))
        return int(min(4096, max(16, 8 * 2**20 // data_b), fit))

    return engine.plan_chunks(runs, structural_key, size_of, chunk_size)


# ------------------------------------------------------------------------------ chunk state

@dataclass
class _Chunk:
    """The live tensors of a chunk (rows = runs still training)."""

    ids: torch.Tensor                        # (L,) original run index
    batch: PatchBatch
    params: dict[str, torch.Tensor]
    W0: torch.Tensor
    opt_state: object
    draws: TestDraws
    hp: dict[str, torch.Tensor] = field(default_factory=dict)  # per-run tensors (L,)
    strategy: Strategy = Strategy()
    span: SpanBasis | None = None            # params are {"C", "b"} in the span representation
    moments: SpanMoments | None = None       # span: what the diagnostics need of W_0 and X

    def select(self, keep: torch.Tensor) -> "_Chunk":
        return _Chunk(self.ids[keep], self.batch.select(keep), tree_select(self.params, keep),
                      self.W0[keep], tree_select(self.opt_state, keep), self.draws.select(keep),
                      {k: v[keep] for k, v in self.hp.items()}, self.strategy,
                      None if self.span is None else self.span.select(keep),
                      None if self.moments is None else self.moments.select(keep))

    def primal(self) -> dict[str, torch.Tensor]:
        """{"W": (L, 2m, d), "b": (L, 2m)}, rebuilt as W_0 + C X in the span representation."""
        if self.span is None:
            return self.params
        return {"W": self.span.weights(self.params["C"], self.W0), "b": self.params["b"]}


def _clock(device: str) -> float:
    """perf_counter after the device's queued work is done (phase boundaries only)."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def _setup(runs: list[RunSpec], device: str, span: bool | None = None, vmap: bool = False,
           phases: dict[str, float] | None = None) -> tuple[_Chunk, optim.Transform]:
    """Sample, initialize and place a chunk; ``span``: train in the span representation
    (None: when :func:`featlab.train.span.span_eligible`); ``phases`` gets the seconds of
    "sampling" (training data and test draws) and "init" (parameters, placement, span basis)."""
    t0 = _clock(device)
    s0 = runs[0].setting
    dtype = _dtype(s0)
    seeds = [r.seed for r in runs]
    batch = sample_batch([r.setting.data for r in runs], seeds, "train", dtype)
    draws = draw_test(s0.train.test_estimator, [r.setting.data for r in runs], seeds,
                      s0.train.n_mc or s0.data.n_test, s0.model.m, dtype)
    t1 = _clock(device)
    params = init_params(s0.model, [r.setting.model.sigma_0 for r in runs], seeds, s0.data.d, dtype)
    per_run = lambda get, dt=torch.float64: torch.tensor([get(r) for r in runs], dtype=dt)  # noqa: E731
    o = lambda k: (lambda r: getattr(r.setting.optim, k))  # noqa: E731
    hp = {
        **{k: per_run(o(k)) for k in optim.PER_RUN_HPARAMS},
        **{k: per_run(o(k)) for k in ("label_noise", "sam_rho", "mixup_alpha", "mixup_lambda")},
        "sam_steps": per_run(o("sam_steps"), torch.int64),
        "steps": per_run(lambda r: r.setting.train.steps, torch.int64),
        "threshold": per_run(lambda r: r.setting.train.loss_threshold),
        "sigma_p": per_run(lambda r: getattr(r.setting.data, "sigma_p", 1.0)),
        "orthogonal": per_run(lambda r: getattr(r.setting.data, "noise", "") == "orthogonal",
                              torch.bool),
        "flipped": per_run(lambda r: r.setting.data.flip_p > 0, torch.bool),
        "key": per_run(lambda r: run_key(r.seed, "batches"), torch.int64),
        "key_ln": per_run(lambda r: run_key(r.seed, "label_noise"), torch.int64),
        "key_mix": per_run(lambda r: run_key(r.seed, "mixup"), torch.int64),
        "key_langevin": per_run(lambda r: run_key(r.seed, "langevin"), torch.int64),
    }
    batch, draws = batch.to(device), draws.to(device)
    params = {k: v.to(device) for k, v in params.items()}
    hp = {k: v.to(device) for k, v in hp.items()}
    strategy = strategy_of([r.setting.optim for r in runs])
    eligible = span_eligible(s0, strategy.mixup, strategy.sam, batch.X.shape[1] * batch.X.shape[2])
    if vmap:                                            # the generic path is primal only
        eligible = False
    if span and not eligible:
        raise ValueError("span=True needs gd/sgd/momentum/nesterov without weight decay, clipping, "
                         "mixup or SAM, and n K <= d; use span=None to choose automatically")
    use_span = eligible if span is None else span
    W0 = params["W"] if use_span else params["W"].clone()   # the span never updates W
    basis = moments = None
    if use_span:
        basis = SpanBasis.build(batch.X, W0)
        params = {"C": basis.zero_coefficients(W0.shape[1]), "b": params["b"]}
        if span_moments_apply(s0, batch):
            moments = SpanMoments.build(basis.X, W0, batch.mu[:, 0])
    groups = cnn_param_groups(s0.model)                 # W: "input", b: "bias" (span: C is W's)
    if basis is not None:
        groups = {("C" if k == "W" else k): g for k, g in groups.items()}
    opt = optim.build_grouped(s0.optim, {**{k: hp[k] for k in optim.PER_RUN_HPARAMS},
                                           "noise_key": hp["key_langevin"]}, groups)
    chunk = _Chunk(torch.arange(len(runs), device=device), batch, params, W0,
                   opt.init(params), draws, hp, strategy, basis, moments)
    if phases is not None:
        phases["sampling"] = phases.get("sampling", 0.0) + t1 - t0
        phases["init"] = phases.get("init", 0.0) + _clock(device) - t1
    return chunk, opt


def _batch_weight(c: _Chunk, s0: Setting, t: int) -> torch.Tensor:
    """(L, n) loss weights: mask/n (full batch) or the step's minibatch (1/|B| on chosen samples)."""
    mask = c.batch.mask
    n_eff = mask.sum(1)
    if s0.optim.batch_size == 0:
        return mask / n_eff[:, None]
    B = s0.optim.batch_size
    L, n = mask.shape
    if s0.optim.replacement:
        u = hash_uniform(c.hp["key"], t, (B,)).to(mask.device)             # (L, B)
        idx = (u * n_eff[:, None].double()).long().clamp_max(n - 1)
        counts = torch.zeros_like(mask).scatter_add_(1, idx, torch.ones_like(idx, dtype=mask.dtype))
        return counts / B
    per_epoch = torch.ceil(n_eff / B).long()                                # (L,)
    epoch = t // per_epoch
    k = t % per_epoch
    u = hash_uniform(c.hp["key"], epoch, (n,)).to(mask.device)             # (L, n)
    u = torch.where(mask > 0, u, torch.full_like(u, 2.0))
    rank = torch.argsort(torch.argsort(u, dim=1), dim=1)                    # (L, n) position in perm
    lo = (k * B)[:, None]
    hi = torch.minimum((k + 1) * B, n_eff.long())[:, None]
    chosen = ((rank >= lo) & (rank < hi)).to(mask.dtype)
    return chosen / chosen.sum(1, keepdim=True)


def _diagnostics(c: _Chunk, s0: Setting, rows: torch.Tensor, loss: torch.Tensor,
                 f: torch.Tensor, step: int, step_loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """All metric_names(s0) for the live rows ``rows``, from the setting's probes (loss, f from
    a full-batch forward on the training labels; step_loss: the loss of the step's objective,
    see train.objective). A span chunk's probes run on its moments (no W rebuilt)."""
    from featlab.probes import generic_probes

    sub = c if len(rows) == len(c.ids) else c.select(rows)
    ctx = PatchProbeContext(s0, sub.batch, sub.draws, sub.hp, sub.params, sub.W0, sub.span,
                            sub.moments, loss[rows], step_loss[rows], f[rows], step)
    out: dict[str, torch.Tensor] = {}
    for probe in generic_probes(s0):
        out.update(probe.compute(ctx))
    names = metric_names(s0)
    stacked = torch.stack([out[k].to(torch.float64) for k in names]).cpu()   # one transfer
    return dict(zip(names, stacked))


def _finite_rows(loss: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """(L,) runs whose loss and outputs are finite. Non-finite weights or gradients show up in
    f at the next step at the latest, so this O(P n) check replaces an O(P m d) scan."""
    return torch.isfinite(loss) & torch.isfinite(f).all(1)


def train_chunk(runs: list[RunSpec], device: str = "cpu",
                on_step: Callable[[int, int], None] | None = None, span: bool | None = None,
                vmap: bool = False) -> ChunkResult:
    """Train one chunk of structurally identical runs in lockstep; see the module docstring.
    ``span``: force (True) or forbid (False) the span representation; None chooses it when
    eligible (:mod:`featlab.train.span`). ``vmap``: take gradients through the generic
    torch.func path (:mod:`featlab.train.vmapped`) instead of the analytic one (same numbers).
    Families other than the two-layer CNN train in :mod:`featlab.train.generic` (there
    ``vmap`` forces the torch.func path for a family with a batched ``vjp``)."""
    s0 = runs[0].setting
    if not _analytic(s0):
        from featlab.train import generic
        return generic.train_chunk(runs, device, on_step, vmap=vmap)
    t_start = time.perf_counter()
    P = len(runs)
    phases: dict[str, float] = {}
    c, opt = _setup(runs, device, span, vmap, phases)
    t_loop = _clock(device)
    diag_s = 0.0
    grad_fn = loss_and_grad_any
    if vmap:
        from featlab.models import family_of
        from featlab.train.tasks import task_of
        from featlab.train.vmapped import vmap_loss_and_grad
        grad_fn = vmap_loss_and_grad(family_of(s0.model), s0.model, task_of(s0.data, s0.model))
    T = int(c.hp["steps"].max())
    logs: dict[int, list[int]] = {}                    # step -> budgets whose schedule has it
    for budget in sorted(set(c.hp["steps"].tolist())):
        for step in log_schedule(budget, s0.train.log_schedule, s0.train.log_points):
            logs.setdefault(step, []).append(budget)
    stopped_at = np.full(P, -1)
    diverged = np.zeros(P, dtype=bool)
    names = metric_names(s0)
    final: dict[str, np.ndarray] = {k: np.full(P, np.nan) for k in names}
    rec_run, rec_step, rec_vals = [], [], {k: [] for k in names}
    frozen = torch.zeros(P, dtype=torch.bool, device=device)               # live rows done
    any_frozen = False
    flops, M, d = 0.0, 2 * s0.model.m, s0.data.d
    sgd = s0.optim.batch_size > 0                       # minibatch gradients
    stochastic = sgd or not c.strategy.plain            # step loss != full-batch training loss
    grad_evals = 2 if c.strategy.sam else 1
    thresholds = bool((c.hp["threshold"] > 0).any())
    next_budget = int(c.hp["steps"].min())              # no run reaches its budget before this
    weight = None
    for t in range(T + 1):
        if sgd or weight is None:
            weight = _batch_weight(c, s0, t)            # GD: fixed mask / n_p, cached
        loss, f, grads = step_gradient(s0.model, c.strategy, c.params, c.batch, weight, c.hp, t,
                                       need_grad=t < T, span=c.span, grad_fn=grad_fn)
        L, n, K = c.batch.X.shape[:3]
        if c.span is None:                              # forward + backward matmul
            flops += (2 * grad_evals if t < T else 1) * 2 * L * n * K * d * M
        else:                                           # (X X^T) C^T only
            flops += 2 * L * (n * K) ** 2 * M
        if stochastic and (t in logs or thresholds):
            full = c.batch.mask / c.batch.mask.sum(1, keepdim=True)
            loss_full, f, _ = grad_fn(s0.model, c.params, c.batch.X, c.batch.y, full,
                                      False, span=c.span)
        else:
            loss_full = loss
        # fast path: no log due, no budget reached, no threshold, everything finite
        quiet = (t not in logs and t < next_budget and not thresholds
                 and bool(torch.isfinite(loss_full.sum() + f.sum())))
        if not quiet:
            ok = _finite_rows(loss_full, f)
            stop = (~ok) | (loss_full < c.hp["threshold"]) | (t >= c.hp["steps"])
            stop &= ~frozen
            due = stop.clone()
            if t in logs:                               # each run logs on its own schedule
                due |= torch.isin(c.hp["steps"], torch.tensor(logs[t], device=device))
            rows = torch.nonzero(due & ~frozen).squeeze(1)
            if len(rows):
                t_diag = _clock(device)
                vals = _diagnostics(c, s0, rows, loss_full, f, t, loss)
                diag_s += time.perf_counter() - t_diag
                ids = c.ids[rows].cpu().numpy()
                rec_run.append(ids)
                rec_step.append(np.full(len(ids), t))
                newly = stop[rows].cpu().numpy()
                for k in names:
                    rec_vals[k].append(vals[k].numpy())
                    final[k][ids[newly]] = vals[k].numpy()[newly]
            stopped_at[c.ids[stop].cpu().numpy()] = t
            diverged[c.ids[stop & ~ok].cpu().numpy()] = True
            frozen |= stop
            if bool(frozen.all()):
                break
            if frozen.float().mean() >= 0.25:                               # compaction
                keep = torch.nonzero(~frozen).squeeze(1)
                c = c.select(keep)
                grads = tree_select(grads, keep)
                frozen = frozen[keep]
                weight = None
            any_frozen = bool(frozen.any())
            next_budget = int(c.hp["steps"][~frozen].min())
        updates, c.opt_state = opt.update(grads, c.opt_state, c.params, t)
        if any_frozen:                                  # v += active * u
            active = (~frozen).to(c.W0.dtype)
            for k, u in updates.items():
                c.params[k].addcmul_(u, active.reshape(-1, *([1] * (u.dim() - 1))))
        else:
            for k, u in updates.items():
                c.params[k].add_(u)
        if on_step is not None:
            on_step(t, T)
    phases["diagnostics"] = diag_s
    phases["steps"] = _clock(device) - t_loop - diag_s
    return ChunkResult.from_log(runs, diverged, stopped_at, final, rec_run, rec_step, rec_vals,
                                 wall_s=time.perf_counter() - t_start, device=str(device), flops=flops,
                                 span=c.span is not None, phases=phases)


def _analytic(setting: Setting) -> bool:
    """Whether a setting trains here (the two-layer CNN on patch data, analytic or span path)."""
    return getattr(setting.model, "kind", None) == "two_layer_cnn"


def run_population(runs: list[RunSpec], device: str = "cpu", chunk_size: int | None = None,
                   span: bool | None = None) -> list[ChunkResult]:
    """Train all ``runs`` (chunked); convenience wrapper without a store."""
    return [train_chunk(ch, device, span=span) for ch in plan_chunks(runs, device, chunk_size)]

