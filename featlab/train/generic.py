r"""Generic population trainer: any registered model family on vector or token data, through
torch.func.

One chunk holds P structurally identical runs: data X (P, n, *input_shape) (vectors (P, n, d),
tokens (P, n, T, d)), y (P, n) and the data model's per-sample extras (the flip indicator, clean
labels: (P, n), ``<name>`` for the training and ``<name>_test`` for the test split, read by the
probes); parameters from the family's ``init`` (P, ...); per-run hyperparameters (P,) tensors. A step is

    loss, f, g = vmap(grad_and_value(L))(params, X, y, w)          (featlab.train.vmapped)
    params <- params + update_g(g)                                  (per-group optimizer)

or, for a family with a batched ``vjp`` (unless ``vmap=True`` forces the line above), f and the
pullback from the family and dL/df from the task (:mod:`featlab.train.analytic`).

with the task's loss (:mod:`featlab.train.tasks`), the training strategies of
:mod:`featlab.train.objective` (label noise on binary tasks, SAM, mixup with the task's soft
labels: mixed +-1 labels, mixed one-hots, mixed regression targets) and the optimizer built per
parameter group with the parametrization's learning-rate multipliers and ``optim.group_lr``
(:func:`featlab.optim.build_grouped`); a family's ``train_steps`` holds a group fixed after its
first k steps. A run stops at its step budget, when its full-batch loss
falls below ``loss_threshold``, or when it diverges (non-finite loss or outputs: marked
``diverged``); stopped runs are frozen, logged once more and dropped once a quarter has stopped.

Probes (:mod:`featlab.probes`) decide what is logged: train/test loss (and 0-1 error where the
task has one), relative weight movement per parameter group and per-layer activation scale.

A denoising task (``Task.corrupt``, the tied denoiser's DDPM loss) trains each step on
(x_t, \epsilon) = corrupt(x_0) with the step's noise from each run's own stream; its logged
train and test losses use one fixed noise draw per run (streams "diffusion_eval" and
"diffusion_test"), so the logged curve moves only with the weights.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch

from featlab import optim
from featlab.config import ConfigError, Setting
from featlab.data import REGISTRY as DATA
from featlab.data import input_shape
from featlab.models import family_of
from featlab.optim.base import tree_select
from featlab.probes import generic_probes, probe_names
from featlab.rng import run_key
from featlab.train import engine
from featlab.train.engine import ChunkResult, RunSpec, log_schedule
from featlab.train.objective import step_gradient, strategy_of
from featlab.train.analytic import analytic_loss_and_grad
from featlab.train.tasks import task_of
from featlab.train.vmapped import vmap_loss_and_grad

__all__ = ["train_chunk", "grad_fn_of", "plan_chunks", "chunk_size_of", "metric_names",
           "check_strategies"]


def _dtype(s: Setting) -> torch.dtype:
    return torch.float64 if s.train.dtype == "float64" else torch.float32


def metric_names(setting: Setting) -> tuple[str, ...]:
    """Names logged for ``setting``: the union of its probes' names."""
    return probe_names(setting)


def check_strategies(setting: Setting) -> None:
    """ConfigError for strategies the generic path does not run (label noise off binary) and for
    a run whose tensors would exceed :func:`featlab.config.memory_limit` (naming model.width when
    the model has one, data.d when its family counts its parameters, else data.n)."""
    from featlab.config import memory_limit, memory_limit_phrase

    need, limit = _run_bytes(setting), memory_limit()
    if need > limit:
        if hasattr(setting.model, "width"):
            name, value = "model.width", setting.model.width
        elif family_of(setting.model).n_params is not None:     # parameters grow with data.d
            name, value = "data.d", setting.data.d
        else:
            name, value = "data.n", setting.data.n
        raise ConfigError(f"{name}={value!r} is invalid: one run needs about {need / 2**30:.1f} GiB, "
                          f"over {memory_limit_phrase()}; make {name} smaller")
    fam = family_of(setting.model)
    if fam.check is not None:
        fam.check(setting)
    o, task = setting.optim, task_of(setting.data, setting.model)
    if o.label_noise > 0 and task.name != "binary":
        raise ConfigError(f"optim.label_noise={o.label_noise!r} is invalid: label flips need +-1 "
                          f"labels, data.kind={setting.data.kind} is a {task.name} task; set "
                          f"optim.label_noise=0")


