r"""The InfoNCE loss of contrastive learning with a stop-gradient similarity and different-label
(or all-sample) negatives (Huang, Han, Chen, Cao, Xu, Suzuki, NeurIPS 2024, arXiv 2411.02837,
Sec. 3).

The model maps each view of a pair to m features, f (N, 2, m): h(x_i) (view 1) and h'(x'_i)
(view 2; h' = h for single-modal learning, a second encoder for multimodal learning). The
similarity of an anchor u and a partner v is

    Sim(u, v) = (1/m) \sum_{r=1}^m u_r \, sg(v_r),

sg the stop-gradient (the partner's features are constants of the step). For anchor i of view 1
the positive is its own view 2, the negatives N(i) are view-2 features of other samples (by
default every sample j with y_j != y_i: M = the count of the other label, n/2 for balanced
labels):

    \ell^{1 \to 2}_i = -\log \frac{e^{Sim(h_i, h'_i)/\tau}}
                              {e^{Sim(h_i, h'_i)/\tau} + \sum_{j \in N(i)} e^{Sim(h_i, h'_j)/\tau}},

and the per-sample loss is symmetric, \ell_i = \ell^{1 \to 2}_i + \ell^{2 \to 1}_i (view 2 as
the anchor, view 1's features stopped), so both encoders of the multimodal model are trained,
each against the other's stopped features. The engine averages \ell_i over the n samples.

Choices of this implementation (the paper leaves them open): the symmetric sum above; the
temperature \tau from the data config (``data.tau``); the negatives N(i) from the data config
too (``data.negatives``, ``data.n_negatives``):

- ``negatives="other_label"`` (the default): the samples j with y_j != y_i;
  ``negatives="all"``: every j != i (SimCLR's negatives: a same-label sample is pushed away
  too);
- ``n_negatives = M``: 0 keeps every eligible j; M >= 1 keeps M of them per anchor, the M
  eligible j of smallest score r_ij, r a fixed pseudo-random (N, N) matrix (seed 0): the same
  subset at every step, in both directions and in every run (:func:`negative_mask`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = ["info_nce", "similarity", "negative_mask", "NEGATIVES"]

#: The choices of ``negatives``: the other label's samples, or every other sample.
NEGATIVES = ("other_label", "all")


def similarity(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """S_ij = (1/m) <u_i, sg(v_j)>: u (N, m) anchors, v (N', m) partners -> (N, N')."""
    return u @ v.detach().T / u.shape[-1]


@functools.lru_cache(maxsize=8)
def _scores_cpu(n: int) -> torch.Tensor:
    # numpy, not torch.rand: a constant, so that it can be built inside vmap
    return torch.from_numpy(np.random.default_rng(0).random((n, n)))


def _scores(n: int, device: torch.device) -> torch.Tensor:
    """(n, n) float64 pseudo-random scores r_ij in [0, 1): a constant of n (seed 0)."""
    return _scores_cpu(n).to(device)


def negative_mask(y: torch.Tensor, negatives: str = "other_label", n_negatives: int = 0
                  ) -> torch.Tensor:
    """(N, N) bool, True where j is a negative of anchor i (module docstring); y (N,) labels.
    The diagonal is False; with ``n_negatives = M >= 1`` every row has min(M, eligible) Trues."""
    n = y.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=y.device)
    eligible = (y[:, None] != y[None, :]) if negatives == "other_label" else ~eye  # (N, N)
    eligible = eligible & ~eye
    if n_negatives <= 0:
        return eligible
    far = torch.full((n, n), 2.0, dtype=torch.float64, device=y.device)
    r = torch.where(eligible, _scores(n, y.device), far)                      # (N, N)
    cut = r.sort(dim=1).values[:, n_negatives - 1:n_negatives]               # (N, 1) M-th smallest
    return eligible & (r <= cut)


def _one_side(u: torch.Tensor, v: torch.Tensor, keep: torch.Tensor, tau: float) -> torch.Tensor:
    """(N,) -log softmax of the positive S_ii/tau among the columns ``keep`` marks."""
    S = similarity(u, v) / tau                                                # (N, N)
    S = torch.where(keep, S, torch.full_like(S, float("-inf")))
    return torch.logsumexp(S, dim=1) - torch.diagonal(S)


def info_nce(f: torch.Tensor, y: torch.Tensor, tau: float, negatives: str = "other_label",
             n_negatives: int = 0) -> torch.Tensor:
    """Per-sample symmetric InfoNCE (module docstring): f (N, 2, m), y (N,) -> (N,)."""
    eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
    keep = negative_mask(y, negatives, n_negatives) | eye                   # negatives + positive
    return _one_side(f[:, 0], f[:, 1], keep, tau) + _one_side(f[:, 1], f[:, 0], keep, tau)
