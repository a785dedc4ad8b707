"""Per-run randomness that does not depend on which population a run is trained in.

A run's data, initialization and test draws come from ``torch.Generator``s seeded by
:func:`stream_seed` (seed, stream name), so run k of a population of P gives bit-identical
tensors to the same run trained alone. Randomness needed *inside* the lockstep loop (minibatch
indices, per-step label noise) comes from a counter-based hash, :func:`hash_uniform`, keyed by
(run key, step, index): vectorized over the population and equally chunk-independent.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch

__all__ = ["stream_seed", "generator", "run_key", "hash_uniform", "hash_beta", "for_each_run",
           "for_each_distinct", "distinct_runs"]

_MASK63 = (1 << 63) - 1


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for the named random stream ("data", "init", "test", ...) of a run."""
    digest = hashlib.blake2b(f"{int(seed)}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK63


def generator(seed: int, stream: str) -> torch.Generator:
    """A CPU generator for one run's stream (CPU so results do not depend on the device)."""
    return torch.Generator().manual_seed(stream_seed(seed, stream))


def for_each_run(draw: Callable[[int], None], count: int, min_per_thread: int = 64) -> None:
    """``draw(p)`` for p in range(count), split into contiguous blocks over up to
    ``torch.get_num_threads()`` threads (torch's generators release the GIL while they fill a
    tensor). Each ``draw(p)`` must use only run p's generators and write only run p's slice, so
    the result does not depend on the thread count."""
    workers = min(torch.get_num_threads(), count // min_per_thread)
    if workers <= 1:
        for p in range(count):
            draw(p)
        return

    def block(k: int) -> None:
        for p in range(k * count // workers, (k + 1) * count // workers):
            draw(p)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(block, range(workers)))               # re-raises a worker's error


def distinct_runs(keys: list) -> tuple[list[int], list[int]]:
    """(src, leaders): ``src[p]`` is the first run whose key equals ``keys[p]``, ``leaders`` the
    distinct first runs in order (runs with equal keys draw equal numbers)."""
    first: dict = {}
    src = [first.setdefault(k, p) for p, k in enumerate(keys)]
    return src, list(first.values())


def for_each_distinct(draw: Callable[[int], None], keys: list, buffers: list[torch.Tensor]) -> int:
    """:func:`for_each_run` over the runs whose draws differ, then copy: ``keys[p]`` names
    everything run p's ``draw(p)`` depends on (its seed and the sizes and config fields the draw
    reads), so runs with equal keys draw equal numbers. ``draw`` runs once per distinct key, on
    the first run p holding it, and the other runs' slices of each tensor in ``buffers`` (P
    leading) are copied from that run's. The result is the same as ``for_each_run(draw, P)``;
    a sweep over a grid at fixed seeds (the same data at every ||mu||, say) draws each seed's
    numbers once instead of once per grid point. Returns the number of distinct keys."""
    src, leaders = distinct_runs(keys)
    for_each_run(lambda i: draw(leaders[i]), len(leaders))
    if len(leaders) < len(keys):
        dup = torch.tensor([p for p, s in enumerate(src) if s != p])
        from_ = torch.tensor([s for p, s in enumerate(src) if s != p])
        for b in buffers:
            b.index_copy_(0, dup, b.index_select(0, from_))
    return len(leaders)


def run_key(seed: int, stream: str) -> int:
    """Integer key of a run's in-loop stream, for :func:`hash_uniform`."""
    return stream_seed(seed, stream) & ((1 << 62) - 1)


def _lsr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64 finalizer on int64 (wrapping arithmetic)."""
    x = (x ^ _lsr(x, 30)) * -4658895280553007687  # 0xbf58476d1ce4e5b9
    x = (x ^ _lsr(x, 27)) * -7723592293110705685  # 0x94d049bb133111eb
    return x ^ _lsr(x, 31)


def hash_uniform(keys: torch.Tensor, step: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform(0, 1) float64 draws, shape (P, *shape), a pure function of (key_p, step_p, index).

    keys: (P,) int64 run keys; step: an int or a (P,) int64 counter per run. Two populations
    holding the same run get the same draws.
    """
    count = 1
    for s in shape:
        count *= s
    idx = torch.arange(count, dtype=torch.int64, device=keys.device)
    step_t = torch.as_tensor(step, dtype=torch.int64, device=keys.device).reshape(-1)
    salt = _mix(step_t * 0x5851F42D4C957F2D + 0x14057B7EF767814F)      # (1,) or (P,)
    x = _mix(keys * 1000003 + salt)[:, None] + _mix(idx + 0x632BE59BD9B4E019)[None, :]
    x = _mix(_mix(x))
    u = (_lsr(x, 11).to(torch.float64) + 0.5) / float(1 << 53)
    return u.reshape(keys.shape[0], *shape)


def _gamma_from_uniform(alpha: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    r"""Gamma(alpha, 1) draws from uniforms by Marsaglia & Tsang (2000), vectorized.

    alpha: broadcastable to u[..., 0, 0]; u: (..., R, 4) uniforms: R proposal rounds of (two for
    a Box-Muller normal z, one for the acceptance test), the 4th of round 0 boosts alpha < 1
    (G_alpha = G_{alpha+1} U^{1/alpha}). With d = a - 1/3, c = 1/sqrt(9d), v = (1 + cz)^3 the
    proposal d v is accepted if log U < z^2/2 + d - dv + d log v (probability >= 0.95 per round
    for a >= 1); the first accepted round is used. R = 8 rounds fail with probability < 1e-10,
    in which case the mean a is returned.
    """
    a = torch.where(alpha < 1, alpha + 1, alpha)[..., None]                  # (..., 1)
    d = a - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    z = torch.sqrt(-2.0 * torch.log(u[..., 0])) * torch.cos(2 * torch.pi * u[..., 1])
    v = (1 + c * z) ** 3
    ok = (v > 0) & (torch.log(u[..., 2]) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
    first = torch.where(ok.any(-1), ok.float().argmax(-1), -1)             # (...,)
    g = torch.where(first >= 0, (d * v).gather(-1, first.clamp_min(0)[..., None]).squeeze(-1),
                    a.squeeze(-1))
    boost = u[..., 0, 3] ** (1.0 / alpha.clamp_min(1e-12))
    return torch.where(alpha < 1, g * boost, g)


def hash_beta(keys: torch.Tensor, step: int | torch.Tensor, shape: tuple[int, ...],
              alpha: torch.Tensor) -> torch.Tensor:
    """Beta(alpha_p, alpha_p) float64 draws, shape (P, *shape), as G_1 / (G_1 + G_2) with Gamma
    draws from :func:`hash_uniform` (chunk-independent like it: the draws of index i do not
    depend on ``shape``'s leading size, so ragged n gives the same draws). alpha: (P,) > 0."""
    rounds = 8
    u = hash_uniform(keys, step, (*shape, 2, rounds, 4))                     # (P, *shape, 2, R, 4)
    a = alpha.to(torch.float64).reshape(-1, *([1] * (len(shape) + 1)))      # (P, 1, ..., 1)
    g = _gamma_from_uniform(a, u)                                            # (P, *shape, 2)
    return g[..., 0] / (g[..., 0] + g[..., 1])