def _sizes(s: Setting) -> tuple[int, int, int, int]:
    """(bytes per element, input size, parameters, width x depth) of one run: the family's
    ``n_params``, else width^2 per hidden layer."""
    shape = input_shape(s.data)
    size, d = int(np.prod(shape)), shape[-1]
    width = getattr(s.model, "width", d)
    depth = getattr(s.model, "depth", 2)
    fam = family_of(s.model)
    n_params = (fam.n_params(s.model, shape) if fam.n_params is not None
                else width * d + (depth - 2) * width * width + width * 16)
    return _dtype(s).itemsize, size, n_params, width * depth


def _run_bytes(s: Setting) -> int:
    """Rough bytes of one run: train/test data and 8 parameter-sized buffers."""
    item, size, n_params, units = _sizes(s)
    acts = (s.data.n + s.data.n_test) * units
    return item * ((s.data.n + s.data.n_test) * (size + 1) + 8 * n_params + 4 * acts)


def _step_bytes(s: Setting) -> int:
    """Rough bytes one training step of one run touches: its batch, the parameters with their
    gradient and update, the activations of the forward pass and their gradients."""
    item, size, n_params, units = _sizes(s)
    return item * (s.data.n * (size + 1) + 3 * n_params + 3 * s.data.n * units)


def plan_chunks(runs: list[RunSpec], device: str = "cpu", chunk_size: int | None = None,
                memory_budget: float | None = None) -> list[list[RunSpec]]:
    """Structural groups (:func:`featlab.train.engine.plan_chunks`), each split to fit the memory
    budget (CPU 2 GiB, CUDA half the free memory), at most 4096 runs."""
    from featlab.train.population import per_run_fields

    return engine.plan_chunks(runs, lambda s: engine.structural_key(s, per_run_fields(s)),
                              lambda g: chunk_size_of(g[0].setting, device, memory_budget),
                              chunk_size)


#: CPU chunks: the working set of one lockstep step (:func:`_step_bytes` x P) is kept near this,
#: so the elementwise passes between the batched matmuls run from cache. MLP workload (3 layers,
#: width 256, n = 512, P = 256, 20 GD steps, quiet 2-core EPYC): one 143-run chunk 29.6 s, chunks
#: of 32 / 16 / 8 runs 16.6 / 15.7 / 18.4 s; width 32, n = 64: 256 / 64 / 16 runs 0.59 / 1.04 /
#: 2.22 s (small runs want large chunks: the per-op overhead is then shared).
CPU_STEP_BYTES = 32 * 2**20


