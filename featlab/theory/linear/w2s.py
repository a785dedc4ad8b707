r"""Exact expected risks of weak-to-strong training in Gaussian linear regression (finite n, N).

Setting (all in H's eigenbasis, H = diag(lambda_1..lambda_p), coordinates independent):
x ~ N(0, H), y = <theta^*, x> + eps, eps ~ N(0, sigma^2); t_i = lambda_i theta^{*2}_i is the
signal energy of coordinate i.

* **Weak teacher**: ordinary least squares on its feature set T (|T| = k), fitted on n labelled
  samples: theta_w = argmin ||y - X_T b||^2. The coordinates outside T act on it as noise of
  variance s_T^2 = sigma^2 + sum_{i not in T} t_i, independent of X_T, so (Gaussian design,
  E[(X_T^T X_T)^{-1}] = H_T^{-1}/(n - k - 1))

  .. math:: E[(\theta_w - \theta^*_T)(\theta_w - \theta^*_T)^\top] = \frac{s_T^2}{n-k-1} H_T^{-1},
            \qquad E R_{teacher} = \sum_{i\notin T} t_i + s_T^2\frac{k}{n-k-1}.

* **Strong student**: least squares on its feature set S (|S| = q), fitted on N fresh samples
  labelled by the teacher, \tilde y = <theta_w, x_T> (``labels="teacher"``), or by the truth
  (``"true"``, the strong-label baseline). Given theta_w the student's target is theta_w on
  S \cap T and 0 on S \ T, and the teacher's part on T \ S is noise of variance
  sigma_e^2 = sum_{i in T\S} lambda_i theta_{w,i}^2, independent of X_S; so

  .. math:: E[R_{student}\mid\theta_w] = \sum_{i\in S\cap T}\lambda_i(\theta_{w,i}-\theta^*_i)^2
            + \sum_{i\notin S\cap T} t_i + \sigma_e^2\,\frac{q}{N-q-1},

  and over the teacher, with E sigma_e^2 = sum_{i in T\S} t_i + s_T^2 |T\S|/(n - k - 1),

  .. math:: E R_{W2S}(N) = s_T^2\frac{|S\cap T|}{n-k-1} + \sum_{i\notin S\cap T} t_i
            + E\sigma_e^2\,\frac{q}{N-q-1}; \qquad
            E R_{strong}(N) = \sum_{i\notin S} t_i + \Big(\sigma^2 + \sum_{i\notin S} t_i\Big)\frac{q}{N-q-1}.

  Both decay in N towards their N -> infinity limits as q/(N - q - 1): the teacher's labels change
  the constant (E sigma_e^2 in place of sigma^2 + the student's tail) and the limit, not the rate.
  The student beats its teacher (weak-to-strong generalization) when the teacher's errors lie
  mostly on T \ S, where the student cannot copy them (the "discrepancy" of Dong et al. 2025,
  arXiv 2502.05075; surrogate-to-target models, Ildiz et al. 2025, arXiv 2410.18837).

These are identities in expectation for Gaussian designs at every finite n >= k + 2 and
N >= q + 2 (the inverse-Wishart mean), not asymptotic equivalents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from featlab.theory.linear import _checks

__all__ = ["W2SRisk", "w2s_risk", "w2s_gap_slope"]


@dataclass(frozen=True)
class W2SRisk:
    """Expected excess risks (test MSE minus sigma^2): teacher, student on teacher labels (and its
    N -> infinity limit), student on true labels (and its limit)."""

    teacher: float
    w2s: float
    w2s_limit: float
    strong: float
    strong_limit: float


def _mask(p: int, idx) -> np.ndarray:
    m = np.zeros(p, dtype=bool)
    m[np.asarray(idx, dtype=int)] = True
    return m


def w2s_risk(lam, w_star, sigma2: float, teacher_idx, student_idx, n: int, N: int) -> W2SRisk:
    r"""The exact expected risks of the module docstring.

    lam, w_star: (p,) spectrum and target; teacher_idx / student_idx: the coordinates T and S
    (0-based); n teacher labels (n >= |T| + 2), N student samples (N >= |S| + 2)."""
    lam = _checks.spectrum(lam)
    w = _checks.vector(w_star, "w_star", lam)
    p = lam.shape[0]
    T, S = _mask(p, teacher_idx), _mask(p, student_idx)
    k, q = int(T.sum()), int(S.sum())
    if n < k + 2:
        raise ValueError(f"n={n} is invalid: the least-squares teacher on {k} features needs n >= k + 2")
    if N < q + 2:
        raise ValueError(f"N={N} is invalid: the least-squares student on {q} features needs N >= q + 2")
    t = lam * w**2
    s_T2 = sigma2 + float(t[~T].sum())
    v_T = s_T2 / (n - k - 1)
    both, t_only = S & T, T & ~S
    sig_e2 = float(t[t_only].sum()) + v_T * int(t_only.sum())
    w2s_limit = v_T * int(both.sum()) + float(t[~both].sum())
    tail_S = float(t[~S].sum())
    ratio = q / (N - q - 1)
    return W2SRisk(teacher=float(t[~T].sum()) + v_T * k, w2s=w2s_limit + sig_e2 * ratio,
                   w2s_limit=w2s_limit, strong=tail_S + (sigma2 + tail_S) * ratio,
                   strong_limit=tail_S)


def w2s_gap_slope(q: int, Ns) -> float:
    r"""The least-squares slope of log(q/(N - q - 1)) on log N over the grid ``Ns``: the exact
    exponent of R(N) - R(infinity) on that grid, for teacher and true labels alike (-> -1 as
    N/q -> infinity)."""
    Ns = np.asarray(Ns, dtype=float)
    x, y = np.log(Ns), np.log(q / (Ns - q - 1))
    return float(np.polyfit(x, y, 1)[0])
