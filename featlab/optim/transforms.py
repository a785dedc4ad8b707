r"""Gradient transformations and ready-made optimizers over population-stacked parameters.

Every transform follows :class:`featlab.optim.base.Transform`: ``init(params) -> state`` and
``update(grads, state, params, step) -> (updates, state)``. Tensors carry a leading population
axis P; hyperparameters are (P,) tensors (one value per run) or Python floats (the same value for
every run, expanded to (P,) in ``init``). Hyperparameters live in the state, reshaped once per
parameter, so :func:`~featlab.optim.base.tree_select` on the state drops finished runs cleanly.
Optimizers follow the torch.optim conventions (same numbers as ``torch.optim.SGD``, ``Adam``,
``AdamW``, ``RMSprop`` run on each run alone); ``clip`` acts on the raw gradient, first.
"""

from __future__ import annotations

from typing import Callable

import torch

from featlab.optim.base import (Params, Transform, chain, per_param, per_run, per_run_values,
                                scale_by_lr)
from featlab.rng import hash_uniform, stream_seed

__all__ = ["scale_by_schedule", "trace", "scale_by_adam",
           "scale_by_rms", "scale_by_sign", "normalize", "add_decayed_weights",
           "clip_by_global_norm", "add_langevin_noise", "gaussian_noise", "sgd", "adam", "adamw",
           "rmsprop", "sign_gd", "normalized_gd", "langevin"]


def _sq_norm(grads: Params) -> torch.Tensor:
    """Per-run squared norm over all tensors of ``grads``: (P,)."""
    return sum(g.flatten(1).pow(2).sum(1) for g in grads.values())


def scale_by_schedule(schedule: Callable[[int], float]) -> Transform:
    r"""u = s(t) g with s = ``schedule`` evaluated at the trainer's step t."""

    def init(params: Params) -> tuple:
        return ()

    def update(grads, state, params, step):
        s = schedule(step)
        return {k: g * s for k, g in grads.items()}, state

    return Transform(init, update)


def trace(momentum, nesterov: bool = False) -> Transform:
    r"""Heavy ball: b_t = \mu_p b_{t-1} + g_t, u = b_t; Nesterov: u = g_t + \mu_p b_t.

    torch.optim.SGD convention (dampening 0, b_0 = 0 so b_1 = g_1).
    """

    def init(params: Params) -> dict:
        return {"mu": per_param(momentum, params, "momentum"),
                "buf": {k: torch.zeros_like(v) for k, v in params.items()}}

    def update(grads, state, params, step):
        mu, buf = state["mu"], dict(state["buf"])
        out = {}
        for k, g in grads.items():
            buf[k] = mu[k] * buf[k] + g
            out[k] = g + mu[k] * buf[k] if nesterov else buf[k]
        return out, {"mu": mu, "buf": buf}

    return Transform(init, update)


def scale_by_adam(b1=0.9, b2=0.999, eps=1e-8) -> Transform:
    r"""Adam direction (torch.optim.Adam convention, per-run b1, b2, eps):

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g,  v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2,
    u = \hat m_t / (\sqrt{\hat v_t} + \epsilon),  \hat m_t = m_t/(1-\beta_1^t),
    \hat v_t = v_t/(1-\beta_2^t); t counts this transform's updates per run (state ``count``).
    """

    def init(params: Params) -> dict:
        like = next(iter(params.values()))
        return {"b1": per_run_values(b1, params, "b1"), "b2": per_run_values(b2, params, "b2"),
                "eps": per_param(eps, params, "eps"),
                "count": torch.zeros(like.shape[0], dtype=torch.int64, device=like.device),
                "m": {k: torch.zeros_like(v) for k, v in params.items()},
                "v": {k: torch.zeros_like(v) for k, v in params.items()}}

    def update(grads, state, params, step):
        count = state["count"] + 1
        beta1, beta2 = state["b1"], state["b2"]
        bc1 = 1 - beta1 ** count                                     # (P,)
        bc2_sqrt = (1 - beta2 ** count).sqrt()                       # (P,)
        m, v, out = dict(state["m"]), dict(state["v"]), {}
        for k, g in grads.items():
            a1, a2 = per_run(beta1, g), per_run(beta2, g)
            m[k] = a1 * m[k] + (1 - a1) * g
            v[k] = a2 * v[k] + (1 - a2) * g * g
            denom = v[k].sqrt() / per_run(bc2_sqrt, g) + state["eps"][k]
            out[k] = m[k] / per_run(bc1, g) / denom
        return out, {**state, "count": count, "m": m, "v": v}

    return Transform(init, update)


