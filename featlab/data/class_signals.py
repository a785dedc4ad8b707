r"""Two-patch data with one signal vector per class (Han, Huang, Cao, Zou 2025, Def. 2.1).

Han, Huang, Cao, Zou, "On the Feature Learning in Diffusion Models", ICLR 2025, arXiv 2412.01021.
For each sample x = [x^{(1)}, x^{(2)}] \in R^{2 \times d} with y ~ Unif{+1, -1}:

- the signal patch is x^{(1)} = \mu_y, with two orthogonal signal vectors of equal norm
  \mu_{+1} = \|\mu\| e_1 and \mu_{-1} = \|\mu\| e_2 (the paper: \mu_1 \perp \mu_{-1},
  \|\mu_1\| = \|\mu_{-1}\| = \|\mu\|; our choice of the e_1, e_2 plane);
- the noise patch is x^{(2)} = \xi ~ N(0, \sigma_p^2 (I - \Pi)), \Pi the projection onto
  span{e_1, e_2} (noise orthogonal to both signals: our choice, as in Cao et al. 2022).

Unlike :mod:`featlab.data.signal_noise` ([y \mu, \xi], one shared \mu), each class has its own
signal: a denoiser (which never sees y) then learns both \mu_{+1} and \mu_{-1} from half of the
samples each, while y\mu of the shared-signal model averages to ~0 over balanced labels in the
denoiser's first-order drift (the x_0 term of the DDPM gradient is linear in x_0).

SNR = \|\mu\| / (\sigma_p \sqrt d); ``n_snr2`` (if given) sets \|\mu\| = \sigma_p
\sqrt{n_snr2 \cdot d / n}, so the sweep variable n SNR^2 is exact. ``signal="none"`` puts a zero
signal patch into the inputs while \mu (which the probes measure alignment with) keeps its norm
(a negative control: nothing to learn about \mu). ``shuffle_labels`` permutes the training
labels (a negative control for the classifier). Draws come from the run's own streams ("data"
for train, "test" for test; :mod:`featlab.rng`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _check_choice, _finite, register_data
from featlab.rng import generator

__all__ = ["ClassSignalData", "sample_run", "signal_vectors"]


@register_data
@dataclass(frozen=True)
class ClassSignalData:
    r"""x = [\mu_y, \xi]: \mu_{+1} = \|\mu\| e_1, \mu_{-1} = \|\mu\| e_2, \xi ~ N(0, \sigma_p^2
    (I - \Pi_{e_1, e_2})) (:mod:`featlab.data.class_signals`)."""

    n: int = 20
    d: int = 400
    mu_norm: float = 1.0
    n_snr2: float | None = None
    sigma_p: float = 1.0
    signal: Literal["class", "none"] = "class"
    shuffle_labels: bool = False
    flip_p: float = 0.0
    flip_test: bool = False
    n_test: int = 100
    kind: Literal["class_signals"] = "class_signals"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "mu_norm", "n_snr2", "sigma_p", "signal", "shuffle_labels"})

    def __post_init__(self) -> None:
        _check(isinstance(self.n, int) and self.n >= 2, "data.n", self.n, "use an integer n >= 2")
        _check(isinstance(self.d, int) and self.d >= 3, "data.d", self.d,
               "use an integer d >= 3 (two signal directions and noise)")
        _check(_finite(self.sigma_p) and self.sigma_p > 0, "data.sigma_p", self.sigma_p,
               "use a finite sigma_p > 0")
        if self.n_snr2 is not None:
            _check(_finite(self.n_snr2) and self.n_snr2 >= 0, "data.n_snr2", self.n_snr2,
                   "use a finite n SNR^2 >= 0")
            object.__setattr__(self, "mu_norm",
                               float(self.sigma_p * math.sqrt(self.n_snr2 * self.d / self.n)))
        _check(_finite(self.mu_norm) and self.mu_norm >= 0, "data.mu_norm", self.mu_norm,
               "use a finite ||mu|| >= 0")
        _check_choice("data.signal", self.signal, ("class", "none"))
        _check(self.flip_p == 0.0, "data.flip_p", self.flip_p,
               "this data model has no label flips; use data.shuffle_labels for a control")
        _check(isinstance(self.n_test, int) and self.n_test >= 1, "data.n_test", self.n_test,
               "use an integer n_test >= 1")

    @property
    def input_shape(self) -> tuple[int, int]:
        """Two patches of dimension d."""
        return (2, self.d)

    @property
    def snr_value(self) -> float:
        """SNR = ||mu|| / (sigma_p sqrt(d))."""
        return self.mu_norm / (self.sigma_p * math.sqrt(self.d))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ("mu_pos", "mu_neg")

    @property
    def group_names(self) -> tuple[str, ...]:
        return ()


def signal_vectors(cfg: ClassSignalData, dtype: torch.dtype) -> torch.Tensor:
    """mu (2, d): rows mu_{+1} = ||mu|| e_1 and mu_{-1} = ||mu|| e_2."""
    mu = torch.zeros(2, cfg.d, dtype=dtype)
    mu[0, 0] = mu[1, 1] = cfg.mu_norm
    return mu


def sample_run(cfg: ClassSignalData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's ``n`` samples: X (n, 2, d), y, y_clean (n,), signal_patch (n,) = 0, mu (2, d),
    mu_class (2,) = (+1, -1), noise_idx (n, 1) = 1."""
    g = generator(seed, "data" if split == "train" else "test")
    mu = signal_vectors(cfg, dtype)
    y_clean = torch.randint(0, 2, (n,), generator=g).to(dtype) * 2 - 1      # (n,)
    xi = torch.randn(n, cfg.d, generator=g, dtype=dtype) * cfg.sigma_p      # (n, d)
    xi[:, :2] = 0                                                           # (I - Pi) xi
    signal = torch.where(y_clean[:, None] > 0, mu[0], mu[1])                # (n, d) mu_y
    if cfg.signal == "none":
        signal = torch.zeros_like(signal)
    X = torch.stack([signal, xi], dim=1)                                    # (n, 2, d)
    y = y_clean
    if cfg.shuffle_labels and split == "train":
        y = y_clean[torch.randperm(n, generator=g)]
    return {"X": X, "y": y, "y_clean": y_clean, "signal_patch": torch.zeros(n, dtype=torch.long),
            "mu": mu, "mu_class": torch.tensor([1.0, -1.0], dtype=dtype),
            "noise_idx": torch.ones(n, 1, dtype=torch.long)}
