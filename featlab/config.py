"""Frozen, validated configuration for one run: data x model x optimizer x training.

A :class:`Setting` fully specifies one training run up to its ``seed``. Every field is validated
when the dataclass is built, so a bad value fails at once with a message that names the field and
says how to fix it. Dotted overrides (``"data.n=40"``, the CLI's ``--set``) are parsed against the
field's annotated type by :func:`override`.

Notation follows the papers: ``n`` training samples, ``d`` patch
dimension, ``mu_norm`` = ||mu||, ``sigma_p`` noise scale, ``snr`` = ||mu|| / (sigma_p sqrt(d)),
``m`` filters per class, ``sigma_0`` init scale, ``q`` ReLU power.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import os
import types
import typing
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Iterator, Literal

__all__ = [
    "ConfigError",
    "memory_limit",
    "memory_target",
    "DATA_KINDS",
    "register_data",
    "MODEL_KINDS",
    "register_model",
    "added",
    "setting_from_dict",
    "SignalNoiseData",
    "TwoLayerCNN",
    "MLP",
    "OptimConfig",
    "TrainConfig",
    "Setting",
    "override",
    "flatten",
    "config_hash",
    "to_dict",
]


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the parameter and the fix."""


_MEMORY_TARGET: list[int] = []


@contextmanager
def memory_target(nbytes: int | None) -> Iterator[None]:
    """Within the block, :func:`memory_limit` is half of ``nbytes`` (the memory of the machine
    that will train the runs, e.g. ``--slurm-mem``) instead of half of this machine's."""
    if nbytes is None:
        yield
        return
    _MEMORY_TARGET.append(int(nbytes))
    try:
        yield
    finally:
        _MEMORY_TARGET.pop()


def memory_limit() -> int:
    """Largest footprint one run may have: half of this machine's physical memory (bytes), or of
    the target's inside :func:`memory_target`. A run over it would fail to allocate mid-sweep;
    trainers check it before anything is stored."""
    if _MEMORY_TARGET:
        return _MEMORY_TARGET[-1] // 2
    return _physical_limit()


def memory_limit_phrase() -> str:
    """Where :func:`memory_limit` comes from, for error messages: "this machine's limit of X GiB
    (half its memory)" or "the target's limit of X GiB (half of --slurm-mem)"."""
    gib = memory_limit() / 2**30
    if _MEMORY_TARGET:
        return f"the target machine's limit of {gib:.1f} GiB (half of --slurm-mem)"
    return f"this machine's limit of {gib:.1f} GiB (half its memory)"


@functools.cache
def _physical_limit() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):          # not POSIX: assume 16 GiB
        return 8 * 2**30


def _check(ok: bool, name: str, value: Any, fix: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is invalid: {fix}")


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    _check(value in choices, name, value, f"choose one of {', '.join(map(str, choices))}")


def _check_ints(section: str, obj: Any, lows: dict[str, int]) -> None:
    """Each field ``key`` of ``obj`` an integer (not a bool) >= ``lows[key]``."""
    for key, low in lows.items():
        value = getattr(obj, key)
        _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
               f"{section}.{key}", value, f"use an integer {key} >= {low}")


def _check_real(name: str, value: Any, low: float, fix: str, strict: bool = False,
                high: float | None = None) -> None:
    """A finite number >= ``low`` (> with ``strict``) and < ``high`` when given."""
    ok = _finite(value) and (value > low if strict else value >= low)
    _check(ok and (high is None or value < high), name, value, fix)


def _check_patch_data(obj: Any, d_min: int = 2, d_fix: str = "") -> None:
    """The fields every signal-noise patch data model shares: n, d, n_test, sigma_p, flip_p,
    flip_test, the noise and signal-position choices."""
    _check_ints("data", obj, {"n": 1, "n_test": 1})
    _check(isinstance(obj.d, int) and not isinstance(obj.d, bool) and obj.d >= d_min, "data.d",
           obj.d, f"use an integer d >= {d_min}{d_fix}")
    _check_real("data.sigma_p", obj.sigma_p, 0, "use a finite noise scale sigma_p > 0", strict=True)
    _check_real("data.flip_p", obj.flip_p, 0, "use a label-flip probability in [0, 0.5)", high=0.5)
    _check(isinstance(obj.flip_test, bool), "data.flip_test", obj.flip_test, "use true or false")
    if hasattr(obj, "noise"):
        _check_choice("data.noise", obj.noise, ("orthogonal", "isotropic"))
    _check_choice("data.signal_position", obj.signal_position, ("first", "random"))


