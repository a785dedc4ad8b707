r"""Two-layer CNN with fixed second layer, batched over a population of P runs.

    f(W, x) = F_{+1}(W_{+1}, x) - F_{-1}(W_{-1}, x),
    F_j(W_j, x) = a \sum_{r=1}^m c \sum_{p=1}^K \sigma(<w_{j,r}, x^{(p)}> + b_{j,r}),

with a = 1/m (papers) or 1 (official code), c = 1 (sum over patches) or 1/K (mean).
Parameters: W (P, 2m, d) with rows [w_{+1,1..m}, w_{-1,1..m}], bias b (P, 2m) (zero and
frozen when ``bias=False``). Training loss (logistic, per run, over real samples):

    L_p(W) = (1/n_p) \sum_i \ell(\tilde y_i f(W, x_i)),   \ell(z) = \log(1 + e^{-z}).

Analytic gradient (two batched matmuls, no autograd graph): with
g_i = \ell'(\tilde y_i f_i) \tilde y_i / n_p and s_k = \pm 1 the class sign of row k,

    G_{i,p,k} = g_i a c s_k \sigma'(<w_k, x_i^{(p)}> + b_k),
    \nabla_W L = G^T X  (P, 2m, nK) @ (P, nK, d),     \nabla_b L = \sum_{i,p} G_{i,p,k}.

The official code's cross-entropy on the two logits [F_{-1}, F_{+1}] equals \ell(\tilde y f).
"""

from __future__ import annotations

import functools
import math

import torch

from featlab.config import TwoLayerCNN
from featlab.models.activations import activation_pair
from featlab.rng import for_each_distinct, generator

__all__ = ["FAMILY", "init", "apply", "param_groups", "init_params", "class_signs", "readout", "preacts", "output_from_preacts",
           "loss_and_grad", "loss_from_preacts", "logistic", "loss_autograd", "second_layer_scale"]


def second_layer_scale(cfg: TwoLayerCNN, K: int = 2) -> float:
    """a * c: the factor in front of the double sum over filters and patches."""
    a = 1.0 / cfg.m if cfg.second_layer == "1/m" else 1.0
    c = 1.0 / K if cfg.patch_reduce == "mean" else 1.0
    return a * c


