r"""Test loss and 0-1 error on fresh signal-noise data, by two estimators that must agree.

``sample``: draw n_test d-dimensional test points per run (stream "test") and evaluate f.

``gaussian``: the model sees the noise patch \xi only through z = W\xi \in R^{2m}, and
z ~ N(0, \Sigma) with \Sigma = \sigma_p^2 W P W^T (P the noise projection). The signal patch
enters through y (W\mu). So draw \epsilon ~ N(0, I_{2m}) once per run and set
z = L\epsilon with L L^T = \Sigma (symmetric square root by eigh, float64): given W this is
exactly the law of the d-dimensional estimator at cost O(n_test m^2) instead of O(n_test m d).
The model is symmetric in the patch order, so the patch position does not matter.

Errors: ``test_error`` against the clean label (sign f != y), ``test_error_noisy`` against the
observed test label (flipped with prob flip_p when ``flip_test``); y f <= 0 counts as an error.
``test_loss`` is the logistic loss against the clean label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from featlab.config import TwoLayerCNN
from featlab.data import sample_batch
from featlab.models.activations import activation_pair
from featlab.models.cnn import loss_and_grad, readout
from featlab.rng import distinct_runs, for_each_run, generator

__all__ = ["TestDraws", "draw_test", "test_metrics"]


@dataclass
class TestDraws:
    """Fixed per-run test randomness. y_clean, y_obs: (P, N); eps: (U, N, 2m) (gaussian), the
    distinct draws of the chunk's runs, with ``eps_of`` (P,) the row of run p (None: U = P, row
    p); or X: (P, N, K, d) (sample)."""

    estimator: str
    y_clean: torch.Tensor
    y_obs: torch.Tensor
    eps: torch.Tensor | None = None
    X: torch.Tensor | None = None
    group: torch.Tensor | None = None            # (P, N) sample group (sample estimator)
    eps_of: torch.Tensor | None = None           # (P,) int64 row of eps per run (shared draws)

    def select(self, keep: torch.Tensor) -> "TestDraws":
        pick = lambda t: None if t is None else t[keep]  # noqa: E731
        eps = self.eps if self.eps_of is not None else pick(self.eps)
        return TestDraws(self.estimator, pick(self.y_clean), pick(self.y_obs), eps,
                         pick(self.X), pick(self.group), pick(self.eps_of))

    def to(self, device: torch.device | str) -> "TestDraws":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return TestDraws(self.estimator, move(self.y_clean), move(self.y_obs), move(self.eps),
                         move(self.X), move(self.group), move(self.eps_of))

    def run_eps(self) -> torch.Tensor | None:
        """(P, N, 2m): each run's own eps (copies where runs share a draw)."""
        return self.eps if self.eps_of is None or self.eps is None else self.eps[self.eps_of]


#: share a seed's Gaussian test draws when the chunk has at least this many runs per seed
#: (below it the per-run batched matmul is faster than a loop over the seeds)
SHARE_MIN_RUNS = 4


def draw_test(estimator: str, data_cfgs: list, seeds: list[int], n_test: int, m: int,
              dtype: torch.dtype) -> TestDraws:
    """Draw each run's test randomness from its own streams (chunk-independent). The Gaussian
    draws depend on the seed only (stream "test-gaussian"), so the runs of one seed (a grid's
    points) share one (N, 2m) draw: ``eps`` holds one row per distinct seed and ``eps_of`` maps
    runs to rows, which :func:`_gaussian_outputs` uses as one matmul per seed."""
    if estimator == "sample":
        batch = sample_batch(data_cfgs, seeds, "test", dtype, [n_test] * len(seeds))
        return TestDraws("sample", batch.y_clean, batch.y, X=batch.X, group=batch.group)
    P = len(seeds)
    src, leaders = distinct_runs([int(s) for s in seeds])
    U = len(leaders)
    labels = torch.empty(U, n_test, dtype=torch.long)
    u = torch.empty(U, n_test, dtype=torch.float64)
    eps = torch.empty(U, n_test, 2 * m, dtype=dtype)
    def draw(i: int) -> None:                           # run leaders[i]'s stream, into row i
        g = generator(seeds[leaders[i]], "test-gaussian")
        torch.randint(0, 2, (n_test,), generator=g, out=labels[i])
        torch.rand(n_test, generator=g, dtype=torch.float64, out=u[i])
        torch.randn(n_test, 2 * m, generator=g, dtype=dtype, out=eps[i])

    for_each_run(draw, U)
    row = {p: i for i, p in enumerate(leaders)}
    eps_of = torch.tensor([row[s] for s in src])                            # (P,)
    y = labels[eps_of].to(dtype) * 2 - 1                                    # (P, N)
    flip = torch.tensor([c.flip_p if c.flip_test else 0.0 for c in data_cfgs], dtype=torch.float64)
    y_obs = torch.where(u[eps_of] < flip[:, None], -y, y)
    if P < SHARE_MIN_RUNS * U:                          # few runs per seed: per-run rows
        return TestDraws("gaussian", y, y_obs, eps=eps[eps_of] if U < P else eps)
    return TestDraws("gaussian", y, y_obs, eps=eps, eps_of=eps_of)


def _sqrt_psd(S: torch.Tensor) -> torch.Tensor:
    """Symmetric PSD square root, batched: (P, M, M) -> (P, M, M), float64."""
    S = 0.5 * (S + S.transpose(1, 2))
    lam, V = torch.linalg.eigh(S)
    return (V * lam.clamp_min(0).sqrt()[:, None, :]) @ V.transpose(1, 2)


