r"""Two-layer tied-weight network on patches: a DDPM denoiser, or the same layer as a classifier
(Han, Huang, Cao, Zou, "On the Feature Learning in Diffusion Models", ICLR 2025, arXiv
2412.01021, Sec. 2), for one run (batched by vmap over P).

One first layer W = (w_1, ..., w_m) (m, d), w_r ~ N(0, \sigma_0^2 I), applied to every patch
x^{(p)} of x = [x^{(1)}, x^{(2)}] with the activation \sigma (``square``: z^2; ``relu2``:
max(0, z)^2):

- ``objective="denoise"``: the score (noise-prediction) network with tied weights, per patch

      f_p(W, x) = (1/\sqrt m) \sum_r \sigma(<w_r, x^{(p)}>) w_r \in R^d,

  trained with the DDPM loss at one fixed noise level ("denoise" task of
  :mod:`featlab.train.tasks`): x_t = \sqrt{\bar\alpha} x_0 + \sqrt{1 - \bar\alpha} \epsilon,
  \epsilon ~ N(0, I) drawn afresh at every step from the run's own stream, and
  L(W) = (1/n) \sum_i \sum_p \| f_p(W, x_{t,i}) - \epsilon_i^{(p)} \|^2 (``alpha_bar`` =
  \bar\alpha \in (0, 1); 1 - \bar\alpha is the noise level);
- ``objective="classify"``: the two-layer CNN with the same first layer and a fixed +-1 readout,

      f(W, x) = (1/m) \sum_p [\sum_{r < m/2} \sigma(<w_r, x^{(p)}>) - \sum_{r >= m/2} \sigma(<w_r, x^{(p)}>)],

  trained with the logistic loss (the "binary" task).

What we verified of the paper (its abstract and Sec. 2's data model, Def. 2.1): two patches,
x^{(1)} = \mu_y with \mu_{+1} \perp \mu_{-1} of equal norm, the other patch noise; a two-layer
network trained with the denoising objective at a fixed time compared with the same architecture
trained as a classifier; the signal-to-noise learning ratio \Theta(n SNR^2) for diffusion and a
transition in n SNR^2 for classification. Not verified (our choices): the activation, the
1/\sqrt m and 1/m scalings, noise prediction (rather than x_0 prediction), \bar\alpha = 1/2.

``feature_ratio`` (the probe of this family): with \Delta w_r = w_r - w_r^{(0)},

    signal_max = max_{r, j} |<\Delta w_r, \mu_j>|,   noise_max = max_{r, i} |<\Delta w_r, \xi_i>|,
    feature_ratio = signal_max / noise_max,

and ``feature_ratio_raw`` the same with w_r in place of \Delta w_r (initialization included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import ConfigError, _check, _check_choice, _finite, register_model
from featlab.rng import generator

__all__ = ["TiedDenoiser", "FAMILY", "init", "apply", "param_groups", "feature_ratio", "task_name",
           "check"]


@register_model
@dataclass(frozen=True)
class TiedDenoiser:
    r"""Tied-weight two-layer network on patches, a denoiser or a classifier
    (:mod:`featlab.models.tied_denoiser`)."""

    m: int = 10
    activation: Literal["square", "relu2"] = "square"
    sigma_0: float = 0.01
    objective: Literal["denoise", "classify"] = "denoise"
    alpha_bar: float = 0.5
    kind: Literal["tied_denoiser"] = "tied_denoiser"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"sigma_0"})
    INPUT: ClassVar[str] = "patches"

    def __post_init__(self) -> None:
        _check(isinstance(self.m, int) and not isinstance(self.m, bool) and self.m >= 1, "model.m",
               self.m, "use an integer number of neurons m >= 1")
        _check_choice("model.activation", self.activation, ("square", "relu2"))
        _check_choice("model.objective", self.objective, ("denoise", "classify"))
        _check(self.objective != "classify" or self.m % 2 == 0, "model.m", self.m,
               "the classifier splits the neurons into two classes: use an even m")
        _check(_finite(self.sigma_0) and self.sigma_0 > 0, "model.sigma_0", self.sigma_0,
               "use a finite init scale sigma_0 > 0")
        _check(_finite(self.alpha_bar) and 0 < self.alpha_bar < 1, "model.alpha_bar",
               self.alpha_bar, "the noise level 1 - alpha_bar must be in (0, 1): use "
               "0 < alpha_bar < 1 (e.g. 0.5)")


_PHI = {"square": lambda z: z * z, "relu2": lambda z: torch.relu(z) ** 2}


def task_name(cfg: TiedDenoiser) -> str:
    """The task the objective trains: "denoise" (DDPM loss) or "binary" (logistic loss)."""
    return "denoise" if cfg.objective == "denoise" else "binary"


def check(setting) -> None:
    """ConfigError for what the denoiser cannot train: mixup (the targets are noise vectors)."""
    o = setting.optim
    if setting.model.objective == "denoise" and (o.mixup_alpha > 0 or o.mixup_lambda > 0):
        raise ConfigError(f"optim.mixup_alpha={o.mixup_alpha!r} is invalid with "
                          f"model.objective=denoise: mixup mixes labels; set optim.mixup_alpha=0 "
                          f"and optim.mixup_lambda=0")


def init(cfg: TiedDenoiser, run_keys: list[int], input_shape: tuple[int, ...], dtype: torch.dtype,
         out_dim: int = 1) -> dict[str, torch.Tensor]:
    """W (P, m, d) ~ N(0, sigma_0^2) from each run's "init" stream."""
    d = input_shape[-1]
    Ws = [torch.randn(cfg.m, d, generator=generator(seed, "init"), dtype=torch.float64)
          * cfg.sigma_0 for seed in run_keys]
    return {"W": torch.stack(Ws).to(dtype)}


