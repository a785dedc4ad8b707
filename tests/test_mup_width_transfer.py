"""mup-width-transfer's optimum and drift: on planted loss curves the optimum per width, the edge
flag and the drift in grid steps come out as planted; a diverged run counts as an infinite loss.
The quick preset and its controls run in tests/test_falsify.py (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.experiments.mup_width_transfer import _drift, _rows, optima


def _planted(best: dict[str, dict[int, float]], diverge_above: float = 1.5) -> pd.DataFrame:
    rows = []
    for par, per_width in best.items():
        for w, k0 in per_width.items():
            for k in np.arange(-4.0, 3.0):
                for seed in (0, 1):
                    loss = np.inf if k > diverge_above else 0.1 + (k - k0) ** 2 + 0.01 * seed
                    rows.append({"model.parametrization": par, "model.width": w, "log2_lr": k,
                                 "seed": seed, "loss": loss})
    return pd.DataFrame(rows)


def test_optimum_edge_and_drift_as_planted():
    t = _planted({"mup": {32: -1, 128: -1, 512: 0}, "sp": {32: -1, 128: -2, 512: -4}})
    opt = optima(t)
    got = {(r["model.parametrization"], r["model.width"]): r["best_log2_lr"] for _, r in opt.iterrows()}
    assert got == {("mup", 32): -1, ("mup", 128): -1, ("mup", 512): 0,
                   ("sp", 32): -1, ("sp", 128): -2, ("sp", 512): -4}
    assert opt.set_index(["model.parametrization", "model.width"])["edge"].to_dict()[("sp", 512)]
    assert _drift(opt, "mup", 1.0) == 1 and _drift(opt, "sp", 1.0) == 3
    rows = {r["quantity"]: r for r in _rows(t, opt, "mup")}
    assert rows["premise: every optimal lr is inside the lr grid"]["status"] == "fail"   # sp at -4
    assert rows["muP: drift of the optimal log2 lr over widths (grid steps)"]["status"] == "pass"
    assert rows["SP: drift of the optimal log2 lr over widths (grid steps)"]["status"] == "pass"


def test_diverged_lrs_never_win():
    t = _planted({"mup": {32: 2, 512: 2}}, diverge_above=0.5)       # planted optimum diverges
    opt = optima(t)
    assert (opt["best_log2_lr"] == 0).all()                          # the largest finite lr
