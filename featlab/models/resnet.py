r"""Residual network of width N and depth L with a depth-scaled branch, for one run (batched by
vmap over P):

    h^0 = W_in x,
    h^l = h^{l-1} + \beta_L B_l(h^{l-1})        (l = 1..L),        f = W_out \phi(h^L),

    one-layer blocks:  B_l(h) = W_l \phi(h),           W_l (N, N)
    two-layer blocks:  B_l(h) = V_l \phi(U_l \phi(h)),   U_l, V_l (N, N)

with the branch multiplier \beta_L = (L / L_0)^{-\alpha} (``branch_alpha`` alpha, ``base_depth``
L_0): alpha = 0 is the unscaled ResNet, alpha = 1/2 depth-muP (Yang et al., TP VI, arXiv
2310.02244; Bordelon et al., arXiv 2309.16620), alpha = 1 CompleteP (arXiv 2505.01618). All
weights start N(0, 1/fan_in) times ``init_scale``; W_out (1, N) [or (C, N)].

Learning rates, per group (``input`` W_in, ``inner`` U_l, ``hidden`` W_l / V_l, ``output``
W_out). In width, sp or mup exactly as the MLP family (:mod:`featlab.models.mlp`, TP V Table 3,
relative to ``base_width``). In depth (``depth_lr``): the branch weights' lr is multiplied by
(L / L_0)^{2 alpha - 1} for SGD-like optimizers and (L / L_0)^{alpha - 1} for Adam-like ones, the
rule that keeps each block's contribution to the feature update Theta(1/L) so the L blocks add up
to Theta(1). Derivation: the gradient of a branch weight carries beta_L; an SGD step Delta W ~
eta beta_L moves h^L by L beta_L^2 eta = eta L^{1 - 2 alpha} (so eta ~ L^{2 alpha - 1}: constant at
depth-muP); an Adam step is normalized, Delta W ~ eta, and moves h^L by L beta_L eta (so eta ~
L^{alpha - 1}: L^{-1/2} at depth-muP, constant for CompleteP), the rules the papers state.

What this predicts for the optimal base lr eta* across depth (:func:`predicted_lr_exponent`,
reported by depth-transfer-adam): with the rule on, eta* is depth-independent
for every alpha (the rule already carries the depth scaling); with it off, eta* ~ (L / L_0)^e
with e = 2 alpha - 1 (SGD) or alpha - 1 (Adam). Under Adam: CompleteP (alpha = 1) needs no rule
(its factor is 1), so its optimum stays put either way; depth-muP (alpha = 1/2) keeps it only
with the rule (lr x L^{-1/2}; without it eta* drifts by -1/2 log2 unit per doubling of L); the
unscaled net (alpha = 0, no rule) has eta* ~ 1/L, one log2 unit per doubling. This counts only
the branch weights: W_in and W_out keep a depth-independent lr, and a saturating phi damps the
growth of the unscaled stream, so the unscaled drift is expected below this, not at it
(measured under SGD: about 0.4 log2 units per doubling instead of 1, tanh; CHECKS.md).
``inner_lr_exponent`` kappa multiplies the inner layers' (U_l) lr by a further (L / L_0)^kappa:
a configurable depth-aware correction for the first internal layer of two-layer blocks, where
Yao, Wu, Gao 2025 (arXiv 2512.21075) locate depth-muP's collapse of feature learning. Their exact
correction was not verified: kappa is featlab's rule, not theirs.

Taps (what the act_scale / feature_movement probes read, in this order): ``h0`` the embedding,
``inner1`` and ``innerL`` the first and last block's inner activation \phi(U_l \phi(h)) (two-layer
blocks), ``hL`` the last stream \phi(h^L) (the readout's input, last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import MLP, _check, _check_choice, _finite
from featlab.models import mlp
from featlab.rng import generator

__all__ = ["ResNet", "FAMILY", "init", "apply", "param_groups", "lr_multipliers", "branch_multiplier",
           "depth_lr_exponent", "predicted_lr_exponent"]

_PHI = {"relu": torch.relu, "tanh": torch.tanh}


@dataclass(frozen=True)
class ResNet:
    """Residual MLP: ``depth`` L >= 1 residual blocks of ``block_layers`` (1 or 2) layers, width
    N, branch multiplier (L / ``base_depth``)^-``branch_alpha``, ``parametrization`` sp or mup in
    width (relative to ``base_width``), ``depth_lr`` the depth rule for the branch lrs,
    ``inner_lr_exponent`` featlab's extra depth correction of the inner layers
    (:mod:`featlab.models.resnet`)."""

    depth: int = 4
    width: int = 64
    block_layers: int = 1
    branch_alpha: float = 0.5
    base_depth: int = 1
    depth_lr: bool = True
    inner_lr_exponent: float = 0.0
    activation: Literal["relu", "tanh"] = "relu"
    parametrization: Literal["sp", "mup"] = "sp"
    base_width: int = 64
    init_scale: float = 1.0
    kind: Literal["resnet"] = "resnet"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"init_scale"})
    INPUT: ClassVar[str] = "vectors"

    def __post_init__(self) -> None:
        for key, low in (("depth", 1), ("width", 1), ("base_depth", 1), ("base_width", 1)):
            v = getattr(self, key)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= low, f"model.{key}", v,
                   f"use an integer >= {low}")
        _check(self.block_layers in (1, 2), "model.block_layers", self.block_layers,
               "use 1 (B(h) = W phi(h)) or 2 (B(h) = V phi(U phi(h)))")
        _check(_finite(self.branch_alpha) and self.branch_alpha >= 0, "model.branch_alpha",
               self.branch_alpha, "use a finite alpha >= 0 (0 unscaled, 0.5 depth-muP, 1 CompleteP)")
        _check(_finite(self.inner_lr_exponent), "model.inner_lr_exponent", self.inner_lr_exponent,
               "use a finite exponent (0 = no extra correction)")
        _check(self.block_layers == 2 or self.inner_lr_exponent == 0, "model.inner_lr_exponent",
               self.inner_lr_exponent, "the inner-layer correction needs model.block_layers=2")
        _check_choice("model.activation", self.activation, ("relu", "tanh"))
        _check_choice("model.parametrization", self.parametrization, ("sp", "mup"))
        _check(_finite(self.init_scale) and self.init_scale >= 0, "model.init_scale",
               self.init_scale, "use a finite init scale >= 0")


def branch_multiplier(cfg: ResNet) -> float:
    """beta_L = (L / L_0)^{-alpha}."""
    return (cfg.depth / cfg.base_depth) ** -cfg.branch_alpha


def _shapes(cfg: ResNet, d: int, out_dim: int) -> dict[str, tuple[int, int]]:
    N, L = cfg.width, cfg.depth
    shapes = {"W_in": (N, d)}
    if cfg.block_layers == 1:
        shapes["W"] = (L, N, N)
    else:
        shapes["U"], shapes["V"] = (L, N, N), (L, N, N)
    shapes["W_out"] = (out_dim, N)
    return shapes


def init(cfg: ResNet, run_keys: list[int], input_shape: tuple[int, ...], dtype: torch.dtype,
         out_dim: int = 1) -> dict[str, torch.Tensor]:
    """Every weight (P, *shape) ~ N(0, init_scale^2 / fan_in) from each run's "init" stream; the
    muP readout has variance 1/(fan_in w) (w = N / N_0), as in the MLP family."""
    shapes = _shapes(cfg, input_shape[-1], out_dim)
    w = cfg.width / cfg.base_width
    out: dict[str, list[torch.Tensor]] = {k: [] for k in shapes}
    for seed in run_keys:
        g = generator(seed, "init")
        for k, shape in shapes.items():
            var = 1.0 / shape[-1] / (w if k == "W_out" and cfg.parametrization == "mup" else 1.0)
            W = torch.randn(*shape, generator=g, dtype=torch.float64) * (cfg.init_scale * math.sqrt(var))
            out[k].append(W.to(dtype))
    return {k: torch.stack(v) for k, v in out.items()}


def apply(cfg: ResNet, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """f for one run: x (n, d) -> f (n,) or (n, C); taps: h0, inner1/innerL, hL (module docstring)."""
    phi, beta = _PHI[cfg.activation], branch_multiplier(cfg)
    h = x @ params["W_in"].T                                                  # (n, N)
    acts = {"h0": h}
    for l in range(cfg.depth):
        if cfg.block_layers == 1:
            h = h + beta * (phi(h) @ params["W"][l].T)
        else:
            u = phi(phi(h) @ params["U"][l].T)                                # (n, N) inner features
            if l == 0:
                acts["inner1"] = u
            if l == cfg.depth - 1:
                acts["innerL"] = u
            h = h + beta * (u @ params["V"][l].T)
    top = phi(h)
    acts["hL"] = top
    out = top @ params["W_out"].T                                            # (n, out_dim)
    f = out[:, 0] if out.shape[-1] == 1 else out
    return (f, acts) if taps else f


def param_groups(cfg: ResNet) -> dict[str, str]:
    """W_in input, U inner, W / V hidden, W_out output."""
    branch = {"W": "hidden"} if cfg.block_layers == 1 else {"U": "inner", "V": "hidden"}
    return {"W_in": "input", **branch, "W_out": "output"}


def depth_lr_exponent(cfg: ResNet, optim_name: str) -> float:
    """The depth rule's exponent e_rule of (L / L_0) on the branch lrs: alpha - 1 for Adam-like
    optimizers, 2 alpha - 1 for SGD-like ones (module docstring), whether or not it is applied."""
    alpha = cfg.branch_alpha
    return alpha - 1.0 if optim_name in mlp.ADAM_LIKE else 2.0 * alpha - 1.0


def predicted_lr_exponent(cfg: ResNet, optim_name: str) -> float:
    """The exponent e of eta* ~ (L / L_0)^e the depth rule's derivation predicts for the optimal
    base lr: 0 with ``depth_lr`` on (the rule carries the scaling), e_rule with it off (branch
    weights only; an upper bound in size for a saturating phi, module docstring)."""
    return 0.0 if cfg.depth_lr else depth_lr_exponent(cfg, optim_name)


def lr_multipliers(cfg: ResNet, optim_name: str, input_shape: tuple[int, ...] = ()) -> dict[str, float]:
    """Width multipliers of sp / mup (the MLP family's table) times the depth rule on the branch
    groups and (L / L_0)^kappa on the inner group (module docstring)."""
    width = mlp.lr_multipliers(MLP(depth=3, width=cfg.width, base_width=cfg.base_width,
                                   parametrization=cfg.parametrization), optim_name)
    r = cfg.depth / cfg.base_depth
    depth = r ** depth_lr_exponent(cfg, optim_name) if cfg.depth_lr else 1.0
    return {"input": width["input"], "hidden": width["hidden"] * depth,
            "inner": width["hidden"] * depth * r ** cfg.inner_lr_exponent, "output": width["output"]}


def n_params(cfg: ResNet, input_shape: tuple[int, ...]) -> int:
    return sum(math.prod(s) for s in _shapes(cfg, input_shape[-1], 1).values())


def _family():
    from featlab.models.family import Family
    return Family(config=ResNet, init=init, apply=apply, param_groups=param_groups,
                  lr_multipliers=lr_multipliers, n_params=n_params,
                  probes=("act_scale", "feature_movement"))


FAMILY = _family()
