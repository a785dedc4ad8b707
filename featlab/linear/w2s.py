r"""Weak-to-strong training on the linear simulator: a weak teacher labels data for a strong student.

One run (see :mod:`featlab.theory.linear.w2s` for the exact expected risks):

* data as in :mod:`featlab.linear.config` (``LinearData``): x ~ N(0, H) in H's eigenbasis,
  y = <theta^*, x> + eps; ``data.n`` is the number of labelled samples the *teacher* sees;
* the student's features S = the first q coordinates (``model.student_q``, the strong model);
  the teacher's features T = the first ``model.teacher_shared`` coordinates (shared with the
  student) plus ``model.teacher_extra`` coordinates right after S (features the student lacks);
* the teacher is least squares on T from n labelled samples (streams (seed, "data"), (seed,
  "noise")); the student is least squares on S from N = ``optim.N`` fresh samples (stream
  (seed, "student")) labelled by the teacher's predictions (``optim.labels="teacher"``) or by
  the truth (``"true"``, the strong-label baseline, same inputs);
* measured exactly given the fitted weights (no test sample): the student's excess risk
  sum_{i in S} lambda_i (beta_i - theta^*_i)^2 + sum_{i not in S} t_i, the teacher's, and the
  student's N -> infinity limit given its teacher (``student_limit``; ``gap`` = excess - limit).

Only the coordinates in S \cup T are drawn; the coordinates beyond them enter the labels as one
Gaussian term of variance sum_{i not in S u T} t_i per sample, which is their exact law.
Runs are stacked on a leading population axis P (solves batched by Cholesky).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Literal

import numpy as np
import torch

from featlab.config import ConfigError, _check, override
from featlab.linalg import spd_solve
from featlab.linear.config import LinearData, LinearTrain, spectrum, target
from featlab.rng import generator
from featlab.train import engine
from featlab.train.engine import ChunkResult, RunSpec

__all__ = ["W2SModel", "W2SFit", "W2SSetting", "METRICS", "feature_sets", "train_chunk",
           "plan_chunks", "setting_from_dict"]

#: Logged per run (final values only: both fits are closed form).
METRICS = ("excess_risk", "risk", "teacher_excess", "student_limit", "gap")

#: Fields that may differ inside one chunk (they change no shape).
PER_RUN_FIELDS = frozenset({"data.spectrum", "data.a", "data.c", "data.spikes", "data.spike",
                            "data.tail", "data.target", "data.b", "data.r2", "data.sigma2"})


@dataclass(frozen=True)
class W2SModel:
    """Feature sets: student S = first ``student_q`` coordinates; teacher T = first
    ``teacher_shared`` plus ``teacher_extra`` coordinates after S."""

    student_q: int = 20
    teacher_shared: int = 10
    teacher_extra: int = 10

    def __post_init__(self) -> None:
        _check(isinstance(self.student_q, int) and self.student_q >= 1, "model.student_q",
               self.student_q, "use an integer number of student features q >= 1")
        _check(isinstance(self.teacher_shared, int) and 0 <= self.teacher_shared <= self.student_q,
               "model.teacher_shared", self.teacher_shared,
               f"use an integer in [0, student_q] = [0, {self.student_q}] (features shared with the student)")
        _check(isinstance(self.teacher_extra, int) and self.teacher_extra >= 0, "model.teacher_extra",
               self.teacher_extra, "use an integer >= 0 (teacher features the student lacks)")
        _check(self.teacher_shared + self.teacher_extra >= 1, "model.teacher_extra", self.teacher_extra,
               "the teacher needs at least one feature: teacher_shared + teacher_extra >= 1")


@dataclass(frozen=True)
class W2SFit:
    """The student's N samples and whose labels it is fitted on (ridgeless least squares)."""

    N: int = 400
    labels: Literal["teacher", "true"] = "teacher"

    def __post_init__(self) -> None:
        _check(isinstance(self.N, int) and self.N >= 1, "optim.N", self.N,
               "use an integer number of student samples N >= 1")
        _check(self.labels in ("teacher", "true"), "optim.labels", self.labels,
               "choose one of teacher, true")