@functools.lru_cache(maxsize=64)
def _signs(m: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    return torch.cat([torch.ones(m, dtype=dtype, device=device),
                      -torch.ones(m, dtype=dtype, device=device)])


def class_signs(m: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """(2m,) s_k: +1 for the m filters of F_{+1}, -1 for those of F_{-1} (cached, read-only)."""
    return _signs(m, dtype, str(device))


def readout(cfg: TwoLayerCNN, K: int, dtype: torch.dtype,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """(2m,) second-layer weights a c s_k, so that f = sum_p sigma(z_{.,p,:}) @ readout."""
    return class_signs(cfg.m, dtype, device) * second_layer_scale(cfg, K)


def init_params(cfg: TwoLayerCNN, sigma_0: list[float], seeds: list[int], d: int,
                dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Per-run init from each run's "init" stream: W (P, 2m, d), b (P, 2m).

    ``normal``: W ~ N(0, sigma_0^2), b = 0. ``torch_default``: PyTorch's Conv1d(1, 2m, d)
    init, W, b ~ U(-1/sqrt(d), 1/sqrt(d)) (kaiming_uniform with a = sqrt(5), fan_in = d).
    Each run's generator draws straight into the population's buffer; the scaling is done once
    for all runs (the same numbers as drawing run by run).
    """
    P, M = len(seeds), 2 * cfg.m
    W = torch.empty(P, M, d, dtype=dtype)
    b = torch.zeros(P, M, dtype=dtype)
    normal = cfg.init == "normal"
    def draw(p: int) -> None:
        g = generator(seeds[p], "init")
        if normal:
            torch.randn(M, d, generator=g, dtype=dtype, out=W[p])
        else:
            torch.rand(M, d, generator=g, dtype=dtype, out=W[p])
            torch.rand(M, generator=g, dtype=dtype, out=b[p])

    for_each_distinct(draw, [int(s) for s in seeds], [W, b])   # a seed's init, once per chunk
    if normal:
        W.mul_(torch.tensor(sigma_0, dtype=dtype)[:, None, None])
        return {"W": W, "b": b.zero_()}
    bound = 1.0 / math.sqrt(d)
    W.mul_(2).sub_(1).mul_(bound)                       # (u * 2 - 1) * bound, in place
    b = b.mul_(2).sub_(1).mul_(bound) if cfg.bias else b.zero_()
    return {"W": W, "b": b}


def preacts(params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """<w_k, x^{(p)}> + b_k for every sample and patch: X (P, N, K, d) -> (P, N, K, 2m)."""
    P, N, K, d = X.shape
    W, b = params["W"], params["b"]
    z = torch.bmm(X.reshape(P, N * K, d), W.transpose(1, 2))                # (P, NK, 2m)
    return (z + b[:, None, :]).reshape(P, N, K, -1)


def output_from_preacts(cfg: TwoLayerCNN, z: torch.Tensor) -> torch.Tensor:
    """f = a c sum_{p,k} s_k sigma(z_{.,p,k}): (P, N, K, 2m) -> (P, N)."""
    sigma, _ = activation_pair(cfg)(z)
    return sigma.sum(2) @ readout(cfg, z.shape[2], z.dtype, z.device)


def loss_and_grad(cfg: TwoLayerCNN, params: dict[str, torch.Tensor], X: torch.Tensor,
                  y: torch.Tensor, weight: torch.Tensor, need_grad: bool = True,
                  soft: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor] | None]:
    """Per-run logistic loss, outputs and analytic gradients.

    X: (P, n, K, d); y: (P, n) labels in {+-1}; weight: (P, n) = mask / n_p (the loss is
    sum_i weight_i l(y_i f_i)). Returns loss (P,), f (P, n), grads {"W": (P, 2m, d)} plus
    "b": (P, 2m) when the model has a bias (None if not ``need_grad``).
    ``soft``: y is a soft label in [-1, 1] (mixup): the loss is
    ((1+y)/2) l(f) + ((1-y)/2) l(-f), which equals l(y f) for y = +-1 and
    lambda l(y_i f) + (1-lambda) l(y_j f) for y = lambda y_i + (1-lambda) y_j; dL/df =
    weight (sigmoid(f) - (1+y)/2).
    """
    P, n, K, d = X.shape
    Xf = X.reshape(P, n * K, d)                                             # (P, nK, d)
    z = torch.baddbmm(params["b"][:, :, None], params["W"], Xf.transpose(1, 2))  # (P, 2m, nK)
    loss, f, Gt = loss_from_preacts(cfg, z, K, y, weight, need_grad, soft)
    if Gt is None:
        return loss, f, None
    grads = {"W": torch.bmm(Gt, Xf)}                                        # (P, 2m, d)
    if cfg.bias:                                        # else b stays 0: no gradient, no update
        grads["b"] = Gt.sum(2)
    return loss, f, grads


def logistic(f: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, need_grad: bool = True,
             soft: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss (P,) = sum_i weight_i l(y_i f_i) and dL/df (P, n) from the outputs f (P, n)
    (``soft``: mixup's soft labels, see :func:`loss_and_grad`); dL/df is None without
    ``need_grad``."""
    if soft:
        p_pos = 0.5 * (1 + y)                                               # target P(+1)
        sp = torch.nn.functional.softplus
        loss = (weight * (p_pos * sp(-f) + (1 - p_pos) * sp(f))).sum(1)
        return loss, (weight * (torch.sigmoid(f) - p_pos) if need_grad else None)
    neg_margin = -y * f
    loss = (weight * torch.nn.functional.softplus(neg_margin)).sum(1)       # (P,)
    return loss, (-weight * y * torch.sigmoid(neg_margin) if need_grad else None)


def loss_from_preacts(cfg: TwoLayerCNN, z: torch.Tensor, K: int, y: torch.Tensor,
                      weight: torch.Tensor, need_grad: bool = True, soft: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""Loss (P,), outputs f (P, n) and the gradient's patch coefficients from the
    pre-activations in filter-major layout, z (P, 2m, nK) (z_{k,(i,p)} = <w_k, x_i^{(p)}> + b_k;
    see :func:`loss_and_grad` for ``weight`` and ``soft``). ``z`` is consumed (its buffer is
    reused for the coefficients).

    The coefficients are G^T (P, 2m, nK), G_{(i,p),k} = dL/df_i a c s_k sigma'(z_{i,p,k}), so
    that \nabla_W L = G^T X and \nabla_b L = G^T 1 (None if not ``need_grad``).

    Speed: the layout keeps the patch axis innermost, so f is a sum over the m filters of each
    class and G^T needs no transpose; with ReLU, sigma'(z) = 1[z > 0] is written into z's own
    buffer as a float (no bool tensor, no cast) and scaled in place by dL/df_i a c s_k, so a
    step makes four passes over (P, 2m, nK) besides the matmuls (ReLU, the class sums, the
    mask, its scaling).
    """
    P, M, nK = z.shape
    n, m = nK // K, M // 2
    ac = second_layer_scale(cfg, K)
    relu = cfg.activation == "relu"
    if relu:
        sigma, dsigma = torch.relu(z), None
    else:
        sigma, dsigma = activation_pair(cfg)(z)
    F = sigma.view(P, 2, m, nK).sum(2)                                      # (P, 2, nK) F_{+1}, F_{-1}
    f = (F[:, 0] - F[:, 1]).view(P, n, K).sum(2) * ac                       # (P, n)
    loss, g = logistic(f, y, weight, need_grad, soft)
    if g is None:
        return loss, f, None
    g = g.repeat_interleave(K, dim=1)                                       # (P, nK) per patch
    gs = torch.stack([g * ac, g * -ac], 1)[:, :, None, :]                   # (P, 2, 1, nK) dL/df a c s_k
    if relu:
        G = torch.gt(z, 0, out=z).view(P, 2, m, nK).mul_(gs)                 # 1[z > 0] in place
    else:
        G = dsigma.view(P, 2, m, nK) * gs
    return loss, f, G.view(P, M, nK)                                        # (P, 2m, nK)


def loss_autograd(cfg: TwoLayerCNN, params: dict[str, torch.Tensor], X: torch.Tensor,
                  y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The same loss written plainly for autograd (reference for the analytic gradient)."""
    z = preacts(params, X)
    f = output_from_preacts(cfg, z)
    return (weight * torch.nn.functional.softplus(-y * f)).sum(1)


# ----------------------------------------------------------------------------- the family seam

def init(cfg: TwoLayerCNN, run_keys: list[int], input_shape: tuple[int, ...], dtype: torch.dtype,
         out_dim: int = 1) -> dict[str, torch.Tensor]:
    """:func:`init_params` for runs that share ``cfg`` (input_shape = (K, d); out_dim must be 1)."""
    if out_dim != 1:
        raise ValueError("the two-layer CNN has one output (binary task)")
    return init_params(cfg, [cfg.sigma_0] * len(run_keys), list(run_keys), input_shape[-1], dtype)


def apply(cfg: TwoLayerCNN, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """f(W, x) for one run: W (2m, d), b (2m), x (N, K, d) -> f (N,); taps: {"h": sigma(z)}."""
    z = x @ params["W"].T + params["b"]                                     # (N, K, 2m)
    h = activation_pair(cfg)(z)[0]
    f = h.sum(1) @ readout(cfg, x.shape[1], z.dtype, z.device)               # (N,)
    return (f, {"h": h}) if taps else f


def param_groups(cfg: TwoLayerCNN) -> dict[str, str]:
    """W is the (only) trained layer; b is trained only with ``bias``."""
    return {"W": "input", "b": "bias"} if cfg.bias else {"W": "input"}


def _family():
    from featlab.models.family import Family
    return Family(config=TwoLayerCNN, init=init, apply=apply, param_groups=param_groups,
                  loss_and_grad=loss_and_grad, span=True,
                  probes=("signal_noise_decomposition", "gaussian_test"))


FAMILY = _family()
