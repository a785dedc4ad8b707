"""Notebook niceties: train(progress=True), HTML reprs of Results and Store, Results.to_xarray."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import rich

import featlab as fl
from tests.conftest import small_setting


@pytest.fixture(scope="module")
def sweep():
    return fl.Sweep(small_setting(**{"train__steps": 12}),
                    {"data.mu_norm": [1.0, 3.0], "optim.name,optim.lr": [("gd", 0.3), ("adam", 0.01)]},
                    seeds=2)


@pytest.fixture(scope="module")
def results(sweep):
    return fl.train(sweep)


def test_progress_bar_in_a_terminal_same_numbers(sweep, results):
    buf = io.StringIO()
    rich.reconfigure(file=buf, force_terminal=True, width=120)
    try:
        res = fl.train(sweep, progress=True)
    finally:
        rich.reconfigure()
    out = buf.getvalue()
    assert "8/8" in out and "runs/s" in out and "ETA" in out
    pd.testing.assert_frame_equal(res.final, results.final)


def test_progress_bar_in_jupyter(sweep):
    pytest.importorskip("IPython", reason="IPython is not installed (rich renders Jupyter output through it)")
    pytest.importorskip("ipywidgets", reason="ipywidgets is not installed (rich's live Jupyter display)")
    rich.reconfigure(force_jupyter=True)
    try:
        res = fl.train(sweep, progress=True)
    finally:
        rich.reconfigure()
    assert len(res.final) == 8


def test_results_html_repr(results):
    html = results._repr_html_()
    assert "8 runs" in html and "8 done" in html and "data.mu_norm" in html
    cell = results.final[(results.final["data.mu_norm"] == 3.0)
                         & (results.final["optim.name,optim.lr"] == ("adam", 0.01))]["test_error"]
    assert f"{cell.mean():.4g}" in html                     # the seed mean of one grid point


def test_store_html_repr(tmp_path, sweep):
    with fl.Store(tmp_path) as store:
        assert "0 sweeps" in store._repr_html_()
        store.begin_sweep("s-1", experiment="e", preset="p", paper="", claim="", spec={}, n_runs=1)
        html = store._repr_html_()
    assert "1 sweeps" in html and "s-1" in html and str(tmp_path) in html


def test_to_xarray_grid_axes_are_dimensions(results):
    pytest.importorskip("xarray", reason="xarray is an optional extra (pip install 'featlab[xarray]')")
    ds = results.to_xarray()
    assert dict(ds.sizes) == {"data.mu_norm": 2, "optim.name,optim.lr": 2, "seed": 2}
    f = results.final
    row = f[(f["data.mu_norm"] == 1.0) & (f["optim.name,optim.lr"] == ("gd", 0.3)) & (f["seed"] == 1)]
    got = ds["test_error"].sel({"data.mu_norm": 1.0, "optim.name,optim.lr": "gd, 0.3", "seed": 1})
    assert float(got) == float(row["test_error"].iloc[0])
    logged = results.to_xarray(logged=True)
    assert set(logged.sizes) == {"data.mu_norm", "optim.name,optim.lr", "seed", "step"}
    steps = logged["train_loss"].sel({"data.mu_norm": 1.0, "optim.name,optim.lr": "gd, 0.3", "seed": 1})
    assert np.isfinite(steps.values).all() and steps.values[-1] < steps.values[0]
