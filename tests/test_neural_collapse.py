"""NC1-NC4 (Papyan, Han, Donoho 2020): 0 on a constructed simplex ETF (zero within-class spread,
classifier = M^T, logits = W h), clearly not 0 on random features and a random classifier; NC1 is
invariant to a rotation of the features."""

from __future__ import annotations

import math

import pytest
import torch

from featlab.diagnostics.neural_collapse import NC_NAMES, nc_metrics


def _etf(C: int, p: int, per_class: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(p, C, generator=g, dtype=torch.float64))       # (p, C) orthonormal
    M = math.sqrt(C / (C - 1)) * Q @ (torch.eye(C, dtype=torch.float64) - 1.0 / C)   # (p, C) simplex ETF
    shift = torch.randn(p, generator=g, dtype=torch.float64)                          # mu_G anywhere
    y = torch.arange(C).repeat_interleave(per_class)
    H = (M.T + shift)[y]                                                              # (N, p)
    W = 3.0 * M.T                                                                     # (C, p)
    logits = (H - shift) @ W.T
    return H, y, W, logits


@pytest.mark.parametrize("C,p", [(3, 5), (5, 16), (10, 12)])
def test_simplex_etf_has_every_nc_metric_zero(C, p):
    H, y, W, logits = _etf(C, p, per_class=7)
    out = nc_metrics(H, y, W, logits, C)
    assert set(out) == set(NC_NAMES)
    for k, v in out.items():
        assert float(v) == pytest.approx(0.0, abs=1e-10), k


def test_random_features_are_not_collapsed():
    g = torch.Generator().manual_seed(1)
    C, p, N = 4, 16, 200
    y = torch.arange(C).repeat_interleave(N // C)
    H = torch.randn(N, p, generator=g, dtype=torch.float64)
    W = torch.randn(C, p, generator=g, dtype=torch.float64)
    out = nc_metrics(H, y, W, H @ W.T, C)
    assert out["nc1"] > 1.0                                   # within-class spread >> between
    assert out["nc3"] > 0.5 and out["nc2_equiangular"] > 0.05 and out["nc4"] > 0.2


def test_nc1_is_rotation_invariant_and_falls_with_spread():
    H, y, W, logits = _etf(4, 8, per_class=50)
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(H.shape, generator=g, dtype=torch.float64)
    a = nc_metrics(H + 0.3 * noise, y, W, logits, 4)["nc1"]
    b = nc_metrics(H + 0.03 * noise, y, W, logits, 4)["nc1"]
    R, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    c = nc_metrics((H + 0.3 * noise) @ R, y, W @ R, logits, 4)["nc1"]
    assert b < a / 50 and float(c) == pytest.approx(float(a), rel=1e-9)


def test_probe_tracks_collapse_of_a_trained_mlp():
    """The neural_collapse probe on an MLP trained with weight decay on a separable 4-class
    mixture: NC1 and NC3 fall from their initial values and NC4 ends at 0 (train error 0)."""
    import featlab as fl
    from featlab.config import MLP
    from featlab.data.gaussian_mixture import GaussianMixtureData
    from featlab.train.engine import RunSpec
    from featlab.train.generic import train_chunk

    s = fl.Setting(data=GaussianMixtureData(n=80, d=8, n_test=16, n_classes=4, mu_norm=6.0),
                   model=MLP(depth=3, width=32, activation="relu", base_width=32),
                   optim=fl.OptimConfig(name="gd", lr=1.0, weight_decay=2e-2),
                   train=fl.TrainConfig(steps=100, log_points=2))
    out = train_chunk([RunSpec(s, 0)])
    v = {k: out.log_values[k] for k in ("nc1", "nc3", "nc4", "train_error")}
    assert v["train_error"][-1] == 0 and v["nc4"][-1] == 0
    assert v["nc1"][-1] < 0.5 * v["nc1"][0] and v["nc3"][-1] < 0.5 * v["nc3"][0], v
