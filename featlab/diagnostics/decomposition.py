r"""The signal-noise decomposition of the first-layer weights (Cao et al. 2022, Kou et al. 2023).

For GD (and any optimizer whose updates lie in span{mu_s, xi_{i,k}}),

    w_{j,r}^{(t)} = w_{j,r}^{(0)} + \sum_s j c_s \gamma_{j,r,s}^{(t)} \mu_s / \|\mu_s\|^2
                    + \sum_{i,k} \rho_{j,r,i,k}^{(t)} \xi_{i,k} / \|\xi_{i,k}\|^2

exactly, where mu_s are the data model's feature vectors (one, mu, for signal-noise data),
c_s = +-1 the class that carries +mu_s, and xi_{i,k} the noise patches of sample i (one per
sample for signal-noise data, so rho_{j,r,i} as in the papers). We recover the coefficients by
least squares on the basis B = [mu_s/||mu_s||^2; xi_{i,k}/||xi_{i,k}||^2] (P, S + n K_n, d):
C = (W_t - W_0) B^T (B B^T)^{-1}, and report the residual ||W_t - W_0 - C B||_F / ||W_t||_F
(zero up to rounding when the decomposition is exact; an optimizer such as Adam leaves a
visible residual). Computed in float64. A zero feature vector or a padding sample drops its
basis row (coefficient 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from featlab.linalg import spd_solve

__all__ = ["Decomposition", "decompose", "decompose_in_span", "summaries"]


@dataclass
class Decomposition:
    """gamma (P, 2, m, S): feature learning; rho (P, 2, m, n, K_n): noise memorization;
    residual (P,)."""

    gamma: torch.Tensor
    rho: torch.Tensor
    residual: torch.Tensor


def _basis(mu: torch.Tensor, xi: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """B (P, S + n K_n, d) with zero rows for absent directions, and the row-validity mask."""
    P, n, K_n, d = xi.shape
    xi = xi.reshape(P, n * K_n, d)
    mu_sq = (mu * mu).sum(2)                                                 # (P, S)
    xi_sq = (xi * xi).sum(2)                                                 # (P, n K_n)
    real = (mask > 0).repeat_interleave(K_n, dim=1)                          # (P, n K_n)
    valid = torch.cat([mu_sq > 0, real & (xi_sq > 0)], dim=1)
    denom = torch.cat([mu_sq, xi_sq], dim=1).clamp_min(1e-300)
    B = torch.cat([mu, xi], dim=1) / denom[:, :, None]
    return B * valid[:, :, None], valid


def decompose(W: torch.Tensor, W0: torch.Tensor, mu: torch.Tensor, xi: torch.Tensor,
              mask: torch.Tensor, mu_class: torch.Tensor | None = None) -> Decomposition:
    """Exact gamma/rho of W (P, 2m, d) relative to W0.

    mu: (P, S, d) feature vectors (or (P, d) for one); xi: (P, n, K_n, d) noise patches (or
    (P, n, d) for one per sample); mask: (P, n); mu_class: (P, S) classes c_s (default +1).
    """
    if mu.dim() == 2:
        mu = mu[:, None, :]
    if xi.dim() == 3:
        xi = xi[:, :, None, :]
    W, W0, mu, xi = (t.to(torch.float64) for t in (W, W0, mu, xi))
    P, S = mu.shape[:2]
    n, K_n = xi.shape[1:3]
    B, valid = _basis(mu, xi, mask)                                          # (P, S+nK_n, d)
    gram = B @ B.transpose(1, 2)
    eye = torch.diag_embed((~valid).to(gram.dtype))
    delta = W - W0                                                           # (P, 2m, d)
    rhs = delta @ B.transpose(1, 2)                                          # (P, 2m, S+nK_n)
    C = spd_solve(gram + eye, rhs.transpose(1, 2)).transpose(1, 2)
    C = C * valid[:, None, :]
    recon = C @ B                                                            # (P, 2m, d)
    residual = (delta - recon).flatten(1).norm(dim=1) / W.flatten(1).norm(dim=1).clamp_min(1e-300)
    M = C.shape[1]
    m = M // 2
    j = torch.cat([torch.ones(m), -torch.ones(m)]).to(C)                     # (2m,) class of row
    c = torch.ones(P, S, dtype=C.dtype, device=C.device) if mu_class is None \
        else mu_class.to(C.dtype)
    gamma = (j[None, :, None] * c[:, None, :] * C[:, :, :S]).reshape(P, 2, m, S)
    rho = C[:, :, S:].reshape(P, 2, m, n, K_n)
    return Decomposition(gamma, rho, residual)


def decompose_in_span(C: torch.Tensor, gram: torch.Tensor, rows: torch.Tensor, signs: torch.Tensor,
                      valid: torch.Tensor, W_sq: torch.Tensor, S: int,
                      mu_class: torch.Tensor | None = None, K_n: int = 1) -> Decomposition:
    r""":func:`decompose` for weights in the span representation, without d-dimensional work.

    W - W_0 = C X with C (P, 2m, nK) and the patches X (P, nK, d) given only through their Gram
    matrix ``gram`` = X X^T (P, nK, nK). Applies when every basis direction is a patch up to sign:
    B_r = signs_r x_{rows_r} / \|x_{rows_r}\|^2 (``rows``, ``signs``: (P, S + n K_n); for
    signal-noise data mu = y_1 x_{1, signal} and xi_i = x_{i, noise}), i.e. B = A X with a sparse
    A (one entry per row). Then B B^T = A gram A^T, (W - W_0) B^T = C gram A^T, and the same
    least-squares coefficients as :func:`decompose` follow from (S + n K_n)-sized systems; the
    residual is computed on the coefficients, E = C - C_dec A, as
    \|W - W_0 - C_dec B\|_F^2 = tr(E gram E^T) (no cancellation), over ``W_sq`` = \|W\|_F^2 (P,).
    ``valid`` (P, S + n K_n): rows that exist (nonzero feature, real sample); rows S.. are the
    noise directions in (sample, noise patch) order. Float64.
    """
    C, gram = C.to(torch.float64), gram.to(torch.float64)
    P, M, nK = C.shape
    R = rows.shape[1]
    sq = torch.gather(torch.diagonal(gram, dim1=1, dim2=2), 1, rows)        # (P, R) ||x_r||^2
    valid = valid & (sq > 0)
    a = torch.where(valid, signs.to(C.dtype) / sq.clamp_min(1e-300), torch.zeros_like(sq))  # (P, R)
    g_rows = torch.gather(gram, 1, rows[:, :, None].expand(P, R, nK))       # (P, R, nK) x_r . x_j
    GA = g_rows * a[:, :, None]                                             # (P, R, nK) = A gram
    BB = torch.gather(GA, 2, rows[:, None, :].expand(P, R, R)) * a[:, None, :]  # (P, R, R) A gram A^T
    rhs = C @ GA.transpose(1, 2)                                            # (P, 2m, R) C gram A^T
    eye = torch.diag_embed((~valid).to(C.dtype))
    Cd = spd_solve(BB + eye, rhs.transpose(1, 2)).transpose(1, 2) * valid[:, None, :]  # (P, 2m, R)
    E = C.clone()
    E.scatter_add_(2, rows[:, None, :].expand(P, M, R), -Cd * a[:, None, :])  # C - C_dec A
    resid_sq = ((E @ gram) * E).flatten(1).sum(1).clamp_min(0)
    residual = resid_sq.sqrt() / W_sq.to(C.dtype).sqrt().clamp_min(1e-300)
    m = M // 2
    j = torch.cat([torch.ones(m), -torch.ones(m)]).to(Cd)                   # (2m,) class of row
    c = torch.ones(P, S, dtype=Cd.dtype, device=Cd.device) if mu_class is None \
        else mu_class.to(Cd.dtype)
    gamma = (j[None, :, None] * c[:, None, :] * Cd[:, :, :S]).reshape(P, 2, m, S)
    return Decomposition(gamma, Cd[:, :, S:].reshape(P, 2, m, -1, K_n), residual)


def summaries(dec: Decomposition, y: torch.Tensor, mask: torch.Tensor,
              feature_names: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    r"""Per-run summaries, each (P,):

    gamma_max = max_{j,r} gamma_{j,r} (feature 0); gamma_max_pos / gamma_max_neg = max_r
    gamma_{+1,r} / max_r gamma_{-1,r}; gamma_<name> = max_{j,r} gamma_{j,r,s} for every named
    feature when there are several; rho_max / rho_mean = max / mean |rho_{j,r,i,k}|;
    rho_pos_max = max \bar\rho (the positive part, on samples with y_i = j as in the proofs);
    rho_neg_max = max |\underline\rho| (the negative part, on samples with y_i = -j);
    decomp_residual.
    """
    gamma, rho = dec.gamma, dec.rho                                          # (P,2,m,S), (P,2,m,n,K)
    mask_b = (mask[:, None, None, :, None] > 0)
    j = torch.tensor([1.0, -1.0], dtype=rho.dtype, device=rho.device)[None, :, None, None, None]
    yb = y[:, None, None, :, None].to(rho.dtype)
    same = (yb == j) & mask_b                                                # y_i = j
    other = (yb == -j) & mask_b                                              # y_i = -j
    abs_rho = rho.abs() * mask_b
    n_eff = mask.sum(1).clamp_min(1) * rho.shape[1] * rho.shape[2] * rho.shape[4]
    zero = torch.zeros((), dtype=rho.dtype, device=rho.device)
    out = {
        "gamma_max": gamma[..., 0].flatten(1).max(1).values,
        "gamma_max_pos": gamma[:, 0, :, 0].max(1).values,
        "gamma_max_neg": gamma[:, 1, :, 0].max(1).values,
        "rho_max": abs_rho.flatten(1).max(1).values,
        "rho_mean": abs_rho.flatten(1).sum(1) / n_eff,
        "rho_pos_max": torch.where(same, rho.clamp_min(0), zero).flatten(1).max(1).values,
        "rho_neg_max": torch.where(other, (-rho).clamp_min(0), zero).flatten(1).max(1).values,
        "decomp_residual": dec.residual,
    }
    if gamma.shape[3] > 1:
        for s, name in enumerate(feature_names):
            out[f"gamma_{name}"] = gamma[..., s].flatten(1).max(1).values
    return out
