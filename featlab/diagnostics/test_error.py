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
from featlab.rng import for_each_run, generator

__all__ = ["TestDraws", "draw_test", "test_metrics"]


@dataclass
class TestDraws:
    """Fixed per-run test randomness. y_clean, y_obs: (P, N); eps: (P, N, 2m) (gaussian) or
    X: (P, N, K, d) (sample)."""

    estimator: str
    y_clean: torch.Tensor
    y_obs: torch.Tensor
    eps: torch.Tensor | None = None
    X: torch.Tensor | None = None
    group: torch.Tensor | None = None            # (P, N) sample group (sample estimator)

    def select(self, keep: torch.Tensor) -> "TestDraws":
        pick = lambda t: None if t is None else t[keep]  # noqa: E731
        return TestDraws(self.estimator, pick(self.y_clean), pick(self.y_obs), pick(self.eps),
                         pick(self.X), pick(self.group))

    def to(self, device: torch.device | str) -> "TestDraws":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return TestDraws(self.estimator, move(self.y_clean), move(self.y_obs), move(self.eps),
                         move(self.X), move(self.group))


def draw_test(estimator: str, data_cfgs: list, seeds: list[int], n_test: int, m: int,
              dtype: torch.dtype) -> TestDraws:
    """Draw each run's test randomness from its own streams (chunk-independent)."""
    if estimator == "sample":
        batch = sample_batch(data_cfgs, seeds, "test", dtype, [n_test] * len(seeds))
        return TestDraws("sample", batch.y_clean, batch.y, X=batch.X, group=batch.group)
    P = len(seeds)
    labels = torch.empty(P, n_test, dtype=torch.long)
    u = torch.empty(P, n_test, dtype=torch.float64)
    eps = torch.empty(P, n_test, 2 * m, dtype=dtype)
    def draw(p: int) -> None:                           # run p's stream, into its slices
        g = generator(seeds[p], "test-gaussian")
        torch.randint(0, 2, (n_test,), generator=g, out=labels[p])
        torch.rand(n_test, generator=g, dtype=torch.float64, out=u[p])
        torch.randn(n_test, 2 * m, generator=g, dtype=dtype, out=eps[p])

    for_each_run(draw, P)
    y = labels.to(dtype) * 2 - 1                                            # (P, N)
    flip = torch.tensor([c.flip_p if c.flip_test else 0.0 for c in data_cfgs], dtype=torch.float64)
    return TestDraws("gaussian", y, torch.where(u < flip[:, None], -y, y), eps=eps)


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
    z_noise = torch.bmm(draws.eps, L.transpose(1, 2)).add_(b[:, None, :])   # (P, N, 2m)
    h = z_noise.relu_() if cfg.activation == "relu" else act(z_noise)[0]    # in place: no copies
    f_noise = h @ s                                                         # (P, N)
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
