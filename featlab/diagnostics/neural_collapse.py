r"""Neural-collapse metrics NC1-NC4 (Papyan, Han, Donoho, PNAS 2020, "Prevalence of neural
collapse during the terminal phase of deep learning training"), for one run.

Features h_i (last hidden layer) with labels y_i in {0..C-1}, class means \mu_c, global mean
\mu_G = mean_c \mu_c, M = [\mu_c - \mu_G]_c (p, C), classifier rows w_c (C, p):

    \Sigma_W = Ave_{i} (h_i - \mu_{y_i})(h_i - \mu_{y_i})^T,
    \Sigma_B = Ave_c (\mu_c - \mu_G)(\mu_c - \mu_G)^T,
    NC1 = tr(\Sigma_W \Sigma_B^+) / C;
    NC2 (equinorm) = std_c ||\mu_c - \mu_G|| / mean_c ||\mu_c - \mu_G||  (same for ||w_c||);
    NC2 (equiangular) = mean_{c != c'} |cos(\mu_c - \mu_G, \mu_{c'} - \mu_G) + 1/(C - 1)|  (same for w);
    NC3 = || W^T / ||W||_F - M / ||M||_F ||_F^2;
    NC4 = fraction of samples where argmax_c f_c(x) (the network's logits) differs from the
          nearest class mean argmin_c ||h - \mu_c||.

All vanish on a simplex equiangular tight frame (ETF) with zero within-class spread and W
proportional to M^T (the terminal phase); tests/test_neural_collapse.py builds one.
"""

from __future__ import annotations

import torch

__all__ = ["nc_metrics", "NC_NAMES"]

NC_NAMES = ("nc1", "nc2_equinorm", "nc2_equiangular", "nc2_w_equinorm", "nc2_w_equiangular",
            "nc3", "nc4")


def _equinorm(V: torch.Tensor) -> torch.Tensor:
    n = V.norm(dim=1)                                                       # (C,)
    return n.std(unbiased=False) / n.mean()


def _equiangular(V: torch.Tensor) -> torch.Tensor:
    C = V.shape[0]
    U = V / V.norm(dim=1, keepdim=True)
    cos = U @ U.T                                                           # (C, C)
    off = ~torch.eye(C, dtype=torch.bool, device=V.device)
    return (cos[off] + 1.0 / (C - 1)).abs().mean()


def nc_metrics(H: torch.Tensor, y: torch.Tensor, W: torch.Tensor, logits: torch.Tensor,
               n_classes: int) -> dict[str, torch.Tensor]:
    """NC1..NC4 (module docstring) of features H (N, p), labels y (N,), classifier W (C, p) and
    the network's logits (N, C); float64 scalars. Every class must occur in y."""
    H = H.double()
    W = W.double()
    yl = y.long()
    C = n_classes
    onehot = torch.nn.functional.one_hot(yl, C).double()                    # (N, C)
    counts = onehot.sum(0)                                                  # (C,)
    mu = (onehot.T @ H) / counts[:, None]                                   # (C, p)
    mu_G = mu.mean(0)                                                       # (p,)
    Mc = mu - mu_G                                                          # (C, p) rows mu_c - mu_G
    D = H - mu[yl]                                                          # (N, p)
    Sw = D.T @ D / H.shape[0]                                               # (p, p)
    Sb = Mc.T @ Mc / C                                                      # (p, p)
    nc1 = torch.trace(Sw @ torch.linalg.pinv(Sb, hermitian=True)) / C
    nc3 = (W / W.norm() - Mc / Mc.norm()).pow(2).sum()
    nearest = torch.cdist(H, mu).argmin(1)                                  # (N,)
    nc4 = (logits.argmax(1) != nearest).double().mean()
    return {"nc1": nc1, "nc2_equinorm": _equinorm(Mc), "nc2_equiangular": _equiangular(Mc),
            "nc2_w_equinorm": _equinorm(W), "nc2_w_equiangular": _equiangular(W), "nc3": nc3,
            "nc4": nc4}