def scale_by_rms(decay=0.99, eps=1e-8) -> Transform:
    r"""RMSprop direction (torch.optim.RMSprop convention, \alpha = ``decay``):

    v_t = \alpha v_{t-1} + (1-\alpha) g^2,  u = g / (\sqrt{v_t} + \epsilon),  v_0 = 0.
    """

    def init(params: Params) -> dict:
        return {"decay": per_param(decay, params, "decay"), "eps": per_param(eps, params, "eps"),
                "v": {k: torch.zeros_like(v) for k, v in params.items()}}

    def update(grads, state, params, step):
        v, out = dict(state["v"]), {}
        for k, g in grads.items():
            a = state["decay"][k]
            v[k] = a * v[k] + (1 - a) * g * g
            out[k] = g / (v[k].sqrt() + state["eps"][k])
        return out, {**state, "v": v}

    return Transform(init, update)


def scale_by_sign() -> Transform:
    r"""u = sign(g) (elementwise; sign(0) = 0)."""

    def init(params: Params) -> tuple:
        return ()

    def update(grads, state, params, step):
        return {k: torch.sign(g) for k, g in grads.items()}, state

    return Transform(init, update)


def normalize(eps: float = 1e-12) -> Transform:
    r"""u = g / \max(\|g\|_p, \epsilon), \|g\|_p the norm of run p over ALL its gradients."""

    def init(params: Params) -> tuple:
        return ()

    def update(grads, state, params, step):
        inv = 1.0 / _sq_norm(grads).sqrt().clamp_min(eps)            # (P,)
        return {k: g * per_run(inv, g) for k, g in grads.items()}, state

    return Transform(init, update)


def add_decayed_weights(weight_decay) -> Transform:
    r"""u = g + \lambda_p W (coupled L2 when placed before the scaling, decoupled after it)."""

    def init(params: Params) -> dict:
        return {"wd": per_param(weight_decay, params, "weight_decay")}

    def update(grads, state, params, step):
        return {k: g + state["wd"][k] * params[k] for k, g in grads.items()}, state

    return Transform(init, update)


def clip_by_global_norm(max_norm) -> Transform:
    r"""u = g \min(1, c_p / \|g\|_p), \|g\|_p the norm of run p over all its gradients."""

    def init(params: Params) -> dict:
        return {"max_norm": per_run_values(max_norm, params, "max_norm")}

    def update(grads, state, params, step):
        norm = _sq_norm(grads).sqrt()                                # (P,)
        c = state["max_norm"]
        factor = torch.where(norm > c, c / norm.clamp_min(torch.finfo(norm.dtype).tiny),
                             torch.ones_like(norm))
        return {k: g * per_run(factor, g) for k, g in grads.items()}, state

    return Transform(init, update)


def gaussian_noise(keys: torch.Tensor, name: str, step: int, shape: tuple[int, ...]) -> torch.Tensor:
    r"""Standard normal draws (P, *shape), float64, by Box-Muller from :func:`hash_uniform` keyed by
    (run key XOR a salt of the parameter ``name``, step, index): run p's draws do not depend on the
    population it is trained in, and two parameters of one run get independent draws."""
    salt = stream_seed(0, f"langevin:{name}") & ((1 << 62) - 1)
    u = hash_uniform(keys ^ salt, step, (*shape, 2))                    # (P, *shape, 2)
    return torch.sqrt(-2.0 * torch.log(u[..., 0])) * torch.cos(2 * torch.pi * u[..., 1])


def add_langevin_noise(lr, temperature, keys: torch.Tensor) -> Transform:
    r"""u = u_in + \sqrt{2 \eta_p T_p} \xi_t,  \xi_t ~ N(0, I) per run and step (placed after
    :func:`~featlab.optim.base.scale_by_lr`, so u_in = -\eta_p g).

    ``keys``: (P,) int64 run keys (:func:`featlab.rng.run_key`); the noise of run p at step t is
    :func:`gaussian_noise` (keys_p, t), so it is the same whether p is trained alone or in a
    population (and :func:`~featlab.optim.base.tree_select` keeps keys aligned with the runs)."""

    def init(params: Params) -> dict:
        eta = per_run_values(lr, params, "lr").double()
        temp = per_run_values(temperature, params, "temperature").double()
        like = next(iter(params.values()))
        return {"scale": (2.0 * eta * temp).sqrt(),                                   # (P,)
                "keys": torch.as_tensor(keys, dtype=torch.int64, device=like.device)}

    def update(grads, state, params, step):
        scale, keys = state["scale"], state["keys"]
        out = {}
        for k, u in grads.items():
            xi = gaussian_noise(keys, k, step, tuple(u.shape[1:]))              # (P, ...)
            out[k] = u + (per_run(scale, xi) * xi).to(u.dtype)
        return out, state

    return Transform(init, update)