def _check_token_data(obj: Any, T_fix: str | None = None) -> None:
    """The fields the token data models share: n >= 2, d >= 2, n_test >= 1, T >= 2 (when the
    model has T), sigma_p > 0."""
    _check_ints("data", obj, {"n": 2, "d": 2, "n_test": 1})
    if T_fix is not None:
        _check(isinstance(obj.T, int) and not isinstance(obj.T, bool) and obj.T >= 2, "data.T",
               obj.T, T_fix)
    _check_real("data.sigma_p", obj.sigma_p, 0, "use a finite token-noise scale sigma_p > 0",
                strict=True)


#: Data-model config classes by ``kind`` (filled by :func:`register_data`).
DATA_KINDS: dict[str, type] = {}


def register_data(cls: type) -> type:
    """Class decorator: register a data-model config under its ``kind`` default.

    A data config is a frozen dataclass with fields ``n, d, n_test, flip_p, flip_test`` and a
    unique ``kind``; ``PER_RUN_FIELDS`` names the fields that may differ inside one chunk, and
    ``feature_names`` / ``group_names`` name the rows of its feature matrix mu (S, d) and its
    sample groups (see ``featlab/data/__init__.py``).
    """
    kind = cls.__dataclass_fields__["kind"].default
    DATA_KINDS[kind] = cls
    return cls


#: Model-family config classes by ``kind`` (filled by :func:`register_model`).
MODEL_KINDS: dict[str, type] = {}


def register_model(cls: type) -> type:
    """Class decorator: register a model-family config under its ``kind`` default.

    A model config is a frozen dataclass with a unique ``kind``; ``PER_RUN_FIELDS`` (a ClassVar,
    default empty) names the fields that may differ inside one chunk, ``INPUT`` ("patches",
    "vectors" or "tokens", default "patches") the data layout it consumes. Its family object (init, apply,
    param groups, ...) is registered with :func:`featlab.models.register_family`.
    """
    _check(dataclasses.is_dataclass(cls) and "kind" in cls.__dataclass_fields__, "model.kind",
           getattr(cls, "__name__", cls), "a model config is a frozen dataclass with a 'kind' field")
    MODEL_KINDS[cls.__dataclass_fields__["kind"].default] = cls
    return cls


def added(default: Any) -> Any:
    """A config field added after runs were stored: :func:`to_dict` (hence :func:`config_hash` and
    a sweep's id) leaves it out while it equals ``default``, so the stored runs keep their resume
    keys. Declare every new field of an existing config class this way: ``x: float = added(0.0)``."""
    return field(default=default, metadata={"omit_default": True})


