r"""The span representation of span-preserving training (a population step without d).

The CNN's gradient is a combination of the training patches: with X the (nK, d) stacked
patches of a run and G the (nK, 2m) patch coefficients of the loss
(:func:`featlab.models.cnn.loss_from_preacts`), \nabla_W L = G^T X. An optimizer whose update
is a fixed linear combination of past gradients (GD, SGD, heavy-ball and Nesterov momentum,
any learning rate per run; no weight decay, clipping or normalization) therefore keeps

    W_t = W_0 + C_t X,        C_t \in R^{2m x nK},

and it can run on C instead of W: feeding it the coefficients G^T in place of G^T X gives the
update of C, because the map C -> C X is linear and fixed. The pre-activations need only the
patch Gram matrix,

    z_t = X W_t^T + b = X W_0^T + (X X^T) C_t^T + b,

so a step costs 2 (nK)^2 (2m) FLOPs per run instead of the primal 2 * 2 nK d (2m): fewer
whenever nK < 2d, and X is never touched inside the loop. This is the coordinate system of the
signal-noise decomposition (W_t - W_0 in span{mu, xi_i}), used here for speed; W_t is rebuilt
(one batched matmul) only when diagnostics need it. Label noise and minibatches change the
coefficients, not the span, so they run here too; mixup (the inputs change every step) and SAM
(the ascent point needs ||G^T X||) stay on the primal path.

The two paths agree to rounding (``tests/test_span.py`` checks 1e-10 in float64); which one a
chunk uses depends only on its settings, never on the population it is trained in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from featlab.config import Setting
from featlab.models.cnn import loss_and_grad, loss_from_preacts

__all__ = ["SPAN_OPTIMIZERS", "SpanBasis", "SpanMoments", "span_eligible", "loss_and_grad_any"]

#: Optimizers whose update is linear in the gradient history (with weight_decay = clip = 0).
SPAN_OPTIMIZERS = frozenset({"gd", "sgd", "momentum", "nesterov"})


def span_eligible(setting: Setting, mixup: bool, sam: bool, nK: int) -> bool:
    """Whether a chunk of ``setting`` (nK patches per run) trains faster in the span.

    Requires a linear update (SPAN_OPTIMIZERS, no weight decay, no clipping), no mixup or SAM,
    and nK <= d: then the span step does at most half the primal step's FLOPs and the Gram
    matrix (nK^2 per run) is no larger than the data (nK d).
    """
    o = setting.optim
    return (o.name in SPAN_OPTIMIZERS and o.weight_decay == 0 and o.clip == 0
            and not mixup and not sam and nK <= setting.data.d)


@dataclass
class SpanBasis:
    """Per-run patches X (P, nK, d), their Gram matrix X X^T (P, nK, nK) and W_0 X^T (P, 2m, nK)
    (filter-major, the layout of :func:`featlab.models.cnn.loss_from_preacts`)."""

    X: torch.Tensor
    gram: torch.Tensor
    z0: torch.Tensor

    @staticmethod
    def build(X: torch.Tensor, W0: torch.Tensor) -> "SpanBasis":
        """From the patches X (P, n, K, d) and the initial weights W0 (P, 2m, d)."""
        P, n, K, d = X.shape
        Xf = X.reshape(P, n * K, d)
        return SpanBasis(Xf, torch.bmm(Xf, Xf.transpose(1, 2)), torch.bmm(W0, Xf.transpose(1, 2)))

    def select(self, keep: torch.Tensor) -> "SpanBasis":
        return SpanBasis(self.X[keep], self.gram[keep], self.z0[keep])

    def zero_coefficients(self, M: int) -> torch.Tensor:
        """C_0 = 0: (P, 2m, nK)."""
        P, nK = self.gram.shape[:2]
        return torch.zeros(P, M, nK, dtype=self.gram.dtype, device=self.gram.device)

    def weights(self, C: torch.Tensor, W0: torch.Tensor) -> torch.Tensor:
        """W = W_0 + C X: (P, 2m, d)."""
        return torch.baddbmm(W0, C, self.X)

    def preacts(self, C: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """z^T = W_0 X^T + C (X X^T) + b 1^T: (P, 2m, nK) (the Gram matrix is symmetric;
        ``b`` None: no bias)."""
        z = torch.baddbmm(self.z0, C, self.gram)
        return z if b is None else z.add_(b[:, :, None])


@dataclass
class SpanMoments:
    r"""Float64 moments of W_0 and the patches, fixed for a chunk, from which the diagnostics get
    W = W_0 + C X without rebuilding it (O(m nK^2) per run instead of O(m nK d)):

        W W^T = W_0 W_0^T + C z_0 + z_0^T C^T + C (X X^T) C^T,   W u = W_0 u + C (X u),

    with z_0 = X W_0^T (the basis' ``z0``, stored as W_0 X^T) and u = mu / \|mu\| (e_1 for
    mu = 0). Fields: ``W0W0`` (P, 2m, 2m), ``W0u`` (P, 2m), ``Xu`` (P, nK)."""

    W0W0: torch.Tensor
    W0u: torch.Tensor
    Xu: torch.Tensor

    @staticmethod
    def build(X: torch.Tensor, W0: torch.Tensor, mu: torch.Tensor) -> "SpanMoments":
        """From the patches X (P, nK, d), W0 (P, 2m, d) and the signal mu (P, d)."""
        mu = mu.to(torch.float64)
        norm = mu.norm(dim=1, keepdim=True)
        e1 = torch.zeros_like(mu)
        e1[:, 0] = 1
        u = torch.where(norm > 0, mu / norm.clamp_min(1e-300), e1).to(X.dtype)[:, :, None]  # (P, d, 1)
        f64 = lambda t: t.to(torch.float64)  # noqa: E731  (products in the runs' own dtype)
        return SpanMoments(f64(W0 @ W0.transpose(1, 2)), f64(W0 @ u).squeeze(2), f64(X @ u).squeeze(2))

    def select(self, keep: torch.Tensor) -> "SpanMoments":
        return SpanMoments(self.W0W0[keep], self.W0u[keep], self.Xu[keep])

    def weight_moments(self, C: torch.Tensor, basis: SpanBasis) -> tuple[torch.Tensor, ...]:
        """(W W^T (P, 2m, 2m), W u (P, 2m), ||W - W_0||_F^2 (P,)) in float64 for W = W_0 + C X."""
        C = C.to(torch.float64)
        CG = C @ basis.gram.to(torch.float64)                                # (P, 2m, nK)
        CGC = CG @ C.transpose(1, 2)                                        # (P, 2m, 2m)
        Cz = C @ basis.z0.to(torch.float64).transpose(1, 2)                 # (P, 2m, 2m) C X W_0^T
        WW = self.W0W0 + Cz + Cz.transpose(1, 2) + CGC
        Wu = self.W0u + (C @ self.Xu[:, :, None]).squeeze(2)
        return WW, Wu, torch.diagonal(CGC, dim1=1, dim2=2).sum(1)


def loss_and_grad_any(cfg, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                      weight: torch.Tensor, need_grad: bool = True, soft: bool = False,
                      span: SpanBasis | None = None):
    """:func:`featlab.models.cnn.loss_and_grad` on primal params {"W", "b"} (``span`` None) or on
    span params {"C", "b"}; the span gradient is {"C": G^T (P, 2m, nK)} (+ "b" with a bias)."""
    if span is None:
        return loss_and_grad(cfg, params, X, y, weight, need_grad, soft)
    z = span.preacts(params["C"], params["b"] if cfg.bias else None)
    loss, f, Gt = loss_from_preacts(cfg, z, X.shape[2], y, weight, need_grad, soft)
    if Gt is None:
        return loss, f, None
    grads = {"C": Gt}
    if cfg.bias:
        grads["b"] = Gt.sum(2)
    return loss, f, grads
