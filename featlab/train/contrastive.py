r"""The InfoNCE loss of contrastive learning with a stop-gradient similarity and different-label
negatives (Huang, Han, Chen, Cao, Xu, Suzuki, NeurIPS 2024, arXiv 2411.02837, Sec. 3).

The model maps each view of a pair to m features, f (N, 2, m): h(x_i) (view 1) and h'(x'_i)
(view 2; h' = h for single-modal learning, a second encoder for multimodal learning). The
similarity of an anchor u and a partner v is

    Sim(u, v) = (1/m) \sum_{r=1}^m u_r \, sg(v_r),

sg the stop-gradient (the partner's features are constants of the step). For anchor i of view 1
the positive is its own view 2, the negatives are the view-2 features of every sample j with
y_j != y_i (M = the count of the other label, n/2 for balanced labels):

    \ell^{1 \to 2}_i = -\log \frac{e^{Sim(h_i, h'_i)/\tau}}
                              {e^{Sim(h_i, h'_i)/\tau} + \sum_{j: y_j \ne y_i} e^{Sim(h_i, h'_j)/\tau}},

and the per-sample loss is symmetric, \ell_i = \ell^{1 \to 2}_i + \ell^{2 \to 1}_i (view 2 as
the anchor, view 1's features stopped), so both encoders of the multimodal model are trained,
each against the other's stopped features. The engine averages \ell_i over the n samples.

Choices of this implementation (the paper leaves them open): the symmetric sum above; all
different-label samples of the full batch as negatives; the temperature \tau from the data
config (``data.tau``).
"""

from __future__ import annotations

import torch

__all__ = ["info_nce", "similarity"]


def similarity(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """S_ij = (1/m) <u_i, sg(v_j)>: u (N, m) anchors, v (N', m) partners -> (N, N')."""
    return u @ v.detach().T / u.shape[-1]


def _one_side(u: torch.Tensor, v: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """(N,) -log softmax of the positive S_ii/tau among {i} and the different-label j."""
    S = similarity(u, v) / tau                                                # (N, N)
    keep = (y[:, None] != y[None, :]) | torch.eye(len(y), dtype=torch.bool, device=y.device)
    S = torch.where(keep, S, torch.full_like(S, float("-inf")))
    return torch.logsumexp(S, dim=1) - torch.diagonal(S)


def info_nce(f: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-sample symmetric InfoNCE (module docstring): f (N, 2, m), y (N,) -> (N,)."""
    return _one_side(f[:, 0], f[:, 1], y, tau) + _one_side(f[:, 1], f[:, 0], y, tau)
