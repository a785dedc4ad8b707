r"""L-layer MLP (width N) under a width parametrization, for one run (batched by vmap over P).

    h^0 = x \in R^d,   h^l = \phi(W^l h^{l-1} + b^l)  (l = 1..L-1),   f = W^L h^{L-1} + b^L,

with \phi in {relu, tanh, erf, linear}; W^1 (N, d) is the *input* layer, W^2..W^{L-1} (N, N) the
*hidden* layers, W^L (C, N) the *output* layer (C = 1, or the number of classes); biases start at 0.

Parametrizations (Yang et al., TP V, arXiv 2203.03466, Table 3; SP in brackets), in width-ratio
form w = N / N_0 with the base width N_0 = ``base_width`` (constants are tuned once at N_0, where
both coincide):

| group  | init variance                          | SGD lr multiplier | Adam lr multiplier |
|--------|----------------------------------------|-------------------|--------------------|
| input  | 1/fan_in  (1/fan_in)                   | w   (1)           | 1   (1)            |
| hidden | 1/fan_in  (1/fan_in)                   | 1   (1)           | 1/w (1)            |
| output | 1/(fan_in w)  (1/fan_in)               | 1/w (1)           | 1/w (1)            |
| bias   | 0                                      | w   (1)           | 1   (1)            |

(muP's output variance 1/fan_in^2 and SGD lr fan_out / 1/fan_in of Table 3, scaled so that they
equal SP at N = N_0.) ``init_scale`` multiplies every initial weight (a per-run field).

``ntk``, ``mf`` and ``abc`` (explicit exponents) are trained in TP IV's literal abc form
(:mod:`featlab.theory.abc`; Yang & Hu, arXiv 2011.14522, Def. 3.1), again in width ratios:

    W^l = w^{-a_l} \theta^l,   \theta^l ~ N(0, w^{-2 b_l + 2 e_l} / fan_in_l),   lr multiplier w^{-c},

with e_1 = 0 and e_l = 1/2 otherwise (1/fan_in_l already carries N^{-1/2} for l >= 2), so every
parametrization equals SP at N = N_0. A bias is a weight on a constant input (fan_in 1): it
takes the input layer's multiplier w^{-a_1}. These forms are SGD forms: Adam-like optimizers are
refused for them (:func:`check`), and an unstable explicit (a, b, c) (TP IV Thm 3.3) is refused
before training. By the TP IV symmetry, ``abc`` with muP's exponents trains the same function as
``mup`` under SGD (tests/test_abc.py).
"""

from __future__ import annotations

import math

import torch

from featlab.config import MLP, ConfigError
from featlab.rng import generator

__all__ = ["FAMILY", "init", "apply", "param_groups", "lr_multipliers", "ADAM_LIKE", "exponents",
           "check"]

#: Optimizers that take muP's Adam column (the others take its SGD column).
ADAM_LIKE = frozenset({"adam", "adamw", "rmsprop", "sign_gd", "normalized_gd"})

_PHI = {"relu": torch.relu, "tanh": torch.tanh, "erf": torch.erf, "linear": lambda z: z}


def _shapes(cfg: MLP, d: int, out_dim: int) -> list[tuple[int, int]]:
    """(fan_out, fan_in) of W^1..W^L."""
    N, L = cfg.width, cfg.depth
    return [(N, d)] + [(N, N)] * (L - 2) + [(out_dim, N)]


def _ratio(cfg: MLP) -> float:
    return cfg.width / cfg.base_width


def exponents(cfg: MLP):
    """The abc exponents (:class:`featlab.theory.abc.ABC`) of ``cfg``'s parametrization."""
    from featlab.theory.abc import named, parse_abc

    if cfg.parametrization == "abc":
        return parse_abc(cfg.abc, cfg.depth)
    return named(cfg.parametrization, cfg.depth)


def _literal(cfg: MLP) -> bool:
    """True for the parametrizations trained in the literal abc form (module docstring)."""
    return cfg.parametrization not in ("sp", "mup")


def _multipliers(cfg: MLP) -> list[float]:
    """w^{-a_l} for W^1..W^L (literal abc form); 1 for sp and mup."""
    if not _literal(cfg):
        return [1.0] * cfg.depth
    w = _ratio(cfg)
    return [w ** -a for a in exponents(cfg).a]


