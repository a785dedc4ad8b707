r"""The signal-noise patch data model (Cao et al. 2022; Kou et al. 2023; Huang et al. 2025).

For each sample: y ~ Unif{+1, -1}; the signal patch is y \mu; the noise patch is
\xi ~ N(0, \sigma_p^2 P) with P = I - \mu\mu^T/\|\mu\|^2 (``orthogonal``) or P = I
(``isotropic``); the patches are ordered [signal, noise] or in random order; the observed label
is \tilde y = -y with probability ``flip_p`` (the signal patch keeps the clean label).

Draws for one run come from its own generators (``featlab.rng``): the training set from stream
"data", the test set from stream "test", so a run's data are the same in any population.
Runs are stacked on a leading population axis ``P``; ragged ``n`` is padded and masked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from featlab.config import SignalNoiseData
from featlab.rng import for_each_distinct, generator

__all__ = ["PatchBatch", "sample_run", "sample_batch", "two_patch_run", "stack_runs", "signal_vector",
           "noise_form"]


_FIELDS = ("X", "y", "y_clean", "mask", "signal_patch", "mu", "mu_class", "noise_idx", "group",
           "noise_basis")


@dataclass
class PatchBatch:
    """A population of patch datasets (any data model of ``featlab.data.REGISTRY``).

    X: (P, n, K, d) patches; y: (P, n) observed labels (+-1, 0 on padding); y_clean: (P, n);
    mask: (P, n) 1 for real samples; signal_patch: (P, n) index of the (main) signal patch;
    mu: (P, S, d) feature vectors (row 0 the main signal); mu_class: (P, S) class c_s in
    {+1, -1} whose samples carry +mu_s; noise_idx: (P, n, K_n) indices of the noise patches;
    group: (P, n) sample group (long) or None; noise_basis: (P, n, K_n, d) the decomposition's
    noise directions when the data model gives them (e.g. a noise patch minus its feature-noise
    part), else None (the noise patches themselves).
    """

    X: torch.Tensor
    y: torch.Tensor
    y_clean: torch.Tensor
    mask: torch.Tensor
    signal_patch: torch.Tensor
    mu: torch.Tensor
    mu_class: torch.Tensor
    noise_idx: torch.Tensor
    group: torch.Tensor | None = None
    noise_basis: torch.Tensor | None = None

    @property
    def n_eff(self) -> torch.Tensor:
        """(P,) number of real samples per run."""
        return self.mask.sum(1)

    def noise(self) -> torch.Tensor:
        """(P, n, K_n, d) the noise directions xi_{i,k} of the decomposition: ``noise_basis`` when the
        data model provides it, else the noise patches X[i, noise_idx[i, k]]."""
        if self.noise_basis is not None:
            return self.noise_basis
        d = self.X.shape[3]
        idx = self.noise_idx[:, :, :, None].expand(-1, -1, -1, d)
        return torch.gather(self.X, 2, idx)

    def select(self, keep: torch.Tensor) -> "PatchBatch":
        """Sub-population of the runs in ``keep`` (index tensor)."""
        pick = lambda t: None if t is None else t[keep]  # noqa: E731
        return PatchBatch(*(pick(getattr(self, f)) for f in _FIELDS))

    def to(self, device: torch.device | str) -> "PatchBatch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return PatchBatch(*(move(getattr(self, f)) for f in _FIELDS))


def signal_vector(cfg: SignalNoiseData, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """mu in R^d: ||mu|| e_1, or ||mu|| times a unit vector drawn from the run's "mu" stream."""
    if cfg.mu_direction == "e1":
        mu = torch.zeros(cfg.d, dtype=dtype)
        mu[0] = 1.0
    else:
        mu = torch.randn(cfg.d, generator=generator(seed, "mu"), dtype=torch.float64).to(dtype)
        mu = mu / mu.norm()
    return mu * cfg.mu_norm


def _unit(mu: torch.Tensor) -> torch.Tensor:
    """mu / ||mu||, or e_1 when mu = 0 (so the projection is still defined)."""
    norm = mu.norm()
    if norm > 0:
        return mu / norm
    e1 = torch.zeros_like(mu)
    e1[0] = 1.0
    return e1


