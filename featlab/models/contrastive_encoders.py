r"""Two-patch ReLU encoders for contrastive learning (Huang, Han, Chen, Cao, Xu, Suzuki,
NeurIPS 2024, arXiv 2411.02837, Sec. 3), for one run (batched by vmap over P):

    h_r(x) = \sum_{p=1}^{2} ReLU(<w_r, x^{(p)}>),   r = 1..m,   w_r ~ N(0, \sigma_0^2 I_d),

one encoder per view of a pair: view 1 through W (m, d), view 2 through W2 (m, d)
(multimodal learning, ``shared=False``: one encoder per modality) or through W itself
(single-modal learning, ``shared=True``: the augmented view goes through the same network).
The output is both views' features f (N, 2, m), the input of the contrastive task
(:mod:`featlab.train.contrastive`). Taps: ``{"h1": f[:, 0], "h2": f[:, 1]}``.

Init: W from the run's "init" stream, then W2 from the same stream (so a run's W does not
depend on ``shared``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import ConfigError, _check, _finite
from featlab.rng import generator

__all__ = ["ContrastiveEncoders", "FAMILY", "init", "apply", "param_groups", "n_params",
           "encoder_weights", "check"]


@dataclass(frozen=True)
class ContrastiveEncoders:
    """h_r(x) = sum_p ReLU(<w_r, x^(p)>), m = ``width`` neurons, w_r ~ N(0, sigma_0^2 I); one
    encoder per view, or one shared (:mod:`featlab.models.contrastive_encoders`)."""

    width: int = 50
    sigma_0: float = 0.01
    shared: bool = False
    kind: Literal["contrastive_encoders"] = "contrastive_encoders"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"sigma_0"})
    INPUT: ClassVar[str] = "pairs"

    def __post_init__(self) -> None:
        _check(isinstance(self.width, int) and not isinstance(self.width, bool) and self.width >= 1,
               "model.width", self.width, "use an integer number of neurons m >= 1")
        _check(_finite(self.sigma_0) and self.sigma_0 >= 0, "model.sigma_0", self.sigma_0,
               "use a finite init scale sigma_0 >= 0")
        _check(isinstance(self.shared, bool), "model.shared", self.shared, "use true or false")


def init(cfg: ContrastiveEncoders, run_keys: list[int], input_shape: tuple[int, ...],
         dtype: torch.dtype, out_dim: int = 1) -> dict[str, torch.Tensor]:
    """W (P, m, d) and, unless shared, W2 (P, m, d), N(0, sigma_0^2) from each run's "init" stream."""
    d = input_shape[-1]
    W, W2 = [], []
    for seed in run_keys:
        g = generator(seed, "init")
        W.append(cfg.sigma_0 * torch.randn(cfg.width, d, generator=g, dtype=torch.float64))
        W2.append(cfg.sigma_0 * torch.randn(cfg.width, d, generator=g, dtype=torch.float64))
    out = {"W": torch.stack(W).to(dtype)}
    if not cfg.shared:
        out["W2"] = torch.stack(W2).to(dtype)
    return out


def encoder_weights(cfg: ContrastiveEncoders, params: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, W2) of view 1 and view 2 (the same tensor twice when shared); any leading axes."""
    return params["W"], params["W"] if cfg.shared else params["W2"]


def _features(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """h(x) (N, m) of one view x (N, 2 patches, d) through W (m, d)."""
    return torch.relu(x @ W.T).sum(1)                                         # (N, m)


def apply(cfg: ContrastiveEncoders, params: dict[str, torch.Tensor], x: torch.Tensor,
          taps: bool = False):
    """Both views' features for one run: x (N, 2 views, 2 patches, d) -> f (N, 2, m)."""
    W, W2 = encoder_weights(cfg, params)
    h1, h2 = _features(W, x[:, 0]), _features(W2, x[:, 1])                    # (N, m) each
    f = torch.stack([h1, h2], 1)                                              # (N, 2, m)
    return (f, {"h1": h1, "h2": h2}) if taps else f


def param_groups(cfg: ContrastiveEncoders) -> dict[str, str]:
    """W (group "encoder") and, unless shared, W2 (group "encoder2")."""
    return {"W": "encoder"} if cfg.shared else {"W": "encoder", "W2": "encoder2"}


def n_params(cfg: ContrastiveEncoders, input_shape: tuple[int, ...]) -> int:
    """Entries of W (and W2): the memory estimate of one run."""
    return cfg.width * input_shape[-1] * (1 if cfg.shared else 2)


def check(setting) -> None:
    """ConfigError for strategies the contrastive loss cannot take: mixup (no soft labels for a
    pair) and minibatches (the negatives are the full batch's other-label samples)."""
    o = setting.optim
    if o.mixup_alpha > 0 or o.mixup_lambda > 0:
        name = "optim.mixup_alpha" if o.mixup_alpha > 0 else "optim.mixup_lambda"
        raise ConfigError(f"{name}={getattr(o, name.split('.')[1])!r} is invalid: contrastive "
                          f"pairs have no mixed labels; set it to 0")
    if o.batch_size > 0:
        raise ConfigError(f"optim.batch_size={o.batch_size!r} is invalid: the InfoNCE negatives "
                          f"are the full batch's other-label samples; set optim.batch_size=0")


def _family():
    from featlab.models.family import Family
    return Family(config=ContrastiveEncoders, init=init, apply=apply, param_groups=param_groups,
                  n_params=n_params, check=check, probes=("contrastive",))


FAMILY = _family()
