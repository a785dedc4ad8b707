r"""Diagnostics of contrastive encoders (:mod:`featlab.models.contrastive_encoders`) on paired
data (:mod:`featlab.data.contrastive_pairs`); Huang, Han, Chen, Cao, Xu, Suzuki, NeurIPS 2024,
arXiv 2411.02837.

- ``linear_probe``: a ridge classifier fitted on the view-1 features of the training set and
  scored on the test split (the out-of-distribution set [y \nu, \zeta]). With H (n, m) the
  training features standardized per neuron (training mean and standard deviation; a dead
  neuron becomes 0), the probe is

      a = argmin_a (1/n) ||y - H a||^2 + \lambda ||a||^2 = (H^T H / n + \lambda I)^{-1} H^T y / n,

  \lambda = :data:`PROBE_RIDGE`, prediction sign(H_t a + \bar y) with H_t the test features
  standardized alike. Logs probe_train_accuracy and ood_accuracy (fraction of correct signs).
- ``signal_noise_views``: signal learning and noise memorization of each view's encoder,
  signal_<v> = max_r <w_r, \mu_v> and noise_<v> = max_{r, i} <w_r, \xi_{v,i}> over the training
  noise patches \xi_{v,i} of view v (v = 1: \mu, \xi; v = 2: \tilde\mu, \tilde\xi multimodal,
  \mu, \xi + \epsilon single-modal, through the shared encoder).
"""

from __future__ import annotations

import torch

from featlab.linalg import spd_solve

__all__ = ["PROBE_RIDGE", "ridge_probe_accuracy", "linear_probe", "signal_noise_views",
           "PROBE_NAMES", "VIEW_NAMES"]

#: Ridge penalty of the linear probe on standardized features.
PROBE_RIDGE = 1e-3
PROBE_NAMES = ("probe_train_accuracy", "ood_accuracy")
VIEW_NAMES = ("signal_1", "noise_1", "signal_2", "noise_2")


def ridge_probe_accuracy(H: torch.Tensor, y: torch.Tensor, Ht: torch.Tensor, yt: torch.Tensor,
                         lam: float = PROBE_RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test accuracy (L,) of the ridge probe (module docstring): H (L, n, m) training
    features, y (L, n) +-1 labels, Ht (L, n_t, m), yt (L, n_t)."""
    H, Ht, y, yt = H.double(), Ht.double(), y.double(), yt.double()
    mean, std = H.mean(1, keepdim=True), H.std(1, keepdim=True)
    scale = torch.where(std > 0, 1 / std.clamp_min(1e-300), torch.zeros_like(std))
    Z, Zt = (H - mean) * scale, (Ht - mean) * scale                           # (L, n, m), (L, n_t, m)
    n, m = Z.shape[1], Z.shape[2]
    G = Z.transpose(1, 2) @ Z / n + lam * torch.eye(m, dtype=Z.dtype, device=Z.device)
    a = spd_solve(G, Z.transpose(1, 2) @ y[..., None] / n)                    # (L, m, 1)
    b = y.mean(1, keepdim=True)                                               # (L, 1)
    acc = lambda Zs, ys: ((Zs @ a)[..., 0] + b).sign().eq(ys).double().mean(1)  # noqa: E731
    return acc(Z, y), acc(Zt, yt)


def _weights(ctx):
    from featlab.models.contrastive_encoders import encoder_weights
    return encoder_weights(ctx.setting.model, ctx.params)                     # (L, m, d) each


def linear_probe(ctx) -> dict[str, torch.Tensor]:
    """probe_train_accuracy, ood_accuracy (L,) of the logged runs."""
    from torch.func import vmap

    fam, cfg = ctx.family, ctx.setting.model
    feats = lambda X: vmap(lambda p, x: fam.apply(cfg, p, x)[:, 0])(ctx.params, X)  # noqa: E731
    train, ood = ridge_probe_accuracy(feats(ctx.data["X"]), ctx.data["y"], feats(ctx.data["Xt"]),
                                      ctx.data["yt"])
    return {"probe_train_accuracy": train, "ood_accuracy": ood}


def signal_noise_views(ctx) -> dict[str, torch.Tensor]:
    """signal_v, noise_v (L,) for v = 1, 2 (module docstring)."""
    from featlab.data.contrastive_pairs import NOISE, signals

    s = signals(ctx.setting.data).to(ctx.data["X"].device)                    # (2, d)
    out = {}
    for v, W in enumerate(_weights(ctx)):
        W = W.double()                                                        # (L, m, d)
        xi = ctx.data["X"][:, :, v, NOISE].double()                           # (L, n, d)
        out[f"signal_{v + 1}"] = (W @ s[v]).amax(1)
        out[f"noise_{v + 1}"] = (W @ xi.transpose(1, 2)).flatten(1).amax(1)
    return out
