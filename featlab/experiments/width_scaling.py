r"""Width exponents measured from a width sweep: the shared part of abc-table and coord-check.

A quantity q (a per-run metric) is measured at widths N_1 < ... < N_K for every seed; its width
exponent is the least-squares slope of log q on log N, fitted per seed,

    \hat s_{seed} = \mathrm{slope}(\log N_k, \log q_{k, seed}),   s = \mathrm{mean}_{seed} \hat s,
    \mathrm{SE}(s) = \mathrm{sd}_{seed}(\hat s) / \sqrt{\#seeds},

so q = \Theta(N^{s}). A slope is NaN when q is not finite and positive at every width (a frozen
layer, a diverged run). :class:`WidthSweep` refuses a sweep without at least two widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from featlab.config import ConfigError
from featlab.sweep import Sweep

__all__ = ["WidthSweep", "width_slopes"]


@dataclass(frozen=True)
class WidthSweep(Sweep):
    """A :class:`~featlab.sweep.Sweep` whose grid varies ``model.width`` over >= 2 values."""

    def __post_init__(self) -> None:
        super().__post_init__()
        widths = set(dict(self.grid).get("model.width", ()))
        if len(widths) < 2:
            shown = sorted(widths) if widths else [self.setting.model.width]
            raise ConfigError(f"model.width={shown!r} is invalid: a width exponent needs >= 2 "
                              f"widths; use --grid model.width=64,128,256 (not --set model.width)")


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or not np.all(np.isfinite(y)) or np.any(y <= 0):
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def width_slopes(df: pd.DataFrame, value: str, by: list[str], width: str = "model.width") -> pd.DataFrame:
    """One row per group ``by``: slope (mean over seeds), se, seeds (module docstring).

    ``df`` has one row per (group, seed, width) with the column ``value``."""
    rows = []
    for key, g in df.groupby(by + ["seed"], dropna=False, sort=True):
        rows.append((*key, _slope(g[width].to_numpy(float), g[value].to_numpy(float))))
    per = pd.DataFrame(rows, columns=[*by, "seed", "s"])
    agg = per.groupby(by, dropna=False)["s"].agg(
        slope=lambda s: float(s.mean()) if s.notna().all() else float("nan"),
        se=lambda s: float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 and s.notna().all()
        else float("nan"),
        seeds="count")
    return agg.reset_index()