@dataclass(frozen=True)
class W2SSetting:
    """One weak-to-strong run (without its seed). ``train`` only carries the dtype."""

    SETTING_TYPE: ClassVar[str] = "w2s"

    data: LinearData = field(default_factory=lambda: LinearData(p=100, n=60))
    model: W2SModel = field(default_factory=W2SModel)
    optim: W2SFit = field(default_factory=W2SFit)
    train: LinearTrain = field(default_factory=LinearTrain)

    def __post_init__(self) -> None:
        d, m, o = self.data, self.model, self.optim
        D = m.student_q + m.teacher_extra
        _check(D <= d.p, "model.teacher_extra", m.teacher_extra,
               f"student_q + teacher_extra = {D} exceeds p = {d.p}; use fewer features or a larger data.p")
        k = m.teacher_shared + m.teacher_extra
        _check(d.n >= k + 2, "data.n", d.n,
               f"the ridgeless teacher on {k} features needs n >= k + 2 = {k + 2} labels (its expected "
               f"risk is infinite below); use more labels or fewer teacher features")
        _check(o.N >= m.student_q + 2, "optim.N", o.N,
               f"the ridgeless student on q = {m.student_q} features needs N >= q + 2 = "
               f"{m.student_q + 2} samples (below, least squares is not unique or its expected risk "
               f"is infinite); use N >= {m.student_q + 2} or fewer student features")


def feature_sets(model: W2SModel) -> tuple[np.ndarray, np.ndarray]:
    """(T, S): 0-based coordinate indices of the teacher's and the student's features."""
    q = model.student_q
    T = np.concatenate([np.arange(model.teacher_shared), q + np.arange(model.teacher_extra)])
    return T.astype(int), np.arange(q)


def setting_from_dict(d: dict) -> W2SSetting:
    """Rebuild a W2SSetting from :func:`featlab.config.to_dict` output (a stored sweep spec)."""
    flat = {f"{section}.{k}": v for section, fields in d.items() for k, v in fields.items() if k != "kind"}
    try:
        return override(W2SSetting(), flat)
    except ConfigError as err:
        raise ConfigError(f"stored w2s setting is invalid: {err}") from None


def structural_key(setting: W2SSetting) -> tuple:
    return engine.structural_key(setting, PER_RUN_FIELDS)


def plan_chunks(runs: list[RunSpec], device: str = "cpu", chunk_size: int | None = None,
                memory_budget: float | None = None) -> list[list[RunSpec]]:
    """Group by structure; chunks of at most 512 runs (a run holds (n + N) x (q + extra) floats)."""
    return engine.plan_chunks(runs, structural_key, lambda g: 512, chunk_size)