def check(setting) -> None:
    """ConfigError for what this family cannot train: an Adam-like optimizer with a literal abc
    parametrization (only TP V's sp and muP Adam columns are verified), an unstable explicit
    (a, b, c) (TP IV Thm 3.3)."""
    from featlab.theory.abc import classify

    cfg, name = setting.model, setting.optim.name
    if _literal(cfg) and name in ADAM_LIKE:
        raise ConfigError(f"optim.name={name!r} is invalid with model.parametrization="
                          f"{cfg.parametrization}: its abc form is an SGD form (TP IV); use "
                          f"optim.name=gd/sgd/momentum, or model.parametrization=sp/mup for Adam")
    if cfg.parametrization == "abc":
        p = exponents(cfg)
        row = classify(p)
        if not row["stable"]:
            raise ConfigError(f"model.abc={cfg.abc!r} is invalid: unstable by TP IV Thm 3.3 (r = "
                              f"{row['r']:g}; fails {row['violated'][0]}), it blows up as the width "
                              f"grows; choose stable exponents, e.g. muP's {exponents(MLP(depth=cfg.depth, parametrization='mup')).text()}")


def init(cfg: MLP, run_keys: list[int], input_shape: tuple[int, ...], dtype: torch.dtype,
         out_dim: int = 1) -> dict[str, torch.Tensor]:
    """W{l} (P, fan_out, fan_in) ~ N(0, var_l) (module docstring) from each run's "init" stream;
    b{l} (P, fan_out) = 0 with ``bias``."""
    shapes = _shapes(cfg, input_shape[-1], out_dim)
    p = exponents(cfg) if _literal(cfg) else None
    out: dict[str, list[torch.Tensor]] = {}
    for seed in run_keys:
        g = generator(seed, "init")
        for l, (fo, fi) in enumerate(shapes):
            var = 1.0 / fi
            if l == len(shapes) - 1 and cfg.parametrization == "mup":
                var /= _ratio(cfg)
            elif _literal(cfg):                        # theta^l ~ N(0, w^{-2 b_l + 2 e_l} / fan_in)
                var /= _ratio(cfg) ** (2 * p.b[l] - (0.0 if l == 0 else 1.0))
            W = torch.randn(fo, fi, generator=g, dtype=torch.float64) * (cfg.init_scale * math.sqrt(var))
            out.setdefault(f"W{l}", []).append(W.to(dtype))
            if cfg.bias:
                out.setdefault(f"b{l}", []).append(torch.zeros(fo, dtype=dtype))
    return {k: torch.stack(v) for k, v in out.items()}


def apply(cfg: MLP, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """f for one run: x (n, d) -> f (n,) (one output) or (n, C); taps: {"h1".."h{L-1}": h^l}."""
    phi, L = _PHI[cfg.activation], cfg.depth
    m = _multipliers(cfg)
    h, acts = x, {}
    for l in range(L):
        z = h @ params[f"W{l}"].T                                          # (n, fan_out)
        if m[l] != 1.0:
            z = z * m[l]                                                   # W^l = w^{-a_l} theta^l
        if cfg.bias:
            z = z + (params[f"b{l}"] if m[0] == 1.0 else params[f"b{l}"] * m[0])
        if l == L - 1:
            h = z
        else:
            h = phi(z)
            acts[f"h{l + 1}"] = h
    f = h[:, 0] if h.shape[-1] == 1 else h
    return (f, acts) if taps else f


def param_groups(cfg: MLP) -> dict[str, str]:
    """W0 input, W1..W{L-2} hidden, W{L-1} output, every b bias."""
    L = cfg.depth
    groups = {f"W{l}": "input" if l == 0 else "output" if l == L - 1 else "hidden" for l in range(L)}
    if cfg.bias:
        groups.update({f"b{l}": "bias" for l in range(L)})
    return groups


def lr_multipliers(cfg: MLP, optim_name: str, input_shape: tuple[int, ...] = ()) -> dict[str, float]:
    """Per-group lr multipliers of the parametrization (module docstring); SP: all 1; the literal
    abc form: w^{-c} for every group."""
    if cfg.parametrization == "sp":
        return {"input": 1.0, "hidden": 1.0, "output": 1.0, "bias": 1.0}
    w = _ratio(cfg)
    if _literal(cfg):
        k = w ** -exponents(cfg).c
        return {"input": k, "hidden": k, "output": k, "bias": k}
    if optim_name in ADAM_LIKE:
        return {"input": 1.0, "hidden": 1.0 / w, "output": 1.0 / w, "bias": 1.0}
    return {"input": w, "hidden": 1.0, "output": 1.0 / w, "bias": w}


def _family():
    from featlab.models.family import Family
    return Family(config=MLP, init=init, apply=apply, param_groups=param_groups,
                  lr_multipliers=lr_multipliers, probes=("act_scale", "feature_movement", "neural_collapse"),
                  check=check)


FAMILY = _family()