def apply(cfg: TiedDenoiser, params: dict[str, torch.Tensor], x: torch.Tensor, taps: bool = False):
    """One run: x (n, K, d) -> the denoised patches (n, K, d) or the class score (n,);
    taps: {"h": sigma(<w_r, x^(p)>) (n, K, m)}."""
    W = params["W"]                                                         # (m, d)
    h = _PHI[cfg.activation](x @ W.T)                                       # (n, K, m)
    m = W.shape[0]
    if cfg.objective == "denoise":
        f = (h @ W) / math.sqrt(m)                                          # (n, K, d)
    else:
        sign = torch.ones(m, dtype=h.dtype, device=h.device)
        sign[m // 2:] = -1
        f = (h * sign).sum((1, 2)) / m                                      # (n,)
    return (f, {"h": h}) if taps else f


def param_groups(cfg: TiedDenoiser) -> dict[str, str]:
    """The one (tied) layer W."""
    return {"W": "input"}


def n_params(cfg: TiedDenoiser, input_shape: tuple[int, ...]) -> int:
    """Entries of W (the memory estimate of one run)."""
    return cfg.m * input_shape[-1]


def feature_ratio(W: torch.Tensor, W0: torch.Tensor, mu: torch.Tensor, xi: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    """signal_max, noise_max, feature_ratio (learned part Delta W = W - W0) and
    feature_ratio_raw (W itself), each (L,): W, W0 (L, m, d); mu (L, S, d); xi (L, n, d)."""
    out = {}
    for tag, V in (("", W - W0), ("_raw", W)):
        V = V.double()
        sig = (V @ mu.double().transpose(1, 2)).abs().flatten(1).amax(1)    # (L,)
        noise = (V @ xi.double().transpose(1, 2)).abs().flatten(1).amax(1)  # (L,)
        if tag == "":
            out["signal_max"], out["noise_max"] = sig, noise
        out[f"feature_ratio{tag}"] = sig / noise
    return out


def _family():
    from featlab.models.family import Family
    return Family(config=TiedDenoiser, init=init, apply=apply, param_groups=param_groups,
                  n_params=n_params, probes=("feature_ratio",), check=check, task=task_name)


FAMILY = _family()
