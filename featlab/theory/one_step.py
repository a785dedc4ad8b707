r"""The kernel lower bound of Ba et al. 2022 for one-gradient-step feature learning.

For a single-index target f^*(x) = \sigma^*(<x, \beta^*>), x ~ N(0, I_d), ||\beta^*|| = 1, write
z = <x, \beta^*> ~ N(0, 1) and expand \sigma^* in Hermite polynomials. In the proportional limit
(n, N, d -> infinity with n/d, N/d fixed), kernel ridge regression and random-features ridge
regression (untrained first layer, or one step with eta = Theta(1)) learn at most the linear
part of f^*, so their excess prediction risk is at least

    ||P_{>1} f^*||^2 = Var[\sigma^*(z)] - (E[z \sigma^*(z)])^2

(Ba, Erdogdu, Suzuki, Wang, Wu, Yang, NeurIPS 2022, arXiv 2205.01445: the "kernel lower bound"
of their Section 3; a large step eta = Theta(sqrt N) with sigma = sigma^* = erf beats it).
:func:`kernel_lower_bound` computes it by numerical quadrature for any teacher;
:data:`CLOSED_FORMS` holds the values derived by hand, which the tests compare against:

- erf: E erf(z)^2 = (2/pi) arcsin(2/3), E erf(z) = 0, E z erf(z) = E erf'(z) = 2/sqrt(3 pi),
  so the bound is (2/pi) arcsin(2/3) - 4/(3 pi) = 0.040146;
- relu: E relu(z)^2 = 1/2, E relu(z) = 1/sqrt(2 pi), E z relu(z) = 1/2: 1/4 - 1/(2 pi);
- linear: 0 (nothing beyond the linear part: no learner can beat a zero bound).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["kernel_lower_bound", "hermite_moments", "CLOSED_FORMS"]

_TEACHERS = {
    "erf": lambda z: np.vectorize(math.erf)(z),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}

#: ||P_{>1} sigma*||^2 derived by hand (module docstring).
CLOSED_FORMS = {
    "erf": (2 / math.pi) * math.asin(2 / 3) - 4 / (3 * math.pi),
    "relu": 0.25 - 1 / (2 * math.pi),
    "linear": 0.0,
}


def hermite_moments(teacher: str) -> tuple[float, float, float]:
    """(E sigma*(z), E z sigma*(z), E sigma*(z)^2) for z ~ N(0, 1), by adaptive quadrature of
    the Gaussian density on (-inf, 0] and [0, inf) separately (exact to ~1e-12 also for the
    kink of relu at 0, where Gauss-Hermite converges slowly)."""
    from scipy.integrate import quad

    if teacher not in _TEACHERS:
        raise ValueError(f"teacher {teacher!r}: choose one of {', '.join(_TEACHERS)}")
    s = _TEACHERS[teacher]
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731

    def mean(g) -> float:
        f = lambda z: g(z) * phi(z)  # noqa: E731
        return quad(f, -np.inf, 0, epsabs=1e-13, epsrel=1e-12)[0] + quad(
            f, 0, np.inf, epsabs=1e-13, epsrel=1e-12)[0]

    one = lambda z: float(s(np.asarray(z)))  # noqa: E731
    return mean(one), mean(lambda z: z * one(z)), mean(lambda z: one(z) ** 2)


def kernel_lower_bound(teacher: str) -> float:
    """||P_{>1} f*||^2 = Var sigma*(z) - (E z sigma*(z))^2 (module docstring)."""
    m0, m1, m2 = hermite_moments(teacher)
    return max(m2 - m0 * m0 - m1 * m1, 0.0)
