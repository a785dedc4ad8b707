r"""In-context linear regression with one-layer linear attention: the exact ICL risk of any
\Gamma and the Bayes (optimally tuned ridge) risk (Wu, Zou, Chen, Braverman, Gu, Bartlett,
"How Many Pretraining Tasks Are Needed for In-Context Learning of Linear Regression?", ICLR 2024,
arXiv 2310.08391, Sec. 3-5).

A prompt of context length n: x_i, x_q ~ N(0, H) i.i.d., a task \beta ~ N(0, \psi^2 I_d),
y_i = <x_i, \beta> + \varepsilon_i, \varepsilon_i ~ N(0, \sigma^2). The model predicts
\hat y = x_q^T \Gamma h with h = (1/n) \sum_i y_i x_i. With Gaussian fourth moments
(E[x x^T A x x^T] = 2 H A H + tr(A H) H for symmetric A),

    M_n = E[h h^T] = \psi^2 (1 + 1/n) H^2 + (\psi^2 tr H + \sigma^2) H / n,    E[h \beta^T] = \psi^2 H,

    R_n(\Gamma) = E(\hat y - y_q)^2 = tr(H \Gamma M_n \Gamma^T) - 2 \psi^2 tr(H \Gamma H) + \psi^2 tr H + \sigma^2,

minimised by \Gamma^*_n = \psi^2 H M_n^{-1}. The Bayes risk at context length n (the posterior
mean of \beta is ridge with \lambda = \sigma^2/\psi^2) is

    B_n = \sigma^2 + E_X tr(H (X^T X / \sigma^2 + I / \psi^2)^{-1}),

an expectation over the n x d context matrix X only, estimated here by Monte Carlo over X (each
draw's conditional expectation is exact, so the standard error is small).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["context_moment", "icl_risk", "optimal_gamma", "bayes_risk", "spectrum"]


def spectrum(d: int, decay: float) -> np.ndarray:
    """lambda_i = i^{-decay}, i = 1..d (decay = 0: isotropic H = I)."""
    return np.arange(1, d + 1, dtype=np.float64) ** (-float(decay))


def context_moment(H: torch.Tensor, n: int, psi2: float, sigma2: float) -> torch.Tensor:
    """M_n = E[h h^T] (d, d) (module docstring)."""
    return psi2 * (1 + 1 / n) * H @ H + (psi2 * torch.trace(H) + sigma2) * H / n


def icl_risk(Gamma: torch.Tensor, H: torch.Tensor, n: int, psi2: float, sigma2: float,
             fourth_moment: bool = True) -> torch.Tensor:
    """R_n(Gamma) for Gamma (..., d, d) -> (...,). ``fourth_moment=False`` drops the Gaussian
    fourth-moment terms of M_n (M = psi^2 H^2 + sigma^2 H / n): a deliberately wrong theory for
    negative controls."""
    H = H.to(Gamma.dtype)
    M = (context_moment(H, n, psi2, sigma2) if fourth_moment
         else psi2 * H @ H + sigma2 * H / n)
    quad = torch.einsum("ij,...jk,kl,...il->...", H, Gamma, M, Gamma)        # tr(H G M G^T)
    cross = torch.einsum("ij,...jk,ki->...", H, Gamma, H)                    # tr(H G H)
    return quad - 2 * psi2 * cross + psi2 * torch.trace(H) + sigma2


def optimal_gamma(H: torch.Tensor, n: int, psi2: float, sigma2: float) -> torch.Tensor:
    """Gamma*_n = psi^2 H M_n^{-1} (d, d)."""
    return psi2 * torch.linalg.solve(context_moment(H, n, psi2, sigma2), H, left=False)


def bayes_risk(lam: np.ndarray, n: int, psi2: float, sigma2: float, draws: int = 2000,
               seed: int = 0) -> tuple[float, float]:
    """(B_n, its Monte Carlo standard error) for H = diag(lam) (module docstring)."""
    rng = np.random.default_rng(seed)
    d = len(lam)
    X = rng.standard_normal((draws, n, d)) * np.sqrt(lam)                   # (draws, n, d)
    A = np.einsum("bni,bnj->bij", X, X) / sigma2 + np.eye(d) / psi2         # posterior precision
    tr = np.einsum("i,bii->b", lam, np.linalg.inv(A))                       # tr(H A^{-1})
    return float(sigma2 + tr.mean()), float(tr.std(ddof=1) / np.sqrt(draws))