def _unit(mu: torch.Tensor) -> torch.Tensor:
    """(P, d) mu / ||mu||, e_1 where mu = 0 (the noise projection's direction)."""
    norm = mu.norm(dim=1, keepdim=True)
    e1 = torch.zeros_like(mu)
    e1[:, 0] = 1
    return torch.where(norm > 0, mu / norm.clamp_min(1e-300), e1)


def _noise_readout(cfg: TwoLayerCNN, eps: torch.Tensor, L: torch.Tensor, b: torch.Tensor,
                   s: torch.Tensor) -> torch.Tensor:
    """The noise patch's readout sum_k s_k sigma(z_k + b_k), z = L eps: eps (P, N, 2m), L
    (P, 2m, 2m), b (P, 2m), s (2m,) -> (P, N)."""
    z = torch.bmm(eps, L.transpose(1, 2)).add_(b[:, None, :])              # (P, N, 2m)
    h = z.relu_() if cfg.activation == "relu" else activation_pair(cfg)(z)[0]  # in place
    return h @ s


def _shared_noise_readout(cfg: TwoLayerCNN, eps: torch.Tensor, eps_of: torch.Tensor,
                          L: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """:func:`_noise_readout` for runs that share eps rows (eps (U, N, 2m), eps_of (P,)): per
    row u, one (N, 2m) x (2m, R 2m) matmul for its R runs (z[r, i] = L_r eps_u[i]) instead of
    R small ones, and no per-run copy of eps. -> (P, N)."""
    P, M = L.shape[0], L.shape[1]
    out = torch.empty(P, eps.shape[1], dtype=eps.dtype, device=eps.device)
    for row in torch.unique(eps_of).tolist():
        runs = (eps_of == row).nonzero().squeeze(1)                         # (R,)
        Lt = L[runs].permute(2, 0, 1).reshape(M, -1)                        # (2m, R 2m): L_r^T
        z = (eps[row] @ Lt).view(-1, runs.numel(), M).add_(b[runs])         # (N, R, 2m)
        h = z.relu_() if cfg.activation == "relu" else activation_pair(cfg)(z)[0]
        out[runs] = (h @ s).T                                               # (R, N)
    return out


def _gaussian_outputs(cfg: TwoLayerCNN, params: dict[str, torch.Tensor], draws: TestDraws,
                      mu: torch.Tensor, sigma_p: torch.Tensor, orthogonal: torch.Tensor,
                      moments: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """f on the test draws (P, N). The weights enter only through W W^T (P, 2m, 2m), W u (P, 2m)
    (u = mu/||mu||) and b: ``moments`` = (W W^T, W u) in float64 when the caller has them
    (:class:`featlab.train.span.SpanMoments`), else from params["W"]. The signal patch's
    pre-activation y W mu + b takes two values per run (y = +-1), so its readout is computed
    twice per run, not per test point."""
    b = params["b"]
    dtype = b.dtype
    mu64 = mu.to(torch.float64)
    if moments is None:
        W = params["W"].to(torch.float64)
        WW, Wu = W @ W.transpose(1, 2), (W @ _unit(mu64)[:, :, None]).squeeze(2)
    else:
        WW, Wu = moments
    proj = orthogonal.to(WW.dtype)[:, None, None] * Wu[:, :, None] * Wu[:, None, :]
    sigma = (sigma_p.to(torch.float64) ** 2)[:, None, None] * (WW - proj)  # (P, 2m, 2m)
    L = _sqrt_psd(sigma).to(dtype)                                          # L L^T = Sigma
    act = activation_pair(cfg)
    s = readout(cfg, 2, dtype, b.device)
    if draws.eps_of is None:
        f_noise = _noise_readout(cfg, draws.eps, L, b, s)                   # (P, N)
    else:
        f_noise = _shared_noise_readout(cfg, draws.eps, draws.eps_of, L, b, s)
    Wmu = (Wu * mu64.norm(dim=1, keepdim=True)).to(dtype)                  # (P, 2m) W mu
    z_sig = torch.stack([Wmu + b, -Wmu + b], 1)                             # (P, 2, 2m) y = +1, -1
    f_sig = act(z_sig)[0] @ s                                               # (P, 2)
    return f_noise + torch.where(draws.y_clean > 0, f_sig[:, :1], f_sig[:, 1:])


def test_metrics(cfg: TwoLayerCNN, params: dict[str, torch.Tensor], draws: TestDraws,
                 mu: torch.Tensor, sigma_p: torch.Tensor, orthogonal: torch.Tensor,
                 group_names: tuple[str, ...] = (),
                 moments: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """test_loss, test_error, test_error_noisy, each (P,), and test_error_<g> per sample group
    (mu: (P, d) or (P, S, d), the signal mu = mu[:, 0] enters the gaussian estimator, which
    needs params["W"] only when ``moments`` = (W W^T, W u) are not given)."""
    if mu.dim() == 3:
        mu = mu[:, 0]
    if draws.estimator == "sample":
        weight = torch.full_like(draws.y_clean, 1.0 / draws.y_clean.shape[1])
        _, f, _ = loss_and_grad(cfg, params, draws.X, draws.y_clean, weight, need_grad=False)
    else:
        f = _gaussian_outputs(cfg, params, draws, mu, sigma_p, orthogonal, moments)
    margin = draws.y_clean * f
    wrong = (margin <= 0).to(f.dtype)
    out = {
        "test_loss": torch.nn.functional.softplus(-margin).mean(1),
        "test_error": wrong.mean(1),
        "test_error_noisy": (draws.y_obs * f <= 0).to(f.dtype).mean(1),
    }
    for g, name in enumerate(group_names):
        member = (draws.group == g).to(f.dtype)
        out[f"test_error_{name}"] = (wrong * member).sum(1) / member.sum(1)   # NaN if empty
    return out
