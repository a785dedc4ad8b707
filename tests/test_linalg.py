"""featlab.linalg.spd_solve: the batched SPD solver every ridge / Gram fit uses."""

import numpy as np
import torch

from featlab.linalg import spd_solve


def test_spd_solve_matches_numpy_on_a_large_batch():
    # k = 256 in a batch of 12: the size at which batched LU failed under torch 2.13 CPU + MKL
    g = torch.Generator().manual_seed(0)
    H = torch.randn(12, 600, 256, generator=g, dtype=torch.float64)
    A = H.transpose(1, 2) @ H / 600 + 1e-3 * torch.eye(256, dtype=torch.float64)
    b = torch.randn(12, 256, 2, generator=g, dtype=torch.float64)
    x = spd_solve(A, b)
    ref = np.linalg.solve(A.numpy(), b.numpy())
    assert np.allclose(x.numpy(), ref, rtol=1e-8, atol=1e-10)


def test_singular_matrix_gets_the_minimum_norm_solution_and_others_are_untouched():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(3, 2, 5, generator=g, dtype=torch.float64)               # rank 2 in 5 dims
    A = X.transpose(1, 2) @ X                                                # singular (3, 5, 5)
    A[1] += torch.eye(5, dtype=torch.float64)                                # only run 1 is SPD
    b = A @ torch.randn(3, 5, 1, generator=g, dtype=torch.float64)           # consistent systems
    x = spd_solve(A, b)
    for i in (0, 2):
        ref = np.linalg.pinv(A[i].numpy()) @ b[i].numpy()
        assert np.allclose(x[i].numpy(), ref, atol=1e-8)
    assert np.allclose(x[1].numpy(), np.linalg.solve(A[1].numpy(), b[1].numpy()), atol=1e-10)
    assert torch.allclose(A @ x, b, atol=1e-8)
