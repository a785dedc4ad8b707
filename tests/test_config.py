"""Configs validate at construction; dotted overrides are parsed against the field types."""

from __future__ import annotations

import math

import pytest

import featlab as fl
from featlab.config import ConfigError


@pytest.mark.parametrize("key,value,needle", [
    ("data.n", 0, "data.n"), ("data.d", 1, "data.d"), ("model.m", 0, "model.m"),
    ("data.sigma_p", 0.0, "data.sigma_p"), ("data.sigma_p", -1.0, "data.sigma_p"),
    ("data.mu_norm", -0.1, "data.mu_norm"), ("optim.lr", 0.0, "optim.lr"),
    ("optim.lr", -1.0, "optim.lr"), ("optim.lr", math.inf, "optim.lr"), ("optim.lr", math.nan, "optim.lr"),
    ("data.flip_p", 0.5, "data.flip_p"), ("data.flip_p", -0.1, "data.flip_p"),
    ("model.q", 0.5, "model.q"), ("train.steps", 0, "train.steps"),
    ("model.activation", "tanh", "model.activation"),
])
def test_bad_values_name_the_parameter(key, value, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        fl.override(fl.Setting(), {key: value})


@pytest.mark.parametrize("text,needle", [("nan", "finite"), ("inf", "finite"), ("abc", "number")])
def test_string_floats_are_checked(text, needle):
    with pytest.raises(ConfigError, match=needle):
        fl.override(fl.Setting(), {"optim.lr": text})


def test_override_parses_types():
    s = fl.override(fl.Setting(), {"data.n": "40", "model.q": "3", "data.flip_test": "true",
                                   "model.activation": "relu_q", "data.snr": "none"})
    assert s.data.n == 40 and isinstance(s.data.n, int)
    assert s.model.q == 3.0 and isinstance(s.model.q, float)
    assert s.data.flip_test is True and s.model.activation == "relu_q" and s.data.snr is None


def test_wrong_type_and_unknown_keys():
    with pytest.raises(ConfigError, match="data.n.*integer"):
        fl.override(fl.Setting(), {"data.n": "2.5"})
    with pytest.raises(ConfigError, match="unknown key 'nn'.*valid keys"):
        fl.override(fl.Setting(), {"data.nn": 3})
    with pytest.raises(ConfigError, match="unknown section"):
        fl.override(fl.Setting(), {"dat.n": 3})


def test_snr_sets_mu_norm():
    s = fl.SignalNoiseData(d=400, sigma_p=0.5, snr=0.1)
    assert s.mu_norm == pytest.approx(0.1 * 0.5 * 20)
    assert s.snr_value == pytest.approx(0.1)


def test_configs_are_frozen_and_hash_is_stable():
    s = fl.Setting()
    with pytest.raises(Exception):
        s.data.n = 3  # type: ignore[misc]
    assert fl.config_hash(s, 0) == fl.config_hash(fl.Setting(), 0)
    assert fl.config_hash(s, 0) != fl.config_hash(s, 1)
    assert fl.config_hash(s, 0) != fl.config_hash(fl.override(s, {"data.n": 21}), 0)


def test_sweep_validates_grid_eagerly():
    with pytest.raises(ConfigError, match="data.n"):
        fl.Sweep(fl.Setting(), {"data.n": [10, 0]})
    sw = fl.Sweep(fl.Setting(), {"data.n": [10, 20], "data.d": [50]}, seeds=3)
    assert len(sw.runs()) == 6
    pinned = sw.with_overrides({"data.n": 15})
    assert pinned.axes == ["data.d"] and pinned.setting.data.n == 15


def test_setting_round_trips_through_its_dict_for_every_data_model():
    """A stored spec rebuilds the same Setting (and run hash) for every registered data kind,
    which is what `featlab report` relies on."""
    import featlab.data  # noqa: F401  (registers every data model)
    import featlab.models  # noqa: F401  (registers every model family)
    from featlab.config import DATA_KINDS, MODEL_KINDS, config_hash, setting_from_dict, to_dict

    assert len(DATA_KINDS) >= 4
    for kind, cls in DATA_KINDS.items():
        est = "gaussian" if kind == "signal_noise" else "sample"
        layout = getattr(cls, "INPUT", "patches")               # the first model taking that layout
        model = next(m() for m in MODEL_KINDS.values() if getattr(m, "INPUT", "patches") == layout)
        s = fl.Setting(data=cls(), model=model, train=fl.TrainConfig(test_estimator=est))
        back = setting_from_dict(to_dict(s))
        assert back == s and config_hash(back, 3) == config_hash(s, 3), kind
    snr = fl.Setting(data=fl.SignalNoiseData(snr=0.1, d=400))
    assert setting_from_dict(to_dict(snr)) == snr


def test_other_data_models_need_the_sample_test_estimator():
    import featlab.data  # noqa: F401
    from featlab.config import DATA_KINDS

    other = next(cls for kind, cls in DATA_KINDS.items() if kind != "signal_noise")
    with pytest.raises(fl.ConfigError, match="train.test_estimator"):
        fl.Setting(data=other())
