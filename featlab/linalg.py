r"""Batched symmetric positive-(semi)definite solves, the one solver featlab's ridge, Gram and
decomposition fits use.

``spd_solve(A, b)`` returns x with A x = b for a batch of SPD matrices A (..., k, k) by Cholesky
(A = L L^T, then two triangular solves). Where a matrix is not numerically positive definite
(Cholesky reports info > 0: a singular Gram, e.g. n > d or dependent rows), that matrix alone is
solved by the symmetric pseudo-inverse, x = A^+ b, the minimum-norm least-squares solution.

Never batched LU: ``torch.linalg.solve`` on a batch of k >= ~200 systems fails with torch 2.13
CPU + MKL on some machines ("Pivots given to lu_solve must all be greater or equal to 1", after
MKL's "Parameter 6 was incorrect on entry to DLASWP"), though the matrices are well conditioned;
Cholesky (POTRF/POTRS) has no pivots and is the natural solver for a Gram matrix anyway.
"""

from __future__ import annotations

import torch

__all__ = ["spd_solve"]


def spd_solve(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x = A^{-1} b for SPD A (..., k, k) and b (..., k, r); pseudo-inverse for singular A."""
    L, info = torch.linalg.cholesky_ex(A)
    x = torch.cholesky_solve(b.contiguous(), L)
    bad = info != 0
    if bool(bad.any()):
        x[bad] = torch.linalg.pinv(A[bad], hermitian=True) @ b[bad]
    return x