@register_data
@dataclass(frozen=True)
class SignalNoiseData:
    """Signal-noise patch data x = [x^(1), x^(2)] in R^{2 x d}, label y in {+1, -1}.

    One patch is y * mu, the other xi ~ N(0, sigma_p^2 P) with P = I - mu mu^T / ||mu||^2
    (``noise="orthogonal"``, Cao et al. 2022; Kou et al. 2023 paper) or P = I
    (``noise="isotropic"``, Kou et al. official code). The signal sits in patch 1
    (``signal_position="first"``) or a uniformly random patch (``"random"``). Each training
    label is flipped with probability ``flip_p`` after the patches are drawn (the signal patch
    carries the clean label); ``flip_test`` flips the test labels too (official Kou code).
    If ``snr`` is given, ``mu_norm`` is set to snr * sigma_p * sqrt(d).
    """

    n: int = 20
    d: int = 1000
    mu_norm: float = 1.0
    snr: float | None = None
    sigma_p: float = 1.0
    noise: Literal["orthogonal", "isotropic"] = "orthogonal"
    signal_position: Literal["first", "random"] = "first"
    mu_direction: Literal["e1", "random"] = "e1"
    flip_p: float = 0.0
    flip_test: bool = False
    n_test: int = 1000
    kind: Literal["signal_noise"] = "signal_noise"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "n", "mu_norm", "snr", "sigma_p", "noise", "signal_position", "mu_direction", "flip_p",
        "flip_test"})

    def __post_init__(self) -> None:
        _check_patch_data(self)
        if self.snr is not None:
            _check(_finite(self.snr) and self.snr >= 0, "data.snr", self.snr, "use a finite snr >= 0")
            object.__setattr__(self, "mu_norm", float(self.snr * self.sigma_p * math.sqrt(self.d)))
        _check(_finite(self.mu_norm) and self.mu_norm >= 0, "data.mu_norm", self.mu_norm,
               "use a finite ||mu|| >= 0")
        _check_choice("data.mu_direction", self.mu_direction, ("e1", "random"))

    @property
    def snr_value(self) -> float:
        """SNR = ||mu|| / (sigma_p sqrt(d))."""
        return self.mu_norm / (self.sigma_p * math.sqrt(self.d))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """One feature vector: the signal mu."""
        return ("signal",)

    @property
    def group_names(self) -> tuple[str, ...]:
        """No sample groups."""
        return ()


@register_model
@dataclass(frozen=True)
class TwoLayerCNN:
    """f(W, x) = F_{+1}(W_{+1}, x) - F_{-1}(W_{-1}, x), F_j = a sum_{r<=m} red_p sigma(<w_{j,r}, x^(p)> + b_{j,r}).

    Papers: a = 1/m, red = sum over patches, no bias, W ~ N(0, sigma_0^2).
    Official Kou code (``TwoLayerCNN.official()``): a = 1, red = mean, bias on, PyTorch's
    default Conv1d init U(-1/sqrt(d), 1/sqrt(d)) for weights and bias.
    Activations: ``relu``; ``relu_q`` = max(0, z)^q; ``leaky_relu`` = max(alpha z, z);
    ``huber_relu`` = the smoothed ReLU of the proofs: 0 (z <= 0), z^q / (q kappa^{q-1})
    (0 < z <= kappa), z - (1 - 1/q) kappa (z > kappa).
    """

    m: int = 10
    activation: Literal["relu", "relu_q", "leaky_relu", "huber_relu"] = "relu"
    q: float = 1.0
    leaky_slope: float = 0.1
    kappa: float = 1.0
    sigma_0: float = 0.01
    init: Literal["normal", "torch_default"] = "normal"
    bias: bool = False
    second_layer: Literal["1/m", "1"] = "1/m"
    patch_reduce: Literal["sum", "mean"] = "sum"
    kind: Literal["two_layer_cnn"] = "two_layer_cnn"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"sigma_0"})
    INPUT: ClassVar[str] = "patches"

    def __post_init__(self) -> None:
        _check(isinstance(self.m, int) and self.m >= 1, "model.m", self.m, "use an integer m >= 1")
        _check(_finite(self.q) and self.q >= 1, "model.q", self.q, "use a finite q >= 1")
        _check(_finite(self.sigma_0) and self.sigma_0 >= 0, "model.sigma_0", self.sigma_0,
               "use a finite sigma_0 >= 0")
        _check(_finite(self.leaky_slope) and 0 <= self.leaky_slope < 1, "model.leaky_slope",
               self.leaky_slope, "use a slope in [0, 1)")
        _check(_finite(self.kappa) and self.kappa > 0, "model.kappa", self.kappa, "use kappa > 0")
        _check_choice("model.activation", self.activation,
                      ("relu", "relu_q", "leaky_relu", "huber_relu"))
        _check_choice("model.init", self.init, ("normal", "torch_default"))
        _check_choice("model.second_layer", self.second_layer, ("1/m", "1"))
        _check_choice("model.patch_reduce", self.patch_reduce, ("sum", "mean"))

    @classmethod
    def official(cls, m: int = 10) -> "TwoLayerCNN":
        """The model of Kou et al.'s official code (uclaml/Benign_ReLU_CNN, syntheticrelu.py)."""
        return cls(m=m, activation="relu", init="torch_default", bias=True, second_layer="1",
                   patch_reduce="mean")


