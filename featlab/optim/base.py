"""Functional optimizers over population-stacked parameters (optax style).

An optimizer is a :class:`Transform` ``(init, update)``: ``init(params) -> state`` and
``update(grads, state, params, step) -> (updates, state)``; the trainer applies
``params <- params + updates`` for active runs. Parameters are dicts of tensors whose leading
axis is the population ``P``; hyperparameters that vary across runs are (P,) tensors that
broadcast against each parameter (:func:`per_run`). Transforms compose with :func:`chain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

__all__ = ["Transform", "chain", "partition", "per_run", "per_run_values", "per_param", "scale_by_lr",
           "tree_map", "tree_select"]

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Transform:
    """A gradient transformation: pure functions with explicit state."""

    init: Callable[[Params], Any]
    update: Callable[[Params, Any, Params, int], tuple[Params, Any]]


def per_run(h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a (P,) hyperparameter to broadcast against a (P, ...) tensor."""
    return h.reshape(h.shape[0], *([1] * (like.dim() - 1))).to(like.dtype)


def tree_map(fn: Callable[[torch.Tensor], torch.Tensor], tree: Any) -> Any:
    """Apply ``fn`` to every tensor in a nest of dicts/tuples/lists."""
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, v) for v in tree)
    return tree


def tree_select(tree: Any, keep: torch.Tensor) -> Any:
    """Keep the runs ``keep`` (index tensor) of every population-stacked tensor in ``tree``."""
    return tree_map(lambda t: t[keep] if t.dim() > 0 else t, tree)


def chain(*transforms: Transform) -> Transform:
    """Compose transforms left to right: the updates of one are the gradients of the next."""

    def init(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(grads: Params, state: tuple, params: Params, step: int) -> tuple[Params, tuple]:
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params, step)
            new_state.append(s)
        return grads, tuple(new_state)

    return Transform(init, update)


def per_run_values(h: Any, params: Params, name: str) -> torch.Tensor:
    """A hyperparameter as a (P,) tensor of the parameters' dtype and device.

    ``h``: a (P,) tensor (one value per run), a 0-d tensor or a float (the same for all runs).
    """
    like = next(iter(params.values()))
    P = like.shape[0]
    if isinstance(h, torch.Tensor) and h.dim() > 0:
        if h.shape != (P,):
            raise ValueError(f"{name} has shape {tuple(h.shape)} but the population has P={P} "
                             f"runs; pass a ({P},) tensor (one value per run) or a float")
        return h.to(dtype=like.dtype, device=like.device)
    return torch.full((P,), float(h), dtype=like.dtype, device=like.device)


def per_param(h: Any, params: Params, name: str) -> dict[str, torch.Tensor]:
    """{k: h as (P, 1, ..., 1), broadcasting against params[k]}."""
    h = per_run_values(h, params, name)
    return {k: per_run(h, v) for k, v in params.items()}


def scale_by_lr(lr: Any) -> Transform:
    r"""u = -\eta_p g, with a per-run learning rate ``lr`` ((P,) tensor or float).

    -eta_p is reshaped once per parameter in ``init``, so an update is one multiply.
    """

    def init(params: Params) -> dict:
        return {"lr": per_run_values(lr, params, "lr"),
                "neg_lr": {k: -v for k, v in per_param(lr, params, "lr").items()}}

    def update(grads: Params, state: dict, params: Params, step: int) -> tuple[Params, dict]:
        return {k: g * state["neg_lr"][k] for k, g in grads.items()}, state

    return Transform(init, update)


def partition(labels: dict[str, str], transforms: dict[str, Transform]) -> Transform:
    """Route each parameter to the transform of its label (optax's ``partition``).

    ``labels``: {param: label}; ``transforms``: {label: Transform}. Each transform sees only the
    sub-dict of its parameters (its state holds only theirs); parameters without a label get no
    update. Global-norm operations (clipping, normalized GD) then act per label."""
    missing = sorted(set(labels.values()) - set(transforms))
    if missing:
        raise ValueError(f"partition: no transform for label(s) {', '.join(missing)}")

    def split(tree: Params, label: str) -> Params:
        return {k: v for k, v in tree.items() if labels.get(k) == label}

    def init(params: Params) -> dict:
        return {lab: t.init(split(params, lab)) for lab, t in transforms.items()
                if split(params, lab)}

    def update(grads: Params, state: dict, params: Params, step: int) -> tuple[Params, dict]:
        out, new = {}, dict(state)
        for lab, s in state.items():
            g = split(grads, lab)
            if g:
                u, new[lab] = transforms[lab].update(g, s, split(params, lab), step)
                out.update(u)
        return out, new

    return Transform(init, update)
