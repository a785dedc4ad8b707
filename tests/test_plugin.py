"""Bring your own model: the README's plugin example trains as a population from the CLI and the
Python API; bad plugins and bad model inputs give one line naming the field and exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from featlab.cli import app
from featlab.plugins import load_plugin

README = Path(__file__).parents[1] / "README.md"
runner = CliRunner()
TINY = ["--set", "train.steps=15", "--set", "data.n=32", "--set", "data.n_test=64",
        "--grid", "model.width=8,16", "--seeds", "2", "--no-report"]


def _example(tmp_path: Path) -> Path:
    text = README.read_text()
    code = re.search(r"<!-- plugin-example -->\n```python\n(.*?)```", text, re.S).group(1)
    assert 20 <= len(code.strip().splitlines()) <= 40
    path = tmp_path / "my_models.py"
    path.write_text(code)
    return path


def test_plugin_example_trains_from_the_cli(tmp_path):
    plugin = _example(tmp_path)
    out = tmp_path / "res"
    res = runner.invoke(app, ["run", "mlp-width-sweep", "--plugin", str(plugin), "--set",
                              "model.kind=my_model", *TINY, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "trained 8/8 runs" in res.output
    from featlab.store import Store
    with Store(out, read_only=True) as store:
        sid = store.sweeps()["sweep_id"][0]
        t = store.table(sid)
        m = store.metrics(sid, ["train_loss"])
    assert (t["status"] == "done").all()
    first = m[m["step"] == 0].groupby("run_id")["value"].first()
    last = m.sort_values("step").groupby("run_id")["value"].last()
    assert np.all(last < first)                                              # every run learned
    res = runner.invoke(app, ["report", sid, "--plugin", str(plugin), "--out", str(out)])
    assert res.exit_code == 0, res.output


def test_plugin_example_trains_from_python(tmp_path):
    import featlab as fl

    assert load_plugin(_example(tmp_path)) == ["my_model"]
    out = fl.run_experiment("mlp-width-sweep", "quick", overrides={
        "model.kind": "my_model", "train.steps": 10, "data.n": 16, "data.n_test": 16},
        grid={"model.width": [4]}, seeds=1, out=tmp_path / "py", report=False)
    assert out.n_trained == 2


@pytest.mark.parametrize("body,expect", [
    (None, "no such Python file"),
    ("import no_such_module_xyz\n", "ModuleNotFoundError"),
    ("x = 1\n", "registers no model family"),
])
def test_bad_plugin_exits_2_with_one_line(tmp_path, body, expect):
    path = tmp_path / "bad.py"
    if body is not None:
        path.write_text(body)
    res = runner.invoke(app, ["run", "mlp-width-sweep", "--plugin", str(path), "--out",
                              str(tmp_path / "o")])
    assert res.exit_code == 2
    assert expect in res.output and "--plugin" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("key,field", [
    ("model.kind=no_such_model", "model.kind"), ("model.width=0", "model.width"),
    ("model.activation=gelu", "model.activation"),
])
def test_bad_model_input_exits_2_naming_the_field(tmp_path, key, field):
    res = runner.invoke(app, ["run", "mlp-width-sweep", "--set", key, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert field in res.output and "Traceback" not in res.output
    assert not (tmp_path / "featlab.duckdb").exists()                       # nothing stored


def test_mlp_too_wide_for_memory_exits_2(tmp_path):
    res = runner.invoke(app, ["run", "mlp-width-sweep", "--set", "model.width=10000000", "--out",
                              str(tmp_path)])
    assert res.exit_code == 2 and "model.width" in res.output, res.output
    assert not (tmp_path / "featlab.duckdb").exists()