@register_model
@dataclass(frozen=True)
class MLP:
    """L-layer MLP of width N (see :mod:`featlab.models.mlp` for the math and the
    parametrizations): ``depth`` L >= 2 weight layers, ``activation`` relu/tanh/erf/linear,
    optional biases, ``parametrization`` sp or mup (TP V Table 3), ntk or mf, or abc with explicit
    exponents ``abc`` ("a=..;b=..;c=..", :func:`featlab.theory.abc.parse_abc`; TP IV), all relative
    to ``base_width``, ``init_scale`` multiplying every initial weight (may differ inside a chunk)."""

    depth: int = 3
    width: int = 64
    activation: Literal["relu", "tanh", "erf", "linear"] = "relu"
    bias: bool = False
    parametrization: Literal["sp", "ntk", "mup", "mf", "abc"] = "sp"
    base_width: int = 64
    init_scale: float = 1.0
    kind: Literal["mlp"] = "mlp"
    abc: str = added("")

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"init_scale"})
    INPUT: ClassVar[str] = "vectors"

    def __post_init__(self) -> None:
        _check(isinstance(self.depth, int) and self.depth >= 2, "model.depth", self.depth,
               "use an integer number of weight layers >= 2")
        _check(isinstance(self.width, int) and not isinstance(self.width, bool) and self.width >= 1,
               "model.width", self.width, "use an integer width >= 1")
        _check(isinstance(self.base_width, int) and self.base_width >= 1, "model.base_width",
               self.base_width, "use an integer base width >= 1")
        _check_choice("model.activation", self.activation, ("relu", "tanh", "erf", "linear"))
        _check_choice("model.parametrization", self.parametrization, ("sp", "ntk", "mup", "mf", "abc"))
        _check(self.parametrization == "abc" or self.abc == "", "model.abc", self.abc,
               "explicit exponents need model.parametrization=abc (or leave model.abc empty)")
        if self.parametrization == "abc":
            _check(self.abc != "", "model.abc", self.abc,
                   "parametrization=abc needs exponents, e.g. model.abc=a=-0.5,0,0.5;b=0.5,0.5,0.5;c=0")
            from featlab.theory.abc import parse_abc
            parse_abc(self.abc, self.depth)
        _check(_finite(self.init_scale) and self.init_scale >= 0, "model.init_scale",
               self.init_scale, "use a finite init scale >= 0")


