r"""The model-family seam: what the population engine needs to know about a model.

A family is a frozen config dataclass (registered with :func:`featlab.config.register_model`,
unique ``kind``) plus a :class:`Family` of pure functions:

- ``init(cfg, run_keys, input_shape, dtype, out_dim=1) -> params``: a dict of tensors stacked on
  the population axis P, one run per key, each drawn from its run's own stream
  (``featlab.rng.generator(seed, "init")``), so a run is bit-identical inside or outside a
  population;
- ``apply(cfg, params, x, taps=False) -> f``: the model for **one** run (params without the P
  axis) on a batch x (N, *input_shape), returning f (N,) (one output) or (N, C); with
  ``taps=True`` it returns (f, {layer: h}) so probes can record activations without hooks. The
  engine batches it over P with ``torch.func.vmap``;
- ``param_groups(cfg) -> {param: group}`` ("input", "hidden", "output", "bias", ...): the trained
  parameters and the group each belongs to (optimizers and parametrizations act per group);
- optionally ``loss_and_grad`` (a batched analytic loss and gradient) and ``span`` (whether the
  family has a span representation), the fast paths of the two-layer CNN's own trainer;
- optionally ``vjp(cfg, params, X) -> (f, pullback)``: the forward pass of the **whole
  population** (params (P, ...), X (P, n, *input_shape) -> f (P, n) or (P, n, C)) and its
  vector-Jacobian product ``pullback(g) -> {param: (P, ...)}`` for a cotangent g = dL/df of f's
  shape, covering every trained parameter. The generic engine then differentiates any task's
  loss analytically (:mod:`featlab.train.analytic`) instead of through vmap, unless the vmap
  path is forced (``train_chunk(..., vmap=True)``); it must equal the vmap path up to rounding;
- ``lr_multipliers(cfg, optim_name, input_shape) -> {group: float}``: per-group learning-rate
  multipliers of the family's parametrization (default: none);
- optionally ``check(setting)``: raise ConfigError for a setting the family cannot train (called
  before anything is stored, by :func:`featlab.train.generic.check_strategies`);
- optionally ``task(cfg) -> str``: the task (:data:`featlab.train.tasks.TASKS`) the model's
  objective trains, in place of the data model's (the tied denoiser's "denoise");
- optionally ``train_steps(cfg) -> {group: k}``: groups updated at steps t < k only, then held
  fixed (a two-stage protocol: one GD step on the embeddings, then the rest; default: every
  group at every step);
- ``n_params(cfg, input_shape) -> int``: entries of one run's parameters, for the generic
  trainer's memory estimate (default: the width-based rule of an MLP);
- ``probes``: names of the family-specific probes: on the generic path, entries of
  :data:`featlab.probes.PROBES` (the MLP's ``act_scale``); the two-layer CNN's
  ``signal_noise_decomposition`` and ``gaussian_test`` are probes of (two-layer CNN, patch data)
  in the same registry (:mod:`featlab.diagnostics.patch_probes`), computed by its own trainer
  (:mod:`featlab.train.population`) in the fixed ``METRICS`` order of the stored CNN sweeps.

Adding a model = one module defining its config and :class:`Family`, and a
:func:`register_family` call (a user's own file works the same way: ``featlab run ... --plugin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from featlab.config import ConfigError, register_model

__all__ = ["Family", "FAMILIES", "register_family", "family_of"]


@dataclass(frozen=True)
class Family:
    """A model family (see the module docstring)."""

    config: type
    init: Callable[..., dict]
    apply: Callable[..., Any]
    param_groups: Callable[[Any], dict[str, str]]
    loss_and_grad: Callable[..., Any] | None = None
    span: bool = False
    lr_multipliers: Callable[..., dict[str, float]] | None = None
    probes: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = None
    n_params: Callable[..., int] | None = None
    task: Callable[[Any], str] | None = None
    train_steps: Callable[[Any], dict[str, int]] | None = None
    vjp: Callable[..., Any] | None = None

    @property
    def kind(self) -> str:
        return self.config.__dataclass_fields__["kind"].default


#: Families by their config's ``kind``.
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Register ``family`` and its config class (so ``Setting.model`` accepts it and
    ``setting_from_dict`` rebuilds it)."""
    if not isinstance(family, Family):
        raise ConfigError(f"register_family got {type(family).__name__}; pass a "
                          f"featlab.models.Family(config=..., init=..., apply=..., param_groups=...)")
    register_model(family.config)
    FAMILIES[family.kind] = family
    return family


def family_of(cfg: Any) -> Family:
    """The family of a model config (ConfigError naming model.kind if none is registered)."""
    kind = getattr(cfg, "kind", None)
    if kind not in FAMILIES:
        raise ConfigError(f"model.kind={kind!r} is invalid: choose one of {', '.join(FAMILIES)} "
                          f"(a model of your own: --plugin FILE.py that calls register_family)")
    return FAMILIES[kind]

