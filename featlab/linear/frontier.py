r"""Compute-optimal frontiers of power-law random features (PLRF) from exact loss curves.

PLRF (Paquette, Paquette, Xiao, Pennington 2024, arXiv 2405.15074; :mod:`featlab.theory.linear.plrf`):
:math:`x \sim N(0, D)`, :math:`D_{jj} = j^{-2\alpha}`, target :math:`b_j = j^{-\beta}`, features
:math:`W^\top x`, W (v x d) with N(0, 1/d) entries, one-pass SGD (batch 1, constant step :math:`\gamma`) on
:math:`P = \frac12 E(\langle W^\top x,\theta\rangle - \langle x, b\rangle)^2`. For each sampled W the
expected loss after r steps is exact (feature reduction + second-moment recursion); averaged over a few
W draws it gives :math:`P(r, d)` on a grid of d for every r = 0..T.

Compute :math:`f = d\,r` (flops per step ~ d). The frontier is :math:`P^*(f) = \min_d P(f/d, d)`, the
minimizer :math:`d^*(f)`; exponents :math:`P^* \propto f^{-\eta}`, :math:`d^* \propto f^{\xi}` are fitted by
least squares in log-log (d* refined by a parabola in log d through the best grid point and its neighbours).

:func:`two_term_exponents` is a model *derived here*, not the paper's table: keep only the approximation
term :math:`F_0(d) \asymp d^{-(2\alpha - \max(0, 1-2\beta))}` (the sketch deterministic equivalent, 2 alpha > 1)
and the population-bias term :math:`F_{pp}(r) \asymp (\gamma r)^{-(2\alpha+2\beta-1)/(2\alpha)}` (gradient flow
on :math:`\sum_j j^{-2\alpha-2\beta}e^{-2\gamma r j^{-2\alpha}}`); balancing them at f = d r gives
:math:`\xi = b_r/(a_d + b_r)`, :math:`\eta = a_d b_r/(a_d + b_r)`. The paper's other terms (the embedding
term :math:`F_{ac}` and SGD noise :math:`K_{pp}`, which define its phases II-IV) are not modelled.

:func:`four_term_exponents` adds them, with the component exponents as restated (verbatim) by a
follow-up paper (Wang, Liu, Chen, "From spectra to joint schedules", found with the search tool; the
paper's own Table 2 could not be retrieved): forcing :math:`F_{pp} \asymp r^{-q_F}`,
:math:`q_F = (2\alpha+2\beta-1)/(2\alpha)`; kernel :math:`K_{pp} \asymp r^{-q_K}`,
:math:`q_K = 2 - 1/(2\alpha)`; floor :math:`F_0 \asymp d^{-(2\alpha+2\beta-1)}` (2 beta < 1) or
:math:`d^{-2\alpha}`; and, for 2 beta > 1 only, :math:`F_{ac} \asymp d^{-1} r^{-(q_K-1)}`. With
:math:`d = f^\xi`, :math:`r = f^{1-\xi}` every term is a power :math:`f^{-e_k(\xi)}` with :math:`e_k` linear
in :math:`\xi`, so :math:`\eta = \max_\xi \min_k e_k(\xi)` and :math:`\xi^*` its maximizer; the two terms
that meet there name the model's phase (Ia: F_pp = F_0; II: F_pp = F_ac; III: F_ac = K_pp). Constants are
ignored, so this is the large-f asymptote, for 2 alpha > 1 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from featlab.theory.linear import gaussian_feature_regression, sgd_last_iterate_risk

__all__ = ["plrf_loss_grid", "Frontier", "compute_frontier", "two_term_exponents", "four_term_exponents",
           "plrf_step"]


def plrf_step(alpha: float, v: int, scale: float = 0.25) -> float:
    r"""Constant step ``scale`` / tr D (tr D = E tr K; the mean-square limit is about 2 / tr K)."""
    return scale / float(np.sum(np.arange(1, v + 1, dtype=np.float64) ** (-2.0 * alpha)))


def plrf_loss_grid(alpha: float, beta: float, v: int, ds, T: int, gamma: float, seeds=(0, 1)) -> np.ndarray:
    """(len(ds), T+1) exact expected PLRF loss P (paper's 1/2 included), mean over W draws ``seeds``.

    W for seed s is drawn by ``numpy.random.default_rng(s)`` (v, d) / sqrt(d)."""
    j = np.arange(1, v + 1, dtype=np.float64)
    D, b = j ** (-2.0 * alpha), j ** (-beta)
    out = np.empty((len(ds), T + 1))
    sched = np.full(T, float(gamma))
    for k, d in enumerate(ds):
        curves = []
        for s in seeds:
            W = np.random.default_rng(int(s)).standard_normal((v, int(d))) / np.sqrt(d)
            red = gaussian_feature_regression(D, W, b, 0.0)
            excess = sgd_last_iterate_risk(red.eigvals, red.w_star, red.limit_loss, sched)
            curves.append(0.5 * (red.limit_loss + excess))
        out[k] = np.mean(curves, axis=0)
    return out


@dataclass(frozen=True)
class Frontier:
    f: np.ndarray        # (K,) compute budgets
    loss: np.ndarray     # (K,) P*(f)
    d_star: np.ndarray   # (K,) refined minimizer d*(f)
    eta: float           # -slope of log P* vs log f
    xi: float            # slope of log d* vs log f
    interior: np.ndarray  # (K,) True where the grid minimum is not at the edge of the d grid


def compute_frontier(ds, P: np.ndarray, n_f: int = 12) -> Frontier:
    """Frontier of P (len(ds), T+1) over f = d r, for f from 16 d_max to d_min T (log-spaced, n_f points)."""
    ds = np.asarray(ds, float)
    T = P.shape[1] - 1
    fs = np.geomspace(16 * ds.max(), ds.min() * T, n_f)
    loss, dstar, interior = np.empty(n_f), np.empty(n_f), np.zeros(n_f, bool)
    logd = np.log(ds)
    for i, f in enumerate(fs):
        r = f / ds
        vals = np.array([np.exp(np.interp(np.log(rr), np.log(np.arange(1, T + 1)), np.log(P[k, 1:])))
                         for k, rr in enumerate(r)])
        k = int(np.argmin(vals))
        loss[i] = vals[k]
        if 0 < k < len(ds) - 1:
            interior[i] = True
            c = np.polyfit(logd[k - 1:k + 2], np.log(vals[k - 1:k + 2]), 2)
            dstar[i] = np.exp(-c[1] / (2 * c[0])) if c[0] > 0 else ds[k]
        else:
            dstar[i] = ds[k]
    eta = -np.polyfit(np.log(fs), np.log(loss), 1)[0]
    use = interior if interior.sum() >= 3 else np.ones(n_f, bool)
    xi = np.polyfit(np.log(fs[use]), np.log(dstar[use]), 1)[0]
    return Frontier(fs, loss, dstar, float(eta), float(xi), interior)


def two_term_exponents(alpha: float, beta: float) -> tuple[float, float]:
    """(xi, eta) of the two-term model in the module docstring (derived here; meaningful for 2 alpha > 1)."""
    a_d = 2 * alpha - max(0.0, 1 - 2 * beta)
    b_r = (2 * alpha + 2 * beta - 1) / (2 * alpha)
    return b_r / (a_d + b_r), a_d * b_r / (a_d + b_r)


def _term_exponents(alpha: float, beta: float) -> dict[str, tuple[float, float]]:
    """{term: (e(0), slope)}: the term is f^-(e(0) + slope xi) at d = f^xi, r = f^(1-xi)."""
    p = 2 * alpha + 2 * beta - 1
    q_f, q_k = p / (2 * alpha), 2 - 1 / (2 * alpha)
    floor = p if 2 * beta < 1 else 2 * alpha
    terms = {"F_pp": (q_f, -q_f), "F_0": (0.0, floor), "K_pp": (q_k, -q_k)}
    if 2 * beta > 1:
        terms["F_ac"] = (q_k - 1, 1 - (q_k - 1))           # d^-1 r^-(q_K - 1)
    return terms


def four_term_exponents(alpha: float, beta: float) -> tuple[float, float, str]:
    """(xi, eta, binding terms) of the four-term model in the module docstring (2 alpha > 1)."""
    if 2 * alpha <= 1 or 2 * (alpha + beta) <= 1:
        raise ValueError(f"four_term_exponents needs 2 alpha > 1 and 2(alpha + beta) > 1, got alpha={alpha}, "
                         f"beta={beta}")
    terms = _term_exponents(alpha, beta)
    xi = np.linspace(0.0, 1.0, 200_001)
    e = {k: a + b * xi for k, (a, b) in terms.items()}
    low = np.min(np.stack(list(e.values())), axis=0)
    i = int(np.argmax(low))
    near = sorted((k for k, v in e.items() if abs(v[i] - low[i]) < 1e-4), key=lambda k: "F_pp F_0 F_ac K_pp".index(k))
    return float(xi[i]), float(low[i]), " = ".join(near)