OPTIMIZERS = ("gd", "sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "sign_gd",
              "normalized_gd", "langevin")


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer by name (see ``featlab.optim.REGISTRY``) and its hyperparameters.

    ``gd``/``sgd``: W <- W - lr g. ``momentum``/``nesterov``: heavy-ball / Nesterov with
    ``momentum`` (torch.optim.SGD convention). ``adam``/``adamw``: (b1, b2, eps), coupled /
    decoupled ``weight_decay``. ``rmsprop``: ``decay``, eps. ``sign_gd``: W <- W - lr sign(g)
    (Adam with b1 = b2 = 0, eps -> 0). ``normalized_gd``: W <- W - lr g/||g|| (per run).
    ``weight_decay`` (coupled L2 except for adamw) and ``clip`` (max global gradient norm per
    run, 0 = off) apply to every optimizer. Gradients are full-batch unless ``batch_size`` >= 1:
    then minibatches of that size, drawn without replacement within an epoch
    (``replacement=False``) or i.i.d. (``sgd`` requires a batch size).

    Training strategies that change the gradient the optimizer sees (``featlab.train.objective``):
    ``label_noise`` = p flips each training label independently with probability p at every step
    (label-noise GD, Huang et al. 2025); ``sam_rho`` > 0 takes the gradient at
    W + rho g/||g|| (SAM, Foret et al. 2021; Chen et al. 2023), for the first ``sam_steps``
    steps only when that is > 0 ("SAM then SGD"); ``mixup_alpha`` > 0 (or ``mixup_lambda`` > 0)
    trains on mixed pairs x~ = lambda x_i + (1 - lambda) x_pi(i) with loss
    lambda l(y_i f(x~)) + (1 - lambda) l(y_pi(i) f(x~)), lambda ~ Beta(alpha, alpha) or fixed
    (Zhang et al. 2018; Zou et al. 2023).

    ``langevin``: GD plus Gaussian noise, W <- W - lr g + sqrt(2 lr ``temperature``) xi,
    xi ~ N(0, I) from each run's own counter-based stream (unadjusted Langevin dynamics; its
    stationary law is close to exp(-L(W) / temperature) for small lr). ``temperature`` is a
    per-run hyperparameter.

    ``wd_scaling``: how a parameter group's parametrization lr multiplier m_g (the muP and
    mean-field rows, ``model.parametrization``) meets ``weight_decay``. ``lr`` (default): m_g
    scales the whole step, decay included (decay per step lr m_g wd). ``mean_field``: m_g scales
    only the loss gradient (decay per step lr wd in every group). The second is the gradient flow
    of L + (wd/2) ||theta||^2 whose width limit exists: in the mean-field row a neuron's loss
    gradient carries a factor 1/N that m_g = N/N_0 undoes, while its own decay term does not, so
    under ``lr`` the decay per step grows like N and wide nets are regularized ever harder.
    ``optim.group_lr`` multipliers scale the whole step in both cases.
    """

    name: Literal["gd", "sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "sign_gd",
                  "normalized_gd", "langevin"] = "gd"
    lr: float = 0.1
    batch_size: int = 0
    replacement: bool = False
    momentum: float = 0.9
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    decay: float = 0.99
    weight_decay: float = 0.0
    clip: float = 0.0
    label_noise: float = 0.0
    sam_rho: float = 0.0
    sam_steps: int = 0
    mixup_alpha: float = 0.0
    mixup_lambda: float = 0.0
    group_lr: str = added("")
    temperature: float = added(0.0)
    wd_scaling: Literal["lr", "mean_field"] = added("lr")

    def __post_init__(self) -> None:
        group_lr_multipliers(self.group_lr)
        _check_choice("optim.wd_scaling", self.wd_scaling, ("lr", "mean_field"))
        _check(_finite(self.temperature) and self.temperature >= 0, "optim.temperature",
               self.temperature, "use a finite Langevin temperature >= 0 (0 = plain GD)")
        _check(_finite(self.lr) and self.lr > 0, "optim.lr", self.lr,
               "use a finite learning rate lr > 0")
        _check_choice("optim.name", self.name, OPTIMIZERS)
        _check(isinstance(self.batch_size, int) and self.batch_size >= 0, "optim.batch_size",
               self.batch_size, "use an integer batch_size >= 1 (0 = full batch)")
        _check(self.name != "sgd" or self.batch_size >= 1, "optim.batch_size", self.batch_size,
               "sgd needs batch_size >= 1 (use --set optim.batch_size=8)")
        for key in ("momentum", "b1", "b2", "decay"):
            value = getattr(self, key)
            _check(_finite(value) and 0 <= value < 1, f"optim.{key}", value, "use a value in [0, 1)")
        _check(_finite(self.eps) and self.eps > 0, "optim.eps", self.eps, "use a finite eps > 0")
        _check(_finite(self.weight_decay) and self.weight_decay >= 0, "optim.weight_decay",
               self.weight_decay, "use a finite weight_decay >= 0")
        _check(_finite(self.clip) and self.clip >= 0, "optim.clip", self.clip,
               "use a finite max gradient norm >= 0 (0 = no clipping)")
        _check(_finite(self.label_noise) and 0 <= self.label_noise < 0.5, "optim.label_noise",
               self.label_noise, "use a per-step label-flip probability in [0, 0.5) (0 = off)")
        _check(_finite(self.sam_rho) and self.sam_rho >= 0, "optim.sam_rho", self.sam_rho,
               "use a finite SAM radius rho >= 0 (0 = off)")
        _check(isinstance(self.sam_steps, int) and self.sam_steps >= 0, "optim.sam_steps",
               self.sam_steps, "use an integer >= 0 (SAM for the first sam_steps steps; 0 = always)")
        _check(_finite(self.mixup_alpha) and self.mixup_alpha >= 0, "optim.mixup_alpha",
               self.mixup_alpha, "use a finite Beta(alpha, alpha) parameter alpha >= 0 (0 = off)")
        _check(_finite(self.mixup_lambda) and 0 <= self.mixup_lambda <= 1, "optim.mixup_lambda",
               self.mixup_lambda, "use a fixed mixing weight in [0, 1] (0 = draw from Beta)")


def group_lr_multipliers(text: str) -> dict[str, float]:
    """Parse ``optim.group_lr`` ("output=0,hidden=0.5": per-group learning-rate multipliers on top
    of the parametrization's; "" = none) into {group: multiplier}."""
    out: dict[str, float] = {}
    for item in filter(None, (t.strip() for t in str(text).split(","))):
        name, eq, value = item.partition("=")
        try:
            mult = float(value)
        except ValueError:
            mult = float("nan")
        _check(bool(eq) and name.strip() != "" and math.isfinite(mult) and mult >= 0, "optim.group_lr",
               text, "use group=multiplier pairs with multipliers >= 0, e.g. output=0,hidden=0.5")
        out[name.strip()] = mult
    return out


@dataclass(frozen=True)
class TrainConfig:
    """Step budget, stopping rule, logging schedule and numerics.

    A run stops at ``steps`` or as soon as its training loss falls below ``loss_threshold``
    (0 disables). Diagnostics are logged at ``log_points`` steps spaced linearly or
    logarithmically in [0, steps] (always including 0 and the final step; ``log_points=1``
    logs the final step only).
    ``test_estimator``: ``gaussian`` draws the 2m-dimensional pre-activations <w_{j,r}, xi>
    ~ N(0, sigma_p^2 W P W^T) directly (exact in distribution, cheap); ``sample`` draws
    d-dimensional test points. ``n_mc`` > 0 uses that many Gaussian draws instead of n_test.
    ``readout_ridge`` = lambda > 0 (generic path): at every logged step the readout is refitted
    by ridge on a fresh sample, the ``readout_ridge`` probe of :mod:`featlab.probes` (the second
    stage of Ba et al. 2022's one-step procedure).
    """

    steps: int = 100
    loss_threshold: float = 0.0
    log_schedule: Literal["linear", "log"] = "log"
    log_points: int = 20
    test_estimator: Literal["gaussian", "sample"] = "gaussian"
    n_mc: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    readout_ridge: float = added(0.0)

    def __post_init__(self) -> None:
        _check(_finite(self.readout_ridge) and self.readout_ridge >= 0, "train.readout_ridge",
               self.readout_ridge, "use a finite ridge penalty >= 0 (0 = no ridge readout probe)")
        _check(isinstance(self.steps, int) and self.steps >= 1, "train.steps", self.steps,
               "use an integer number of steps >= 1")
        _check(_finite(self.loss_threshold) and self.loss_threshold >= 0, "train.loss_threshold",
               self.loss_threshold, "use a finite threshold >= 0 (0 disables early stopping)")
        _check(isinstance(self.log_points, int) and self.log_points >= 1, "train.log_points",
               self.log_points, "use an integer >= 1 (1 = the final step only)")
        _check(isinstance(self.n_mc, int) and self.n_mc >= 0, "train.n_mc", self.n_mc,
               "use an integer >= 0")
        _check_choice("train.log_schedule", self.log_schedule, ("linear", "log"))
        _check_choice("train.test_estimator", self.test_estimator, ("gaussian", "sample"))
        _check_choice("train.dtype", self.dtype, ("float32", "float64"))


@dataclass(frozen=True)
class Setting:
    """One run's full specification (without its seed): data, model, optimizer, training."""

    data: Any = field(default_factory=SignalNoiseData)   # any registered data config (DATA_KINDS)
    model: Any = field(default_factory=TwoLayerCNN)      # any registered model config (MODEL_KINDS)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        kind = getattr(self.data, "kind", None)
        _check(kind in DATA_KINDS and isinstance(self.data, DATA_KINDS[kind]), "data.kind", kind,
               f"use a registered data config ({', '.join(DATA_KINDS)})")
        mkind = getattr(self.model, "kind", None)
        _check(mkind in MODEL_KINDS and isinstance(self.model, MODEL_KINDS[mkind]), "model.kind",
               mkind, f"use a registered model config ({', '.join(MODEL_KINDS)})")
        d_in, m_in = getattr(self.data, "INPUT", "patches"), getattr(self.model, "INPUT", "patches")
        _check(d_in == m_in, "model.kind", mkind,
               f"the model takes {m_in} but data.kind={kind} gives {d_in}; pair {m_in} data with it")
        if self.optim.group_lr:
            from featlab.models.family import FAMILIES
            if mkind in FAMILIES:
                known = set(FAMILIES[mkind].param_groups(self.model).values())
                bad = sorted(set(group_lr_multipliers(self.optim.group_lr)) - known)
                _check(not bad, "optim.group_lr", self.optim.group_lr,
                       f"unknown group {bad[0] if bad else ''}; this model's groups: {', '.join(sorted(known))}")
        _check(self.train.readout_ridge == 0 or d_in == "vectors", "train.readout_ridge",
               self.train.readout_ridge, f"the ridge readout probe runs on the generic path (vector "
               f"data); model.kind={mkind} on data.kind={kind} does not take it: set it to 0")
        _check(kind == "signal_noise" or mkind != "two_layer_cnn" or self.train.test_estimator == "sample",
               "train.test_estimator", self.train.test_estimator,
               f"the gaussian estimator is exact only for signal_noise data; use "
               f"train.test_estimator=sample with data.kind={kind}")


# ----------------------------------------------------------------------------- overrides

def _parse(text: str, tp: Any, name: str) -> Any:
    """Parse a CLI string into the annotated type ``tp`` (int, float, bool, str, Literal, X | None)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        _check(text in choices, name, text, f"choose one of {', '.join(map(str, choices))}")
        return text
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse(text, args[0], name)
    if tp is bool:
        low = text.lower()
        _check(low in ("true", "false", "1", "0", "yes", "no"), name, text, "use true or false")
        return low in ("true", "1", "yes")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name}={text!r} is invalid: expected an integer, e.g. {name}=40") from None
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{name}={text!r} is invalid: expected a number, e.g. {name}=0.5") from None
        _check(math.isfinite(value), name, text, "use a finite number")
        return value
    return text


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Check/convert a Python value (from a preset or API call) against ``tp``."""
    if isinstance(value, str):
        return _parse(value, tp, name)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is invalid: expected an integer")
    if tp is int and isinstance(value, float):
        _check(value.is_integer(), name, value, f"expected an integer, e.g. {name}=40")
        return int(value)
    return value


@functools.lru_cache(maxsize=None)
def type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, once per class: the annotations are strings (postponed
    evaluation), and evaluating them on every :func:`override` cost ~0.3 ms, most of a
    10^5-run grid's planning."""
    return typing.get_type_hints(cls)


def override(obj: Any, changes: dict[str, Any]) -> Any:
    """Return a copy of a (nested) frozen config with dotted keys replaced.

    >>> override(Setting(), {"data.n": "40", "model.q": 3}).data.n
    40

    Values may be strings (parsed by the field's type) or Python values. Unknown keys raise
    :class:`ConfigError` listing the valid ones. Validation re-runs on every level.
    """
    grouped: dict[str, dict[str, Any]] = {}
    own: dict[str, Any] = {}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if rest:
            grouped.setdefault(head, {})[rest] = value
        else:
            own[head] = value
    names = {f.name: f for f in fields(obj)}
    hints = type_hints(type(obj))
    new: dict[str, Any] = {}
    for head, sub in grouped.items():
        _check(head in names and dataclasses.is_dataclass(getattr(obj, head)), head, None,
               f"unknown section; valid sections: {', '.join(n for n in names if dataclasses.is_dataclass(getattr(obj, n)))}")
        try:
            new[head] = override(_switch_kind(getattr(obj, head), head, sub), sub)
        except ConfigError as err:
            msg = str(err)
            raise ConfigError(msg if msg.startswith(f"{head}.") else f"{head}.{msg}") from None
    for key, value in own.items():
        valid = [n for n in names if n != "kind"]
        if key not in valid:
            raise ConfigError(f"unknown key {key!r}; valid keys: {', '.join(valid)}")
        new[key] = _coerce(value, hints[key], key)
    try:
        return replace(obj, **new)
    except TypeError as err:  # pragma: no cover - defensive
        raise ConfigError(str(err)) from None


def _switch_kind(section: Any, head: str, sub: dict[str, Any]) -> Any:
    """``{head}.kind=K`` (popped from ``sub``): the default config of the registered kind K in
    place of ``section`` (the other keys of ``sub`` then apply to it); no-op for the same kind."""
    if "kind" not in sub or head not in ("model", "data"):
        return section
    kind = sub.pop("kind")
    registry = MODEL_KINDS if head == "model" else DATA_KINDS
    if head == "model":
        import featlab.models  # noqa: F401  (registers the built-in families)
    else:
        import featlab.data  # noqa: F401
    _check(kind in registry, f"{head}.kind", kind,
           f"choose one of {', '.join(registry)} (a model of your own: --plugin FILE.py that "
           f"registers it)" if head == "model" else f"choose one of {', '.join(registry)}")
    if getattr(section, "kind", None) == kind:
        return section
    return registry[kind]()


def to_dict(obj: Any) -> dict[str, Any]:
    """Nested dict of a config dataclass (like :func:`dataclasses.asdict`), without the fields
    declared with :func:`added` while they equal their default (stable resume keys)."""
    return _as_dict(obj)


def _as_dict(obj: Any) -> Any:
    if obj is None or type(obj) in (int, float, str, bool):       # immutable leaves: no copy
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in _fields(type(obj)):
            value = getattr(obj, f.name)
            if f.metadata.get("omit_default") and value == f.default:
                continue
            out[f.name] = _as_dict(value)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_as_dict(v) for v in obj)
    if isinstance(obj, dict):
        return {_as_dict(k): _as_dict(v) for k, v in obj.items()}
    return copy.deepcopy(obj)


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return fields(cls)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flat dotted dict: {"data.n": 20, "model.m": 10, ...}."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, key + "."))
        else:
            out[key] = value
    return out