def chunk_size_of(setting: Setting, device: str = "cpu", memory_budget: float | None = None) -> int:
    """Runs of ``setting`` per chunk: the memory budget over one run's bytes, in [1, 4096]; on
    a CPU also at most max(16, CPU_STEP_BYTES / the step's working set of one run)."""
    fit = max(1, engine.memory_budget(device, memory_budget) // _run_bytes(setting))
    if not str(device).startswith("cuda"):
        fit = min(fit, max(16, CPU_STEP_BYTES // _step_bytes(setting)))
    return int(min(4096, fit))


def _setup(runs: list[RunSpec], device: str):
    s0 = runs[0].setting
    dtype = _dtype(s0)
    fam, task = family_of(s0.model), task_of(s0.data, s0.model)
    sample = DATA[s0.data.kind].sample_run
    train = [sample(r.setting.data, r.seed, s0.data.n, "train", dtype) for r in runs]
    test = [sample(r.setting.data, r.seed, s0.data.n_test, "test", dtype) for r in runs]
    extra = {split: [sample(r.setting.data, r.seed, s0.data.n, split, dtype) for r in runs]
             for p in generic_probes(s0) for split in p.splits}
    X = torch.stack([t["X"] for t in train])                                # (P, n, d)
    shape = tuple(X.shape[2:])
    out_dim = task.out_dim(s0.data)
    per = [fam.init(r.setting.model, [r.seed], shape, dtype, out_dim) for r in runs]
    params = {k: torch.cat([p[k] for p in per]).to(device) for k in per[0]}
    tensor = lambda get, dt=torch.float64: torch.tensor([get(r) for r in runs], dtype=dt)  # noqa: E731
    o = lambda k: (lambda r: getattr(r.setting.optim, k))  # noqa: E731
    hp = {**{k: tensor(o(k)) for k in optim.PER_RUN_HPARAMS},
          **{k: tensor(o(k)) for k in ("label_noise", "sam_rho", "mixup_alpha", "mixup_lambda")},
          "sam_steps": tensor(o("sam_steps"), torch.int64),
          "steps": tensor(lambda r: r.setting.train.steps, torch.int64),
          "threshold": tensor(lambda r: r.setting.train.loss_threshold),
          "key": tensor(lambda r: run_key(r.seed, "batches"), torch.int64),
          "key_ln": tensor(lambda r: run_key(r.seed, "label_noise"), torch.int64),
          "key_mix": tensor(lambda r: run_key(r.seed, "mixup"), torch.int64),
          "key_diff": tensor(lambda r: run_key(r.seed, "diffusion"), torch.int64),
          "key_langevin": tensor(lambda r: run_key(r.seed, "langevin"), torch.int64)}
    hp = {k: v.to(device) for k, v in hp.items()}
    data = {"X": X, "y": torch.stack([t["y"] for t in train]),
            "Xt": torch.stack([t["X"] for t in test]), "yt": torch.stack([t["y"] for t in test])}
    for split, parts in extra.items():
        data[f"X_{split}"] = torch.stack([t["X"] for t in parts])
        data[f"y_{split}"] = torch.stack([t["y"] for t in parts])
    for k in sorted(train[0].keys() - {"X", "y"}):      # per-sample extras (P, n), for probes
        data[k] = torch.stack([t[k] for t in train])
        data[f"{k}_test"] = torch.stack([t[k] for t in test])
    if task.corrupt is not None:        # a denoising task: fixed noise draws for the logged losses
        key = lambda stream: tensor(lambda r: run_key(r.seed, stream), torch.int64)  # noqa: E731
        data["X_eval"], data["y_eval"] = task.corrupt(s0.model, data["X"], key("diffusion_eval"), 0)
        data["Xt"], data["yt"] = task.corrupt(s0.model, data["Xt"], key("diffusion_test"), 0)
    data = {k: v.to(device) for k, v in data.items()}
    groups = fam.param_groups(s0.model)
    mults = fam.lr_multipliers(s0.model, s0.optim.name, shape) if fam.lr_multipliers else {}
    opt = optim.build_grouped(s0.optim, {**{k: hp[k] for k in optim.PER_RUN_HPARAMS},
                                           "noise_key": hp["key_langevin"]}, groups, mults)
    return fam, task, data, params, hp, opt, groups


def _weights(s0: Setting, hp: dict, P: int, n: int, t: int, device) -> torch.Tensor:
    """(P, n) loss weights: 1/n (full batch) or the step's minibatch (the CNN trainer's rule)."""
    from featlab.train.population import _batch_weight

    mask = torch.ones(P, n, dtype=torch.float64, device=device)
    if s0.optim.batch_size == 0:
        return mask / n
    return _batch_weight(SimpleNamespace(batch=SimpleNamespace(mask=mask), hp=hp), s0, t)


def grad_fn_of(fam, model_cfg, task, vmap: bool = False) -> Callable:
    """The step's loss-and-gradient function: the family's batched ``vjp``
    (:func:`featlab.train.analytic.analytic_loss_and_grad`) when it has one and ``vmap`` is not
    forced, else vmap(grad_and_value) of its one-run ``apply``."""
    if fam.vjp is not None and not vmap:
        return analytic_loss_and_grad(fam, model_cfg, task)
    return vmap_loss_and_grad(fam, model_cfg, task)


class _Record:
    """What a chunk logs: the log steps of each step budget, every logged (run, step, metrics)
    row, each run's final metrics, stop step and divergence flag (host-side numpy)."""

    def __init__(self, s0: Setting, budgets: list[int], P: int, names: list[str]) -> None:
        self.names = names
        self.logs: dict[int, list[int]] = {}        # step -> the budgets that log at it
        for budget in sorted(set(budgets)):
            for step in log_schedule(budget, s0.train.log_schedule, s0.train.log_points):
                self.logs.setdefault(step, []).append(budget)
        self.stopped_at, self.diverged = np.full(P, -1), np.zeros(P, dtype=bool)
        self.final = {k: np.full(P, np.nan) for k in names}
        self.run: list[np.ndarray] = []
        self.step: list[np.ndarray] = []
        self.vals: dict[str, list[np.ndarray]] = {k: [] for k in names}

    def due(self, t: int, steps: torch.Tensor, stop: torch.Tensor) -> torch.Tensor:
        """(L,) bool: the runs to log at step t (those whose budget logs now, and those stopping)."""
        due = stop.clone()
        if t in self.logs:
            due |= torch.isin(steps, torch.tensor(self.logs[t], device=steps.device))
        return due

    def add(self, t: int, got: np.ndarray, newly: np.ndarray, vals: dict[str, torch.Tensor]) -> None:
        """Log runs ``got`` (chunk ids) at step t; those in ``newly`` stop here (final values)."""
        self.run.append(got)
        self.step.append(np.full(len(got), t))
        for k in self.names:
            v = vals[k].detach().to(torch.float64).cpu().numpy()
            self.vals[k].append(v)
            self.final[k][got[newly]] = v[newly]

    def stopped(self, t: int, ids: torch.Tensor, stop: torch.Tensor, ok: torch.Tensor) -> None:
        stop_np, ids_np = stop.cpu().numpy(), ids.cpu().numpy()
        self.stopped_at[ids_np[stop_np]] = t
        self.diverged[ids_np[stop_np & ~ok.cpu().numpy()]] = True

    def result(self, runs: list[RunSpec], wall_s: float, device: str) -> ChunkResult:
        return ChunkResult.from_log(runs, self.diverged, self.stopped_at, self.final, self.run,
                                    self.step, self.vals, wall_s=wall_s, device=device)


def _apply_updates(params: dict, updates: dict, active: torch.Tensor | None,
                   limits: dict[str, int], groups: dict[str, str], t: int, T: int) -> None:
    """params[k] += updates[k] for the active runs (``active`` None: every run, in place); a
    group trained for its first k steps only (``limits``) is left alone from step k on."""
    for k, u in updates.items():
        if t >= limits.get(groups.get(k), T + 1):
            continue
        W = params[k]
        if active is not None:                          # frozen runs keep their parameters
            params[k] = torch.where(active.reshape(-1, *([1] * (u.dim() - 1))), W + u, W)
        elif u.shape == W.shape and u.dtype == W.dtype:
            W.add_(u)                                   # no run frozen: in place, same numbers
        else:
            params[k] = W + u


def train_chunk(runs: list[RunSpec], device: str = "cpu",
                on_step: Callable[[int, int], None] | None = None,
                vmap: bool = False) -> ChunkResult:
    """Train one chunk of structurally identical runs in lockstep (module docstring); ``vmap``
    forces the torch.func path for a family that has a batched ``vjp`` (same numbers)."""
    t_start = time.perf_counter()
    s0 = runs[0].setting
    check_strategies(s0)
    P = len(runs)
    fam, task, data, params, hp, opt, groups = _setup(runs, device)
    strategy = strategy_of([r.setting.optim for r in runs])
    grad_fn = grad_fn_of(fam, s0.model, task, vmap)
    mix_labels = task.mix_labels(task.out_dim(s0.data))
    probes = generic_probes(s0)
    rec = _Record(s0, hp["steps"].tolist(), P, metric_names(s0))
    opt_state = opt.init(params)
    limits = fam.train_steps(s0.model) if fam.train_steps is not None else {}
    W0 = {k: v.clone() for k, v in params.items()}
    ids = torch.arange(P, device=device)
    T = int(hp["steps"].max())
    frozen = torch.zeros(P, dtype=torch.bool, device=device)
    n_frozen = 0                                    # runs in ``frozen`` (a host count: no sync)
    n = data["X"].shape[1]
    stochastic = s0.optim.batch_size > 0 or not strategy.plain or task.corrupt is not None
    X_eval, y_eval = ("X_eval", "y_eval") if task.corrupt is not None else ("X", "y")
    thresholds = bool((hp["threshold"] > 0).any())
    budgets = set(hp["steps"].tolist())
    weight = ones = eval_w = None                   # (L, n), rebuilt only when L changes
    for t in range(T + 1):
        L = len(ids)
        if weight is None or weight.shape[0] != L or s0.optim.batch_size > 0:
            weight = _weights(s0, hp, L, n, t, device).to(data["X"].dtype)
            if ones is None or ones.shape[0] != L:
                ones, eval_w = torch.ones_like(weight), torch.full_like(weight, 1.0 / n)
        X_t, y_t = data["X"], data["y"]
        if task.corrupt is not None:                    # the step's DDPM noise, per run
            X_t, y_t = task.corrupt(s0.model, X_t, hp["key_diff"], t)
        batch = SimpleNamespace(X=X_t, y=y_t, mask=ones)
        loss, f, grads = step_gradient(s0.model, strategy, params, batch, weight, hp, t,
                                       need_grad=t < T, grad_fn=grad_fn, mix_labels=mix_labels)
        due_now = t in rec.logs
        if stochastic and (due_now or thresholds):
            loss, f, _ = grad_fn(s0.model, params, data[X_eval], data[y_eval], eval_w, False)
        ok = torch.isfinite(loss) & torch.isfinite(f.reshape(L, -1)).all(1)
        stop = (~ok) | (loss < hp["threshold"])
        if t in budgets:                                # a run stops at its budget exactly
            stop |= t >= hp["steps"]
        if n_frozen:
            stop &= ~frozen
        if due_now or bool(stop.any()):                 # else nothing to log or stop: one sync
            rows = torch.nonzero(rec.due(t, hp["steps"], stop) & ~frozen).squeeze(1)
            if len(rows):
                every = len(rows) == L                  # then the probes see the tensors as they are
                sub = lambda tree: tree if every else tree_select(tree, rows)  # noqa: E731
                ctx = SimpleNamespace(setting=s0, family=fam, task=task, params=sub(params),
                                      W0=sub(W0), groups=groups, data=sub(data), loss=sub(loss),
                                      f=sub(f), hp=sub(hp), step=t)
                vals: dict[str, torch.Tensor] = {}
                for probe in probes:
                    vals.update(probe.compute(ctx))
                rec.add(t, ids[rows].cpu().numpy(), stop[rows].cpu().numpy(), vals)
            rec.stopped(t, ids, stop, ok)
            frozen |= stop
            n_frozen = int(frozen.sum())
        if n_frozen == L or t == T:
            break
        if 4 * n_frozen >= L:                                               # compaction
            keep = torch.nonzero(~frozen).squeeze(1)
            params, W0, data, hp = (tree_select(x, keep) for x in (params, W0, data, hp))
            opt_state, grads = tree_select(opt_state, keep), tree_select(grads, keep)
            ids, frozen, n_frozen = ids[keep], frozen[keep], 0
        updates, opt_state = opt.update(grads, opt_state, params, t)
        _apply_updates(params, updates, (~frozen) if n_frozen else None, limits, groups, t, T)
        if on_step is not None:
            on_step(t, T)
    return rec.result(runs, time.perf_counter() - t_start, str(device))