def _draw(g: torch.Generator, ge: torch.Generator, lam_D: torch.Tensor, m: int, rest: float,
          sigma2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """m inputs on the first D coordinates (m, D), and the label part outside them plus the noise
    (m,): N(0, rest) + N(0, sigma2), drawn as one normal each."""
    X = torch.randn(m, lam_D.shape[0], generator=g, dtype=torch.float64) * lam_D.sqrt()
    other = torch.randn(m, generator=g, dtype=torch.float64) * rest**0.5
    eps = torch.randn(m, generator=ge, dtype=torch.float64) * sigma2**0.5
    return X, other + eps


def _lstsq(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batched least squares (P, m, F), (P, m) -> (P, F) via the normal equations (Cholesky)."""
    return spd_solve(X.transpose(1, 2) @ X, X.transpose(1, 2) @ y[:, :, None])[:, :, 0]


def train_chunk(runs: list[RunSpec], device: str = "cpu",
                on_step: Callable[[int, int], None] | None = None) -> ChunkResult:
    """Fit teacher and student for every run of a structurally identical chunk."""
    t0 = time.perf_counter()
    s0: W2SSetting = runs[0].setting
    T, S = feature_sets(s0.model)
    q, D = s0.model.student_q, s0.model.student_q + s0.model.teacher_extra
    n, N = s0.data.n, s0.optim.N
    Xt, yt, Xs, ys, lam, w, t_all = [], [], [], [], [], [], []
    for r in runs:
        lam_r, w_r = spectrum(r.setting.data), target(r.setting.data)
        t_r = lam_r * w_r**2
        lam_D, w_D = torch.as_tensor(lam_r[:D]), torch.as_tensor(w_r[:D])
        rest, sigma2 = float(t_r[D:].sum()), r.setting.data.sigma2
        X1, e1 = _draw(generator(r.seed, "data"), generator(r.seed, "noise"), lam_D, n, rest, sigma2)
        X2, e2 = _draw(generator(r.seed, "student"), generator(r.seed, "student-noise"), lam_D, N,
                       rest, sigma2)
        Xt.append(X1)
        yt.append(X1 @ w_D + e1)
        Xs.append(X2)
        ys.append(X2 @ w_D + e2)                       # true labels (used by labels="true")
        lam.append(lam_D)
        w.append(w_D)
        t_all.append(t_r)
    Xt, yt, Xs, ys = torch.stack(Xt), torch.stack(yt), torch.stack(Xs), torch.stack(ys)  # (P, n, D) ...
    lam, w = torch.stack(lam), torch.stack(w)                                             # (P, D)
    theta_w = torch.zeros_like(w)
    theta_w[:, T] = _lstsq(Xt[:, :, T], yt)                                               # (P, D)
    labels = Xs @ theta_w[:, :, None] if s0.optim.labels == "teacher" else ys[:, :, None]
    beta = torch.zeros_like(w)
    beta[:, S] = _lstsq(Xs[:, :, S], labels[:, :, 0])                                     # (P, D)
    tot = torch.tensor([t.sum() for t in t_all], dtype=torch.float64)                     # (P,)
    t_D = lam * w**2                                                                      # (P, D)

    def excess(theta: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """sum_{i in idx} lambda_i (theta_i - w_i)^2 + sum_{i not in idx} t_i, (P,)."""
        inside = (lam[:, idx] * (theta[:, idx] - w[:, idx]) ** 2).sum(1)
        return inside + tot - t_D[:, idx].sum(1)

    ex = excess(beta, S)
    if s0.optim.labels == "teacher":
        both = np.intersect1d(S, T)
        limit = excess(theta_w, both) if len(both) else tot.clone()
    else:
        limit = tot - t_D[:, S].sum(1)
    sigma2 = torch.tensor([r.setting.data.sigma2 for r in runs], dtype=torch.float64)
    final = {"excess_risk": ex, "risk": ex + sigma2, "teacher_excess": excess(theta_w, T),
             "student_limit": limit, "gap": ex - limit}
    final = {k: v.numpy().copy() for k, v in final.items()}
    if on_step is not None:
        on_step(0, 1)
    P = len(runs)
    bad = ~np.isfinite(final["excess_risk"])
    return ChunkResult(
        runs=list(runs), status=["diverged" if b else "done" for b in bad], steps=np.ones(P, dtype=np.int64),
        final=final, log_run=np.arange(P, dtype=np.int64), log_step=np.ones(P, dtype=np.int64),
        log_values={k: v.copy() for k, v in final.items()}, wall_s=time.perf_counter() - t0,
        device=str(device), flops=2.0 * P * (n * D * D + N * q * q + N * D))


def _register() -> None:
    from featlab import runner
    runner.register_trainer(W2SSetting, plan_chunks, train_chunk,
                            from_dict=(W2SSetting.SETTING_TYPE, setting_from_dict))


_register()
