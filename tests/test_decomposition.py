"""The signal-noise decomposition reconstructs W_t (exact for GD) and tracks the regimes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import featlab as fl
from featlab.diagnostics.decomposition import decompose
from featlab.train.population import RunSpec, _setup, train_chunk
from tests.conftest import small_setting


@pytest.mark.parametrize("noise", ["orthogonal", "isotropic"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reconstruction_after_gd(noise, dtype):
    s = small_setting(data__noise=noise, train__dtype=dtype, model__activation="relu",
                      train__steps=60)
    res = train_chunk([RunSpec(s, seed) for seed in range(4)])
    assert res.log_values["decomp_residual"].max() < 1e-5
    assert res.final["rho_max"].min() > 0


def test_decomposition_recovers_known_coefficients():
    s = small_setting(data__noise="isotropic")
    c, _ = _setup([RunSpec(s, 0), RunSpec(fl.override(s, {"data.mu_norm": 0.0}), 1)], "cpu", span=False)
    mu, xi, mask = c.batch.mu, c.batch.noise(), c.batch.mask               # (P,1,d), (P,n,1,d)
    P, n, _, d = xi.shape
    m = s.model.m
    gen = torch.Generator().manual_seed(0)
    gamma = torch.randn(P, 2, m, 1, generator=gen, dtype=torch.float64)
    rho = torch.randn(P, 2, m, n, 1, generator=gen, dtype=torch.float64)
    gamma[1] = 0                                                       # mu = 0: no signal term
    sign = torch.tensor([1.0, -1.0], dtype=torch.float64)[None, :, None]
    unit_mu = mu[:, 0] / (mu[:, 0] ** 2).sum(1, keepdim=True).clamp_min(1e-300)
    unit_xi = xi[:, :, 0] / (xi[:, :, 0] ** 2).sum(2, keepdim=True)
    W0 = c.W0
    W = (W0 + ((sign * gamma[..., 0])[..., None] * unit_mu[:, None, None, :]).reshape(P, 2 * m, d)
         + torch.einsum("pjri,pid->pjrd", rho[..., 0], unit_xi).reshape(P, 2 * m, d))
    dec = decompose(W, W0, mu, xi, mask)
    torch.testing.assert_close(dec.gamma, gamma, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(dec.rho, rho, rtol=1e-8, atol=1e-8)
    assert dec.residual.max() < 1e-10


def test_decomposition_with_several_features_and_noise_patches():
    """S = 2 features carried by opposite classes, K_n = 2 noise patches per sample, padding:
    gamma_{j,r,s} = j c_s coef(mu_s) and rho_{j,r,i,k} are recovered exactly."""
    gen = torch.Generator().manual_seed(1)
    P, m, n, K_n, S, d = 2, 3, 5, 2, 2, 60
    mu = torch.randn(P, S, d, generator=gen, dtype=torch.float64)
    mu_class = torch.tensor([[1.0, -1.0], [1.0, -1.0]], dtype=torch.float64)
    xi = torch.randn(P, n, K_n, d, generator=gen, dtype=torch.float64)
    mask = torch.ones(P, n, dtype=torch.float64)
    mask[1, 3:] = 0                                                    # ragged n
    gamma = torch.randn(P, 2, m, S, generator=gen, dtype=torch.float64)
    rho = torch.randn(P, 2, m, n, K_n, generator=gen, dtype=torch.float64) * mask[:, None, None, :, None]
    j = torch.tensor([1.0, -1.0], dtype=torch.float64)[None, :, None, None]
    coef = j * mu_class[:, None, None, :] * gamma                      # (P, 2, m, S)
    unit_mu = mu / (mu ** 2).sum(2, keepdim=True)
    unit_xi = xi / (xi ** 2).sum(3, keepdim=True)
    W0 = torch.randn(P, 2 * m, d, generator=gen, dtype=torch.float64)
    W = (W0 + torch.einsum("pjrs,psd->pjrd", coef, unit_mu).reshape(P, 2 * m, d)
         + torch.einsum("pjrik,pikd->pjrd", rho, unit_xi).reshape(P, 2 * m, d))
    dec = decompose(W, W0, mu, xi, mask, mu_class)
    torch.testing.assert_close(dec.gamma, gamma, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(dec.rho, rho, rtol=1e-8, atol=1e-8)
    assert dec.residual.max() < 1e-10
    W_out = W + 0.01 * torch.randn(P, 2 * m, d, generator=gen, dtype=torch.float64)
    assert decompose(W_out, W0, mu, xi, mask, mu_class).residual.min() > 1e-3


def test_residual_detects_updates_outside_the_span():
    s = small_setting()
    c, _ = _setup([RunSpec(s, 0)], "cpu", span=False)
    W = c.W0 + 0.1 * torch.randn_like(c.W0)                           # not in span{mu, xi}
    dec = decompose(W, c.W0, c.batch.mu, c.batch.noise(), c.batch.mask)
    assert dec.residual.item() > 0.01


def test_signal_wins_at_high_snr_noise_at_low_snr():
    """gamma grows and rho stays small at high SNR; the opposite at low SNR (Cao et al. 2022)."""
    base = fl.Setting(
        data=fl.SignalNoiseData(n=40, d=400, sigma_p=0.5, mu_norm=1.0, n_test=1000),
        model=fl.TwoLayerCNN(m=5, activation="relu_q", q=2.0, sigma_0=0.01),
        optim=fl.OptimConfig(lr=0.5), train=fl.TrainConfig(steps=300, log_points=6))
    res = fl.train(fl.Sweep(base, {"data.mu_norm": [0.6, 4.0]}, seeds=3)).final
    lo = res[res["data.mu_norm"] == 0.6].mean(numeric_only=True)
    hi = res[res["data.mu_norm"] == 4.0].mean(numeric_only=True)
    assert hi["gamma_max"] > 2 * hi["rho_max"] and hi["test_error"] < 0.05
    assert lo["rho_max"] > 10 * lo["gamma_max"] and lo["test_error"] > 0.3
    assert lo["train_loss"] < 0.05 and hi["train_loss"] < 0.05
    assert np.all(res["status"] == "done")
