r"""Centered, output-scaled MLP: the lazy-vs-rich model of Chizat, Oyallon & Bach (2019).

    f_\alpha(x; w) = \alpha (h(x; w) - h(x; w_0)),

with h the MLP of :mod:`featlab.models.mlp` (standard initialization, NTK learning rates: see
:func:`lr_multipliers`) and w_0 its initial
weights, kept as fixed parameters (``W{l}_0``; not trained), so f_\alpha = 0 at initialization
for every \alpha. Chizat et al. ("On Lazy Training in Differentiable Programming", NeurIPS 2019,
arXiv 1812.07956) train (1/\alpha^2) R(f_\alpha). Gradient descent on that objective with step
\eta is gradient descent on R(f_\alpha) with step \eta / \alpha^2, so the family's
``lr_multipliers`` carry 1/\alpha^2 for every group. With that scaling every \alpha starts from
f = 0 with the same function-space dynamics, df/dt = -J_h J_h^T R'(f) at w = w_0 (J_h the
Jacobian of h). As \alpha -> infinity the weights move
by O(1/\alpha) and training follows the linearized (NTK) model ("lazy"); small \alpha lets the
features, and the kernel, move ("rich"). Geiger, Spigler, Jacot, Wyart (2020, arXiv 1906.08034)
place the crossover at \alpha \sqrt{N} = O(1) for width N (their alpha multiplies a 1/sqrt(N)
mean-field output; featlab's MLP output has the 1/sqrt(N) of SP built in).

``alpha`` is structural (it sets the chunk's lr multipliers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, MLP
from featlab.models import mlp
from featlab.models.family import Family

__all__ = ["CenteredMLP", "FAMILY", "init", "apply", "param_groups", "lr_multipliers"]


@dataclass(frozen=True)
class CenteredMLP:
    """alpha (h(x; w) - h(x; w_0)) for an SP MLP h of ``depth`` weight layers and width ``width``
    (:mod:`featlab.models.centered`)."""

    depth: int = 2
    width: int = 64
    activation: Literal["relu", "tanh", "erf", "linear"] = "tanh"
    alpha: float = 1.0
    kind: Literal["centered_mlp"] = "centered_mlp"

    INPUT: ClassVar[str] = "vectors"

    def __post_init__(self) -> None:
        _check(isinstance(self.depth, int) and self.depth >= 2, "model.depth", self.depth,
               "use an integer number of weight layers >= 2")
        _check(isinstance(self.width, int) and not isinstance(self.width, bool) and self.width >= 1,
               "model.width", self.width, "use an integer width >= 1")
        _check_choice("model.activation", self.activation, ("relu", "tanh", "erf", "linear"))
        _check(_finite(self.alpha) and self.alpha > 0, "model.alpha", self.alpha,
               "use a finite output scale alpha > 0")

    @property
    def net(self) -> MLP:
        """The uncentered MLP h."""
        return MLP(depth=self.depth, width=self.width, activation=self.activation, bias=False)


def init(cfg: CenteredMLP, run_keys: list[int], input_shape: tuple[int, ...], dtype: torch.dtype,
         out_dim: int = 1) -> dict[str, torch.Tensor]:
    """The MLP's W{l} (P, fan_out, fan_in) from each run's "init" stream, and frozen copies
    W{l}_0."""
    p = mlp.init(cfg.net, run_keys, input_shape, dtype, out_dim)
    return {**p, **{f"{k}_0": v.clone() for k, v in p.items()}}


def apply(cfg: CenteredMLP, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """f_alpha for one run: x (n, d) -> (n,) or (n, C); taps: the trained net's hidden layers."""
    w = {k: v for k, v in params.items() if not k.endswith("_0")}
    w0 = {k[:-2]: v for k, v in params.items() if k.endswith("_0")}
    h, acts = mlp.apply(cfg.net, w, x, taps=True)
    f = cfg.alpha * (h - mlp.apply(cfg.net, w0, x))
    return (f, acts) if taps else f


def param_groups(cfg: CenteredMLP) -> dict[str, str]:
    """The trained weights only (W{l}_0 stay fixed)."""
    return mlp.param_groups(cfg.net)


def lr_multipliers(cfg: CenteredMLP, optim_name: str, input_shape: tuple[int, ...] = ()
                   ) -> dict[str, float]:
    """1 / (alpha^2 fan_in) per group: gradient descent on (1/alpha^2) R(f_alpha), with the NTK
    parametrization's per-layer rates 1/fan_in (TP IV: NTP = SP with lr 1/fan_in per layer), so
    the tangent kernel sum_l J_l J_l^T / fan_in_l is O(1) at every width."""
    d = input_shape[-1] if input_shape else cfg.width
    a2 = cfg.alpha**2
    return {"input": 1.0 / (a2 * d), "hidden": 1.0 / (a2 * cfg.width),
            "output": 1.0 / (a2 * cfg.width), "bias": 1.0 / a2}


FAMILY = Family(config=CenteredMLP, init=init, apply=apply, param_groups=param_groups,
                lr_multipliers=lr_multipliers, probes=("act_scale", "ntk"))