def sample_run(cfg: SignalNoiseData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's dataset of ``n`` samples: X (n, 2, d), y, y_clean, signal_patch (n,), mu (1, d),
    mu_class (1,), noise_idx (n, 1).

    split: "train" (stream "data", flips with prob flip_p) or "test" (stream "test", flips only
    if ``flip_test``).
    """
    g = generator(seed, "data" if split == "train" else "test")
    mu = signal_vector(cfg, seed, dtype)
    y_clean = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1      # (n,)
    xi = torch.randn(n, cfg.d, generator=g, dtype=dtype) * cfg.sigma_p      # (n, d)
    if cfg.noise == "orthogonal":
        u = _unit(mu)
        xi = xi - (xi @ u)[:, None] * u[None, :]
    return two_patch_run(g, cfg, split, y_clean, mu, xi)


def two_patch_run(g: torch.Generator, cfg, split: str, y_clean: torch.Tensor, mu: torch.Tensor,
                  xi: torch.Tensor) -> dict[str, torch.Tensor]:
    """Assemble x = [y mu, xi] (signal patch first, or at a random position drawn from ``g``)
    and the observed labels (flipped with prob ``cfg.flip_p`` on train, and on test only when
    ``cfg.flip_test``). Shared by the two-patch data models; y_clean (n,), mu (d,), xi (n, d).
    """
    n = y_clean.shape[0]
    if cfg.signal_position == "random":
        signal_patch = torch.randint(0, 2, (n,), generator=g)
    else:
        signal_patch = torch.zeros(n, dtype=torch.long)
    flip_rate = cfg.flip_p if (split == "train" or cfg.flip_test) else 0.0
    flips = torch.rand(n, generator=g, dtype=torch.float64) < flip_rate
    y = torch.where(flips, -y_clean, y_clean)
    signal = y_clean[:, None] * mu[None, :]                                  # (n, d)
    first = torch.where(signal_patch[:, None] == 0, signal, xi)
    second = torch.where(signal_patch[:, None] == 0, xi, signal)
    X = torch.stack([first, second], dim=1)                                  # (n, 2, d)
    return {"X": X, "y": y, "y_clean": y_clean, "signal_patch": signal_patch, "mu": mu[None, :],
            "mu_class": torch.ones(1, dtype=X.dtype), "noise_idx": (1 - signal_patch)[:, None]}


def _draw_key(cfg: SignalNoiseData, seed: int, n: int) -> tuple:
    """What one run's draws in :func:`sample_batch` depend on besides the chunk's d and dtype:
    the seed, n and the fields the draw reads. With mu = ||mu|| e_1 the noise does not depend
    on ||mu|| (the orthogonal projection's direction is e_1 for every ||mu||, 0 included), so
    the runs of one seed at every ||mu|| share it; a drawn direction makes the whole config
    part of the key."""
    return (int(seed), n, cfg.signal_position, cfg.noise, cfg.mu_direction,
            cfg.sigma_p if cfg.noise == "orthogonal" else None,
            None if cfg.mu_direction == "e1" else cfg)


def sample_batch(cfgs: list[SignalNoiseData], seeds: list[int], split: str,
                 dtype: torch.dtype = torch.float32, n: list[int] | None = None) -> PatchBatch:
    """``stack_runs([sample_run(c, s, c.n, split, dtype) ...])`` for runs that share d, without
    per-run tensor work: each run's generator draws its labels, noise, patch order and flips
    (the same calls in the same order as :func:`sample_run`, straight into the population's
    buffers), and the arithmetic (scaling by sigma_p, the signal patches y mu, the patch order,
    the flips) is done once for the whole chunk. Bit-identical to the per-run path
    (``tests/test_sampling.py``). ``n``: per-run sample counts (default ``cfg.n``; the test
    split passes ``n_test``)."""
    P, d = len(cfgs), cfgs[0].d
    ns = [c.n for c in cfgs] if n is None else list(n)
    n_max = max(ns)
    stream = "data" if split == "train" else "test"
    labels = torch.zeros(P, n_max, dtype=torch.long)
    xi = torch.zeros(P, n_max, d, dtype=dtype)
    pos = torch.zeros(P, n_max, dtype=torch.long)
    u = torch.ones(P, n_max, dtype=torch.float64)
    mu = torch.zeros(P, d, dtype=dtype)
    def draw(p: int) -> None:
        cfg, seed, n_p = cfgs[p], seeds[p], ns[p]
        g = generator(seed, stream)
        if cfg.mu_direction == "e1":
            mu[p, 0] = cfg.mu_norm
        else:
            mu[p] = signal_vector(cfg, seed, dtype)
        torch.randint(0, 2, (n_p,), generator=g, out=labels[p, :n_p])
        torch.randn(n_p, d, generator=g, dtype=dtype, out=xi[p, :n_p])
        if cfg.noise == "orthogonal":                   # the per-run projection, as in sample_run
            x = xi[p, :n_p].mul_(cfg.sigma_p)
            unit = _unit(mu[p])
            x -= (x @ unit)[:, None] * unit[None, :]
        if cfg.signal_position == "random":
            torch.randint(0, 2, (n_p,), generator=g, out=pos[p, :n_p])
        torch.rand(n_p, generator=g, dtype=torch.float64, out=u[p, :n_p])

    for_each_distinct(draw, [_draw_key(c, s, n_p) for c, s, n_p in zip(cfgs, seeds, ns)],
                      [labels, xi, pos, u, mu])
    e1 = [p for p, c in enumerate(cfgs) if c.mu_direction == "e1"]
    if e1:                                              # the copies took their leader's ||mu||
        mu[e1, 0] = torch.tensor([cfgs[p].mu_norm for p in e1], dtype=dtype)
    mask = (torch.arange(n_max)[None, :] < torch.tensor(ns)[:, None]).to(dtype)   # (P, n)
    scale = torch.tensor([1.0 if c.noise == "orthogonal" else c.sigma_p for c in cfgs], dtype=dtype)
    xi.mul_(scale[:, None, None])                                           # isotropic: sigma_p xi
    y_clean = torch.where(mask > 0, labels.to(dtype) * 2 - 1, torch.zeros((), dtype=dtype))  # (P, n)
    rate = torch.tensor([c.flip_p if (split == "train" or c.flip_test) else 0.0 for c in cfgs],
                        dtype=torch.float64)
    y = torch.where(u < rate[:, None], -y_clean, y_clean)
    signal = y_clean[:, :, None] * mu[:, None, :]                           # (P, n, d)
    first = (pos == 0)[:, :, None]
    X = torch.empty(P, n_max, 2, d, dtype=dtype)                            # (P, n, K, d)
    torch.where(first, signal, xi, out=X[:, :, 0])
    torch.where(first, xi, signal, out=X[:, :, 1])
    return PatchBatch(X, y, y_clean, mask, pos, mu[:, None, :], torch.ones(P, 1, dtype=dtype),
                      (1 - pos)[:, :, None] * (mask > 0)[:, :, None])


def stack_runs(runs: list[dict[str, torch.Tensor]]) -> PatchBatch:
    """Stack per-run datasets on a leading axis, padding ragged n with masked zeros.

    Padding rows have label 0, mask 0 and point their noise index at patch 0 (masked out)."""
    n_max = max(r["X"].shape[0] for r in runs)
    P, (_, K, d) = len(runs), runs[0]["X"].shape
    K_n = runs[0]["noise_idx"].shape[1]
    dtype = runs[0]["X"].dtype
    X = torch.zeros(P, n_max, K, d, dtype=dtype)
    y = torch.zeros(P, n_max, dtype=dtype)
    y_clean = torch.zeros(P, n_max, dtype=dtype)
    mask = torch.zeros(P, n_max, dtype=dtype)
    signal_patch = torch.zeros(P, n_max, dtype=torch.long)
    noise_idx = torch.zeros(P, n_max, K_n, dtype=torch.long)
    grouped = "group" in runs[0]
    group = torch.zeros(P, n_max, dtype=torch.long) if grouped else None
    based = "noise_basis" in runs[0]
    basis = torch.zeros(P, n_max, K_n, d, dtype=dtype) if based else None
    for p, r in enumerate(runs):
        n = r["X"].shape[0]
        X[p, :n] = r["X"]
        y[p, :n] = r["y"]
        y_clean[p, :n] = r["y_clean"]
        mask[p, :n] = 1
        signal_patch[p, :n] = r["signal_patch"]
        noise_idx[p, :n] = r["noise_idx"]
        if grouped:
            group[p, :n] = r["group"]
        if based:
            basis[p, :n] = r["noise_basis"]
    mu = torch.stack([r["mu"] for r in runs])                               # (P, S, d)
    mu_class = torch.stack([r["mu_class"].to(dtype) for r in runs])         # (P, S)
    return PatchBatch(X, y, y_clean, mask, signal_patch, mu, mu_class, noise_idx, group, basis)


def noise_form(W: torch.Tensor, mu: torch.Tensor, sigma_p: torch.Tensor,
               orthogonal: torch.Tensor) -> torch.Tensor:
    r"""Covariance of the noise pre-activations z = W \xi: \sigma_p^2 W P W^T, shape (P, M, M).

    W: (P, M, d); mu: (P, d) or (P, 1, d); sigma_p: (P,); orthogonal: (P,) bool (P = I - uu^T vs I).
    """
    if mu.dim() == 3:
        mu = mu[:, 0]
    gram = W @ W.transpose(1, 2)                                             # (P, M, M)
    norm = mu.norm(dim=1, keepdim=True)
    e1 = torch.zeros_like(mu)
    e1[:, 0] = 1
    u = torch.where(norm > 0, mu / norm.clamp_min(1e-300), e1)               # (P, d)
    Wu = (W @ u[:, :, None]).squeeze(2)                                      # (P, M)
    proj = orthogonal.to(W.dtype)[:, None, None] * Wu[:, :, None] * Wu[:, None, :]
    return (sigma_p ** 2)[:, None, None] * (gram - proj)


def snr(cfg: SignalNoiseData) -> float:
    """SNR = ||mu|| / (sigma_p sqrt(d))."""
    return cfg.mu_norm / (cfg.sigma_p * math.sqrt(cfg.d))