# --- ready-made optimizers: [clip] -> [coupled wd] -> direction -> [decoupled wd] -> -lr s(t)

def _finish(head: list, lr, schedule, clip) -> Transform:
    parts = ([clip_by_global_norm(clip)] if clip is not None else []) + head
    if schedule is not None:
        parts.append(scale_by_schedule(schedule))
    return chain(*parts, scale_by_lr(lr))


def sgd(lr, momentum=None, nesterov: bool = False, weight_decay=None, *,
        schedule=None, clip=None) -> Transform:
    r"""SGD (torch.optim.SGD): g' = g + \lambda W; b = \mu b + g'; W \leftarrow W - \eta s(t) d,
    d = b (heavy ball), g' + \mu b (Nesterov) or g' (no momentum)."""
    if nesterov and momentum is None:
        raise ValueError("sgd: nesterov=True needs a momentum; pass momentum=0.9 (for example)")
    head = [add_decayed_weights(weight_decay)] if weight_decay is not None else []
    if momentum is not None:
        head.append(trace(momentum, nesterov))
    return _finish(head, lr, schedule, clip)


def adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=None, *, schedule=None,
         clip=None) -> Transform:
    r"""Adam (torch.optim.Adam, coupled L2): g' = g + \lambda W, W \leftarrow W - \eta s(t)
    \hat m / (\sqrt{\hat v} + \epsilon) (see :func:`scale_by_adam`)."""
    head = [add_decayed_weights(weight_decay)] if weight_decay is not None else []
    return _finish(head + [scale_by_adam(b1, b2, eps)], lr, schedule, clip)


def adamw(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2, *, schedule=None,
          clip=None) -> Transform:
    r"""AdamW (torch.optim.AdamW, decoupled): W \leftarrow W - \eta s(t) (\hat m / (\sqrt{\hat v}
    + \epsilon) + \lambda W)  [Loshchilov & Hutter 2019]."""
    return _finish([scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay)],
                   lr, schedule, clip)


def rmsprop(lr, decay=0.99, eps=1e-8, *, schedule=None, clip=None) -> Transform:
    r"""RMSprop (torch.optim.RMSprop): W \leftarrow W - \eta s(t) g / (\sqrt{v} + \epsilon)."""
    return _finish([scale_by_rms(decay, eps)], lr, schedule, clip)


def sign_gd(lr, *, schedule=None, clip=None) -> Transform:
    r"""Sign GD: W \leftarrow W - \eta s(t) sign(g). Equals Adam with \beta_1 = \beta_2 = 0 as
    \epsilon \to 0 (then u = g / (|g| + \epsilon))."""
    return _finish([scale_by_sign()], lr, schedule, clip)


def normalized_gd(lr, eps: float = 1e-12, *, schedule=None, clip=None) -> Transform:
    r"""Normalized GD: W \leftarrow W - \eta s(t) g / \|g\|_p (per-run norm over all params)."""
    return _finish([normalize(eps)], lr, schedule, clip)


def langevin(lr, temperature, keys: torch.Tensor, weight_decay=None, *, clip=None) -> Transform:
    r"""Unadjusted Langevin dynamics (a population of chains): W_{t+1} = W_t - \eta_p (g_t +
    \lambda W_t) + \sqrt{2 \eta_p T_p} \xi_t, \xi_t ~ N(0, I) from run p's own stream
    (:func:`add_langevin_noise`). For small \eta its stationary law approaches the Gibbs measure
    \propto exp(-(L(W) + \lambda |W|^2 / 2) / T_p) (Roberts & Tweedie 1996); T = 0 is GD."""
    head = ([clip_by_global_norm(clip)] if clip is not None else []) + \
        ([add_decayed_weights(weight_decay)] if weight_decay is not None else [])
    return chain(*head, scale_by_lr(lr), add_langevin_noise(lr, temperature, keys))
