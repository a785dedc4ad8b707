r"""ReLU random-features regression (Mei & Montanari 2019): exact feature moments, exact test risk
for a fixed feature matrix, and the Gaussian-equivalent deterministic equivalent of ridge.

Data :math:`x \sim N(0, H)`, :math:`H = \mathrm{diag}(\lambda)` in :math:`\mathbb R^p`; target
:math:`y = \langle x, w^*\rangle + \varepsilon`, :math:`\varepsilon \sim N(0, \sigma^2)`; features
:math:`\varphi(x) = \mathrm{relu}(A^\top x) \in \mathbb R^M` for a fixed A (p x M); predictor
:math:`\langle\varphi(x), \theta\rangle`. With :math:`u_a = \langle a_a, x\rangle \sim N(0, s_a^2)`,
:math:`s_a^2 = a_a^\top H a_a`, and :math:`\rho_{ab} = a_a^\top H a_b / (s_a s_b)`, every moment the
risk needs is exact (Cho & Saul 2009's degree-1 arc-cosine kernel; Stein's lemma with
:math:`E\,\mathrm{relu}'(u) = 1/2`):

.. math::
    K_{ab} = E\varphi_a\varphi_b = \frac{s_a s_b}{2\pi}\Big(\sqrt{1-\rho_{ab}^2}
             + (\pi - \arccos\rho_{ab})\rho_{ab}\Big), \qquad
    c_a = E\varphi_a\langle x, w^*\rangle = \tfrac12 a_a^\top H w^*,

so the excess test risk of any :math:`\theta` is :math:`R(\theta) = \theta^\top K\theta - 2\theta^\top c
+ w^{*\top}Hw^*` (the test MSE is :math:`R + \sigma^2`), and the best predictor
:math:`\theta^* = K^+ c` leaves the approximation error :math:`R_\infty = w^{*\top}Hw^* - c^\top K^+ c`.

Ridge on n samples, :math:`\hat\theta = \arg\min \frac1n\|y - \Phi\theta\|^2 + \lambda\|\theta\|^2`: the
Gaussian-equivalent model (Mei & Montanari 2019; Goldt et al. 2022; Hu & Lu 2023) replaces
:math:`\varphi` by a Gaussian vector with second moments K and correlation c with the target, the
unexplained part of y acting as noise of variance :math:`\sigma_{\rm eff}^2 = \sigma^2 + R_\infty`.
The ridge deterministic equivalent on the spectrum of K (:func:`featlab.theory.linear.ridge_equivalent`)
then gives

.. math:: E\,R(\hat\theta) \approx R_\infty + \mathcal E_{\rm ridge}(\mathrm{eig}\,K, \theta^*,
          \sigma_{\rm eff}^2, n, \lambda).

This is asymptotic (n, M, p large and proportional), not exact at finite size: the experiment that
uses it states its allowance. The mean of the features (a rank-one part of K) is treated like any
other direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from featlab.theory.linear import _checks
from featlab.theory.linear.ridge import ridge_equivalent

__all__ = ["ReluFeatureMoments", "relu_feature_moments", "relu_rf_risk", "relu_rf_ridge_equivalent"]


@dataclass(frozen=True)
class ReluFeatureMoments:
    """K (M, M) = E phi phi^T, c (M,) = E phi <x, w*>, target_var = w*^T H w*; the spectral view
    (eigenvalues of K, the best predictor in its eigenbasis, R_inf) is computed on first use."""

    K: np.ndarray
    c: np.ndarray
    target_var: float
    rcond: float = 1e-12

    @cached_property
    def _spectral(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        vals, vecs = np.linalg.eigh(self.K)
        keep = vals > self.rcond * vals.max()
        vals, vecs = vals[keep], vecs[:, keep]
        theta = (vecs.T @ self.c) / vals
        return vals, vecs, theta, max(self.target_var - float(theta @ (vals * theta)), 0.0)

    @property
    def eigvals(self) -> np.ndarray:
        """(r,) nonzero eigenvalues of K."""
        return self._spectral[0]

    @property
    def basis(self) -> np.ndarray:
        """(M, r) their eigenvectors."""
        return self._spectral[1]

    @property
    def theta_star(self) -> np.ndarray:
        """(r,) the best predictor K^+ c in that basis."""
        return self._spectral[2]

    @property
    def approx_error(self) -> float:
        """R_inf = w*^T H w* - c^T K^+ c."""
        return self._spectral[3]


def relu_feature_moments(A, lam, w_star, rcond: float = 1e-12) -> ReluFeatureMoments:
    """Exact second moments of relu(A^T x), x ~ N(0, diag(lam)); A: (p, M), lam, w_star: (p,)."""
    A = np.asarray(A, dtype=np.float64)
    lam = _checks.spectrum(lam)
    w = np.asarray(w_star, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != lam.size or w.shape != lam.shape:
        raise ValueError(f"A must be (p, M) and w_star (p,) with p = len(lam) = {lam.size}; got A "
                         f"{A.shape}, w_star {w.shape}")
    HA = lam[:, None] * A                                                  # (p, M)
    cov = A.T @ HA                                                          # (M, M) a_a^T H a_b
    s = np.sqrt(np.clip(np.diag(cov), 0.0, None))                           # (M,)
    if np.any(s <= 0):
        raise ValueError("a column of A has zero variance under H (a_a^T H a_a = 0); drop it")
    rho = np.clip(cov / np.outer(s, s), -1.0, 1.0)
    K = np.outer(s, s) / (2 * np.pi) * (np.sqrt(1.0 - rho**2) + (np.pi - np.arccos(rho)) * rho)
    c = 0.5 * (HA.T @ w)                                                    # (M,)
    return ReluFeatureMoments(K, c, float(w @ (lam * w)), rcond)


def relu_rf_risk(theta, moments: ReluFeatureMoments) -> np.ndarray:
    """Exact excess test risk R(theta) = theta^T K theta - 2 theta^T c + w*^T H w* of theta (..., M)."""
    th = np.asarray(theta, dtype=np.float64)
    return (np.einsum("...a,ab,...b->...", th, moments.K, th) - 2.0 * th @ moments.c
            + moments.target_var)


def relu_rf_ridge_equivalent(moments: ReluFeatureMoments, sigma2: float, n: int, lam_reg: float = 0.0) -> float:
    """Gaussian-equivalent deterministic equivalent of E R(theta_hat) for ridge on n samples (see the
    module docstring); ``lam_reg = 0`` is the min-norm interpolator (lambda -> 0+)."""
    sigma2 = float(_checks.nonneg(sigma2, "sigma2"))
    de = ridge_equivalent(moments.eigvals, moments.theta_star, sigma2 + moments.approx_error, n, lam_reg)
    return float(moments.approx_error + de.risk)
