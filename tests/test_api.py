"""The public API is what __all__ says, and the registries resolve."""

from __future__ import annotations

import importlib

import pytest

import featlab as fl


def test_public_api_imports():
    for name in fl.__all__:
        assert hasattr(fl, name), name
    for mod in ("featlab.config", "featlab.data", "featlab.models", "featlab.optim", "featlab.train",
                "featlab.diagnostics", "featlab.theory.signal_noise", "featlab.store",
                "featlab.plots", "featlab.report", "featlab.experiments", "featlab.cli",
                "featlab.bench", "featlab.probes", "featlab.plugins", "featlab.train.engine",
                "featlab.train.generic", "featlab.train.tasks", "featlab.train.vmapped",
                "featlab.models.family", "featlab.models.mlp", "featlab.shards", "featlab.executors",
                "featlab.slurm"):
        m = importlib.import_module(mod)
        for name in getattr(m, "__all__", []):
            assert hasattr(m, name), f"{mod}.{name}"


def test_every_experiment_states_paper_claim_presets():
    exps = fl.experiments()
    assert {e.name for e in exps} >= {"kou2023-phase", "cao2022-phase", "signal-noise-dynamics"}
    for e in exps:
        assert e.paper and e.claim and e.figure and "quick" in e.presets
        for preset in e.presets:
            assert len(e.sweep(preset).runs()) >= 1
    assert len(fl.get_experiment("kou2023-phase").sweep("official").runs()) == 100_000


def test_unknown_names_raise_config_errors():
    with pytest.raises(fl.ConfigError, match="unknown experiment"):
        fl.get_experiment("nope")
    with pytest.raises(fl.ConfigError, match="unknown preset"):
        fl.get_experiment("kou2023-phase").sweep("nope")


def test_run_that_cannot_fit_in_memory_is_a_config_error_before_training(tmp_path):
    """A CNN run whose data alone exceed half the machine's memory would fail to allocate mid-sweep;
    run_sweep refuses it up front (the CLI path, exit 2, is in test_cli's BAD list)."""
    sweep = fl.Sweep(fl.override(fl.Setting(), {"data.d": 10**9}), {}, seeds=1)
    with fl.Store(tmp_path) as store:
        store.begin_sweep("huge", experiment="x", preset="x", paper="", claim="", spec=sweep.spec(), n_runs=1)
        with pytest.raises(fl.ConfigError, match=r"data\.d=1000000000 .* GiB"):
            fl.run_sweep(store, "huge", sweep)
        assert store.done_hashes("huge") == set()
    fits = fl.Sweep(fl.override(fl.Setting(), {"data.d": 200}), {}, seeds=1)
    from featlab.train.population import check_fits
    check_fits(fits.runs())                                   # an ordinary run passes


def test_submodules_import_by_dotted_name_and_the_packages_stay_callable():
    import featlab.experiments.kou2023_phase as kou  # a plain `import a.b.c as m` of a submodule
    import featlab.train.tasks as tasks

    assert kou.EXPERIMENT.name == "kou2023-phase" and "binary" in tasks.TASKS
    assert callable(fl.train) and fl.train.Results is fl.Results
    assert [e.name for e in fl.experiments()] == [e.name for e in fl.experiments.experiments()]