def config_hash(setting: Setting, seed: int) -> str:
    """Stable 16-hex-digit hash of a run (setting + seed): the store's resume key."""
    payload = json.dumps({"setting": to_dict(setting), "seed": int(seed)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def setting_from_dict(d: dict[str, Any]) -> Setting:
    """Rebuild a :class:`Setting` from :func:`to_dict` output (e.g. a stored spec)."""
    def build(cls: type, values: dict[str, Any]) -> Any:
        names = {f.name for f in fields(cls) if f.init}
        return cls(**{k: v for k, v in values.items() if k in names})

    import featlab.data  # noqa: F401  (registers every data model)
    import featlab.models  # noqa: F401  (registers every model family)

    data = dict(d.get("data", {}))
    kind = data.get("kind", "signal_noise")
    _check(kind in DATA_KINDS, "data.kind", kind, f"use one of {', '.join(DATA_KINDS)}")
    if kind == "signal_noise" and data.get("snr") is not None:
        data.pop("mu_norm", None)                      # recomputed from snr
    model = dict(d.get("model", {}))
    mkind = model.get("kind", "two_layer_cnn")
    _check(mkind in MODEL_KINDS, "model.kind", mkind,
           f"use one of {', '.join(MODEL_KINDS)} (a plugin's model must be imported first: --plugin)")
    return Setting(data=build(DATA_KINDS[kind], data),
                   model=build(MODEL_KINDS[mkind], model),
                   optim=build(OptimConfig, d.get("optim", {})),
                   train=build(TrainConfig, d.get("train", {})))
