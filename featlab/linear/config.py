r"""Frozen, validated configuration of one linear-model run: data x model x optimizer x training.

A :class:`LinearSetting` has the same four sections as the CNN :class:`~featlab.config.Setting`, so
``featlab.config.override / flatten / config_hash`` and :class:`~featlab.sweep.Sweep` work on it
unchanged (``--set data.p=400``, ``--grid optim.lr=0.1,0.2``).

Data (Gaussian linear regression): :math:`x \sim N(0, H)`, :math:`H = \mathrm{diag}(\lambda_1..\lambda_p)`,
:math:`y = \langle x, w^*\rangle + \varepsilon`, :math:`\varepsilon \sim N(0, \sigma^2)`.
Model: :math:`f(x) = \langle A^\top x, \theta\rangle` (or :math:`\langle \mathrm{relu}(A^\top x), \theta\rangle`
for ``relu_rf``) with :math:`A = I_p` (``linear``) or a Gaussian
:math:`A \in \mathbb R^{p\times M}`, :math:`A_{ij} \sim N(0, 1/M)` (``sketch``: Lin et al. 2024's
:math:`f(x) = \langle Sx, v\rangle` with :math:`S = A^\top`; ``plrf``: Paquette et al. 2024's random
features :math:`W^\top x` with :math:`W = A`, d = M; the two are the same law).
Optimizer: one-pass SGD (batch B, fresh samples every step, N = steps x B samples in all), full-batch
GD on n samples, ridge or min-norm interpolation on n samples.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from featlab.config import ConfigError, _check, _finite, memory_limit, memory_limit_phrase, override

__all__ = ["LinearData", "LinearModel", "LinearOptim", "LinearTrain", "LinearSetting",
           "setting_from_dict", "spectrum", "target"]

SPECTRA = ("power", "spiked", "isotropic", "log_power")
TARGETS = ("power", "flat", "first")
SCHEDULES = ("constant", "geometric", "poly")


def _choice(name: str, value, choices: tuple) -> None:
    _check(value in choices, name, value, f"choose one of {', '.join(choices)}")


@dataclass(frozen=True)
class LinearData:
    r"""Gaussian linear-regression data with a named spectrum and target (all in H's eigenbasis).

    Spectra: ``power`` :math:`\lambda_i = i^{-a}`; ``log_power`` :math:`\lambda_i = i^{-a}\log(i+1)^{-c}`
    (Bartlett et al. 2020: benign iff a = 1, c > 1, as p grows with n); ``spiked`` ``spikes`` eigenvalues
    equal to ``spike`` and p - spikes equal to ``tail``; ``isotropic`` :math:`\lambda_i = 1`.
    Targets: ``power`` :math:`w^*_i = i^{-b}`, ``flat`` :math:`w^*_i = 1`, ``first`` :math:`w^* = e_1`
    (all of the signal on the top eigendirection); scaled to
    :math:`\|w^*\|^2 = r_2` when ``r2`` is given. ``sigma2`` is the label-noise variance; ``n`` the
    training-set size of GD / ridge / min-norm (one-pass SGD draws steps x batch_size fresh samples).
    """

    p: int = 200
    spectrum: Literal["power", "spiked", "isotropic", "log_power"] = "power"
    a: float = 2.0
    c: float = 2.0
    spikes: int = 1
    spike: float = 1.0
    tail: float = 0.01
    target: Literal["power", "flat", "first"] = "power"
    b: float = 0.0
    r2: float | None = None
    sigma2: float = 0.1
    n: int = 100
    kind: Literal["gaussian_linear"] = "gaussian_linear"

    def __post_init__(self) -> None:
        _check(isinstance(self.p, int) and self.p >= 1, "data.p", self.p, "use an integer p >= 1")
        _choice("data.spectrum", self.spectrum, SPECTRA)
        _choice("data.target", self.target, TARGETS)
        _check(_finite(self.a) and self.a >= 0, "data.a", self.a,
               "use a finite spectrum exponent a >= 0 (lambda_i = i^-a)")
        _check(_finite(self.c) and self.c >= 0, "data.c", self.c, "use a finite log exponent c >= 0")
        _check(isinstance(self.spikes, int) and 0 <= self.spikes <= self.p, "data.spikes", self.spikes,
               "use an integer number of spikes in [0, p]")
        for key in ("spike", "tail"):
            value = getattr(self, key)
            _check(_finite(value) and value > 0, f"data.{key}", value,
                   "use a finite eigenvalue > 0 (a non-positive spectrum has no Gaussian data)")
        _check(_finite(self.b) and self.b >= 0, "data.b", self.b,
               "use a finite target exponent b >= 0 (w*_i = i^-b)")
        if self.r2 is not None:
            _check(_finite(self.r2) and self.r2 >= 0, "data.r2", self.r2, "use a finite ||w*||^2 >= 0")
        _check(_finite(self.sigma2) and self.sigma2 >= 0, "data.sigma2", self.sigma2,
               "use a finite noise variance sigma2 >= 0")
        _check(isinstance(self.n, int) and self.n >= 1, "data.n", self.n, "use an integer n >= 1")


@dataclass(frozen=True)
class LinearModel:
    """``linear`` (A = I_p), or ``sketch`` / ``plrf`` with M Gaussian features A_ij ~ N(0, 1/M), M <= p,
    or ``relu_rf``: M ReLU random features relu(A^T x), A_ij ~ N(0, 1/p), any M (Mei & Montanari 2019;
    fitted by ridge or min-norm)."""

    name: Literal["linear", "sketch", "plrf", "relu_rf"] = "linear"
    M: int = 0

    def __post_init__(self) -> None:
        _choice("model.name", self.name, ("linear", "sketch", "plrf", "relu_rf"))
        _check(isinstance(self.M, int) and self.M >= 0, "model.M", self.M,
               "use an integer number of features M >= 1 (0 = p, the linear model)")
        _check(self.name == "linear" or self.M >= 1, "model.M", self.M,
               f"model.name={self.name} needs M >= 1 features (e.g. --set model.M=64)")


@dataclass(frozen=True)
class LinearOptim:
    r"""How theta is fitted.

    ``sgd``: :math:`\theta_{t+1} = \theta_t - \frac{\gamma_t}{B}\sum_b z_b(\langle z_b,\theta_t\rangle - y_b)`,
    a fresh batch every step, :math:`\gamma_t` from ``schedule`` (see
    :func:`featlab.theory.linear.schedule`: ``constant``; ``geometric`` = halve every T/log2 T steps;
    ``poly`` = :math:`\gamma_0(1 + t/t_0)^{-p}` with ``t0``, ``power``). ``gd``: full batch on n samples,
    constant step ``lr``. ``ridge``: :math:`\arg\min \frac1n\|y - Z\theta\|^2 + \lambda\|\theta\|^2` with
    :math:`\lambda` = ``lam_reg`` (0 = the min-norm interpolator, the :math:`\lambda \to 0^+` limit);
    ``minnorm``: :math:`Z^+ y`.
    """

    name: Literal["sgd", "gd", "ridge", "minnorm"] = "sgd"
    lr: float = 0.1
    batch_size: int = 1
    schedule: Literal["constant", "geometric", "poly"] = "constant"
    t0: float = 1.0
    power: float = 1.0
    lam_reg: float = 0.0

    def __post_init__(self) -> None:
        _choice("optim.name", self.name, ("sgd", "gd", "ridge", "minnorm"))
        _choice("optim.schedule", self.schedule, SCHEDULES)
        _check(_finite(self.lr) and self.lr > 0, "optim.lr", self.lr, "use a finite step size lr > 0")
        _check(isinstance(self.batch_size, int) and self.batch_size >= 1, "optim.batch_size",
               self.batch_size, "use an integer batch size B >= 1")
        _check(_finite(self.t0) and self.t0 > 0, "optim.t0", self.t0, "use a finite t0 > 0")
        _check(_finite(self.power) and self.power > 0, "optim.power", self.power, "use a finite power > 0")
        _check(_finite(self.lam_reg) and self.lam_reg >= 0, "optim.lam_reg", self.lam_reg,
               "use a finite ridge penalty lam_reg >= 0")


@dataclass(frozen=True)
class LinearTrain:
    """Steps of SGD / GD (ignored by ridge and min-norm), the logging schedule, the dtype."""

    steps: int = 1000
    log_schedule: Literal["linear", "log"] = "log"
    log_points: int = 20
    dtype: Literal["float32", "float64"] = "float64"

    def __post_init__(self) -> None:
        _check(isinstance(self.steps, int) and self.steps >= 1, "train.steps", self.steps,
               "use an integer number of steps >= 1")
        _check(isinstance(self.log_points, int) and self.log_points >= 1, "train.log_points",
               self.log_points, "use an integer >= 1 (1 = the final step only)")
        _choice("train.log_schedule", self.log_schedule, ("linear", "log"))
        _choice("train.dtype", self.dtype, ("float32", "float64"))


@dataclass(frozen=True)
class LinearSetting:
    """One linear-model run (without its seed). Cross-section checks: M <= p, SGD step stability,
    min-norm away from the interpolation threshold."""

    SETTING_TYPE: ClassVar[str] = "linear"   # stored in a sweep's spec so reports can rebuild it

    data: LinearData = field(default_factory=LinearData)
    model: LinearModel = field(default_factory=LinearModel)
    optim: LinearOptim = field(default_factory=LinearOptim)
    train: LinearTrain = field(default_factory=LinearTrain)

    def __post_init__(self) -> None:
        d, m, o = self.data, self.model, self.optim
        _check(m.M <= d.p or m.name == "relu_rf", "model.M", m.M,
               f"use M <= p = {d.p} (more features than input dimensions add nothing: the "
               f"approximation error is already 0 at M = p)")
        _check(m.name != "relu_rf" or o.name in ("ridge", "minnorm"), "optim.name", o.name,
               "model.name=relu_rf is fitted by ridge or minnorm (--set optim.name=ridge)")
        if o.name == "sgd":
            limit = stability_limit(d, o.batch_size)
            _check(o.lr < limit, "optim.lr", o.lr,
                   f"the step is past the mean-square stability limit {limit:.4g} of one-pass SGD for "
                   f"this spectrum and batch_size={o.batch_size}; use lr < {limit:.4g}")
        if o.name == "gd":
            _check(o.lr < 2.0 / float(spectrum(d).max()), "optim.lr", o.lr,
                   f"full-batch GD on this spectrum needs lr < 2/lambda_max = "
                   f"{2.0 / float(spectrum(d).max()):.4g} (roughly: the sample covariance adds "
                   f"more); use a smaller lr")
        if o.name == "minnorm" or (o.name == "ridge" and o.lam_reg == 0):
            _check(self.features != d.n, "data.n", d.n,
                   f"n equals the number of features ({self.features}): the interpolator's expected "
                   f"risk is infinite there; change n or use ridge")
        need, limit = self.run_bytes(), memory_limit()
        if need > limit:
            field_, value = (("model.M", m.M) if m.name == "relu_rf" and m.M**2 > self.samples * self.features
                             else ("train.steps", self.train.steps) if o.name == "sgd" else ("data.n", d.n))
            raise ConfigError(
                f"{field_}={value!r} is invalid: one run needs about {need / 2**30:.1f} GiB ({self.samples} "
                f"samples x {self.features} features" + (", plus the M x M exact feature moments"
                                                          if m.name == "relu_rf" else "")
                + f"), over {memory_limit_phrase()}; "
                f"make {field_} smaller")

    @property
    def features(self) -> int:
        """Number of trained parameters: M, or p for the linear model."""
        return self.model.M if self.model.name != "linear" and self.model.M else self.data.p

    @property
    def samples(self) -> int:
        """Training samples one run draws: steps x batch_size for one-pass SGD, else n."""
        return self.train.steps * self.optim.batch_size if self.optim.name == "sgd" else self.data.n

    def run_bytes(self, peak: bool = True) -> int:
        """Float64 bytes of one run in the simulator: features Z (n, F) and labels, the feature
        matrix A (p, F), the (min(n, F))^2 ridge / min-norm system and, for ``relu_rf``, the M x M
        exact moments K, plus (``peak``) the five M x M temporaries that build them, one run at a time."""
        n, F, p = self.samples, self.features, self.data.p
        moments = (6 if peak else 1) * F * F if self.model.name == "relu_rf" else 0
        return 8 * (n * (F + 1) + p * (F + 2) + 4 * F + min(n, F) ** 2 + moments)


# ----------------------------------------------------------------------------- spectrum, target

def spectrum(data: LinearData) -> np.ndarray:
    """(p,) float64 eigenvalues lambda_i of H, i = 1..p."""
    return _spectrum(data.spectrum, data.p, data.a, data.c, data.spikes, data.spike, data.tail).copy()


@functools.lru_cache(maxsize=256)
def _spectrum(kind: str, p: int, a: float, c: float, spikes: int, spike: float, tail: float) -> np.ndarray:
    i = np.arange(1, p + 1, dtype=np.float64)
    if kind == "power":
        return i ** (-a)
    if kind == "log_power":
        return i ** (-a) * np.log(i + 1.0) ** (-c)
    if kind == "spiked":
        return np.where(i <= spikes, spike, tail)
    return np.ones(p)


def target(data: LinearData) -> np.ndarray:
    """(p,) float64 target w* in H's eigenbasis."""
    i = np.arange(1, data.p + 1, dtype=np.float64)
    w = i ** (-data.b) if data.target == "power" else np.ones(data.p)
    if data.target == "first":
        w = (i == 1).astype(np.float64)
    if data.r2 is not None:
        w = w * math.sqrt(data.r2 / float(w @ w))
    return w


def stability_limit(data: LinearData, batch_size: int) -> float:
    """The exact mean-square stability limit of constant-step SGD on this data's spectrum.

    For feature models it is the limit of the input spectrum (E tr(A^T H A) = tr H). A sampled feature
    spectrum fluctuates around it: its top eigenvalue grows with the spread of A's column norms, so
    its exact limit can be lower (measured: 0.27 against 0.55 for p = 50, lambda_i = i^-1.5, M = 20, in
    2 of 200 draws). Feature-model presets therefore use steps well below this limit; a run whose own
    limit is exceeded is mean-square unstable and may be stored as ``diverged``."""
    return _stability(data.spectrum, data.p, data.a, data.c, data.spikes, data.spike, data.tail, batch_size)


@functools.lru_cache(maxsize=256)
def _stability(kind, p, a, c, spikes, spike, tail, batch_size) -> float:
    from featlab.theory.linear import stability_limit as limit

    return float(limit(_spectrum(kind, p, a, c, spikes, spike, tail), batch_size))


def setting_from_dict(d: dict) -> LinearSetting:
    """Rebuild a LinearSetting from :func:`featlab.config.to_dict` output (a stored sweep spec)."""
    base = LinearSetting()
    flat = {f"{section}.{k}": v for section, fields in d.items() for k, v in fields.items()
            if k != "kind"}
    try:
        return override(base, flat)
    except ConfigError as err:
        raise ConfigError(f"stored linear setting is invalid: {err}") from None

