"""Sweep files: the shipped examples run and write reports; every malformed file gives one
line naming the key, exit 2, and writes nothing; --dump-config round-trips the runs."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import featlab as fl
from featlab.cli import app
from featlab.experiments import experiments
from featlab.sweepfile import dump_sweep, load_sweep, parse_sweep

runner = CliRunner()
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))

GOOD = """
name = "tiny"
seeds = 2
[setting.data]
n = 8
d = 40
sigma_p = 0.5
n_test = 100
[setting.model]
m = 2
[setting.train]
steps = 10
log_points = 3
[grid]
"data.mu_norm" = [1.0, 3.0]
"optim.name,optim.lr" = [["gd", "adam"], [0.3, 0.01]]
[report]
metrics = ["test_error"]
[theory]
control = "n * snr^2"
"""


def test_examples_are_shipped():
    assert len(EXAMPLES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_writes_a_report(path, tmp_path):
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    sf = load_sweep(path)
    sweep_id = re.search(r"stored as sweep\s+(\S+)", res.output).group(1)
    assert sweep_id == f"{sf.name}-{sf.sweep.fingerprint()}"
    con = duckdb.connect(str(tmp_path / "featlab.duckdb"), read_only=True)
    n = con.execute("SELECT count(*) FROM runs WHERE sweep_id = ?", [sweep_id]).fetchone()[0]
    con.close()
    assert n == len(sf.sweep.runs())
    folder = tmp_path / "reports" / sweep_id
    html = (folder / "report.html").read_text()
    assert "data:image/png;base64" in html and "NO CHECK" in html
    for m in sf.report.metrics:                      # a heatmap (two axes) and a line plot each
        assert (folder / f"lines_{m}.png").stat().st_size > 1000
        assert (folder / f"heatmap_{m}.png").exists() == (len(sf.sweep.axes) >= 2)
    if sf.report.control:
        assert all((folder / f"collapse_{m}.png").exists() for m in sf.report.metrics)
    assert (folder / "dynamics.png").exists() == bool(sf.report.dynamics)
    again = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path), "--no-report"])
    assert again.exit_code == 0 and f"trained 0/{n} runs" in again.output      # resumes


def test_report_rebuilds_from_the_store_and_cells_are_seed_means(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(GOOD)
    res = runner.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    sweep_id = re.search(r"stored as sweep\s+(\S+)", res.output).group(1)
    res = runner.invoke(app, ["report", sweep_id, "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    with fl.Store(tmp_path / "r", read_only=True) as store:
        table = store.table(sweep_id, axes=["data.mu_norm", "optim.name"])
    html = (tmp_path / "r" / "reports" / sweep_id / "report.html").read_text()
    cell = table[(table["data.mu_norm"] == 3.0) & (table["optim.name"] == "adam")]["test_error"]
    assert len(cell) == 2
    assert f"{cell.mean():.4g}" in html                 # the per-cell table shows the seed mean


def _case(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BAD = [
    (_case("n = 8\n", "nn = 8\n"), "setting.data.nn", "valid keys of data: n, d"),
    (_case("n = 8\n", 'n = "eight"\n'), "data.n", "wrong type"),
    (_case("n = 8\n", "n = 8.5\n"), "data.n", "an integer"),
    (_case("n = 8\n", "n = 0\n"), "data.n", "n >= 1"),
    (_case('"data.mu_norm" = [1.0, 3.0]', '"data.mu_norm" = []'), "grid.data.mu_norm", "no values"),
    (_case('"data.mu_norm" = [1.0, 3.0]', '"data.mu_norm" = [1.0, "x"]'), "data.mu_norm", "wrong type"),
    (_case('[0.3, 0.01]', '[0.3]'), "optim.name,optim.lr", "unequal lengths"),
    (_case('"data.mu_norm" = [1.0, 3.0]', '"data.bogus" = [1]'), "grid", "unknown key 'data.bogus'"),
    (_case("seeds = 2", "seeds = 0"), "seeds", "integer >= 1"),
    (_case("seeds = 2", "sedes = 2"), "sedes", "valid top-level keys"),
    (_case('metrics = ["test_error"]', 'metrics = ["test_err"]'), "report.metrics", "test_error"),
    (_case('control = "n * snr^2"', 'control = "__import__(1)"'), "theory.control", "sqrt"),
    (_case('control = "n * snr^2"', 'control = "nn * snr^2"'), "theory.control", "'nn'"),
    (_case("[setting.model]", "[setting.model"), "not valid TOML", "line"),
    (_case("seeds = 2", 'seeds = 2\npreset = "quick"'), "preset", "needs experiment"),
    (_case("seeds = 2", 'seeds = 2\nexperiment = "nope"'), "experiment", "unknown experiment"),
    (_case('line = "x"' if 'line = "x"' in GOOD else "[report]", '[report]\nline = "data.d"'),
     "report.line", "grid axis"),
]


@pytest.mark.parametrize("text,key,fix", BAD, ids=[f"{k}:{f}" for _, k, f in BAD])
def test_malformed_file_one_line_exit_2_nothing_written(text, key, fix, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    out = tmp_path / "results"
    res = runner.invoke(app, ["sweep", str(f), "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: bad.toml"), res.output
    assert key in lines[0] and fix in lines[0], lines[0]
    assert not out.exists()


def test_zipped_axis_moves_fields_together():
    sweep = parse_sweep(GOOD, "tiny.toml").sweep
    runs = sweep.runs()
    assert len(runs) == 2 * 2 * 2
    assert {(r.setting.optim.name, r.setting.optim.lr) for r in runs} == {("gd", 0.3), ("adam", 0.01)}


def test_two_axes_that_set_one_field_are_refused():
    """A plain axis next to a zipped one that moves the same field would overwrite it in every
    run (e.g. --grid data.d=... against the zipped data.d,optim.lr of meng2024-xor-phase)."""
    from featlab.config import ConfigError, Setting
    from featlab.sweep import Sweep

    zipped = {"data.d,optim.lr": [(400, 1.0), (800, 0.5)]}
    assert len(Sweep(Setting(), zipped).runs()) == 2
    with pytest.raises(ConfigError, match=r"both set data\.d"):
        Sweep(Setting(), {**zipped, "data.d": [1600]})
    with pytest.raises(ConfigError, match=r"both set data\.d"):
        Sweep(Setting(), zipped).with_grid({"data.d": [1600]})
    with pytest.raises(ConfigError, match=r"both set optim\.lr"):
        Sweep(Setting(), {"optim.lr": [0.1], "optim.name,optim.lr": [("gd", 0.3)]})


def _dump(exp, preset):
    res = runner.invoke(app, ["run", exp.name, "--preset", preset, "--dump-config"])
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.parametrize("exp", experiments(), ids=lambda e: e.name)
def test_dump_config_round_trip_same_run_ids(exp, tmp_path):
    """Every built-in quick preset: the dumped file gives the same runs (config hashes)."""
    text = _dump(exp, "quick")
    want = [r.hash for r in exp.sweep("quick").runs()]
    got = parse_sweep(text, "dumped.toml")
    assert [r.hash for r in got.sweep.runs()] == want
    if got.experiment:                                       # an exact dump keeps the sweep id
        assert got.sweep.fingerprint() == exp.sweep("quick").fingerprint()


def test_dump_with_cli_grid_gives_typed_values_and_the_same_runs():
    args = ["run", "kou2023-phase", "--grid", "data.mu_norm=0,3", "--grid", "data.d=100,200",
            "--set", "train.steps=10"]
    text = runner.invoke(app, [*args, "--dump-config"]).stdout
    assert '"data.mu_norm" = [0.0, 3.0]' in text and '"data.d" = [100, 200]' in text
    from featlab.runner import prepare

    _, _, sweep = prepare("kou2023-phase", None, {"train.steps": "10"},
                          {"data.mu_norm": ["0", "3"], "data.d": ["100", "200"]})
    assert [r.hash for r in parse_sweep(text).sweep.runs()] == [r.hash for r in sweep.runs()]


def test_dumped_file_resumes_the_run_of_its_preset(tmp_path):
    """featlab run ... then featlab sweep dumped.toml: same sweep id, nothing retrained."""
    args = ["run", "signal-noise-dynamics", "--seeds", "1", "--set", "train.steps=10",
            "--set", "data.d=100", "--set", "data.n_test=100"]
    res = runner.invoke(app, [*args, "--no-report", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    dumped = runner.invoke(app, [*args, "--dump-config"])
    f = tmp_path / "study.toml"
    f.write_text(dumped.stdout)
    res2 = runner.invoke(app, ["sweep", str(f), "--no-report", "--out", str(tmp_path)])
    assert res2.exit_code == 0, res2.output
    assert "trained 0/2 runs" in res2.output
    sid = re.search(r"stored as sweep\s+(\S+)", res.output).group(1)
    assert re.search(r"stored as sweep\s+(\S+)", res2.output).group(1) == sid


def test_dump_of_a_derived_sweep_is_flattened_but_exact():
    exp = fl.get_experiment("han2025-label-noise-stages")
    sweep = exp.sweep("quick")
    text = dump_sweep(sweep, name="han", experiment=exp.name, preset="quick")
    got = parse_sweep(text, "han.toml")
    assert got.experiment is None and "zipped axis" in text
    assert [r.hash for r in got.sweep.runs()] == [r.hash for r in sweep.runs()]


_KIND_AXIS = """
name = "kinds"
seeds = 1

[setting.data]
kind = "gaussian_mixture"

[setting.model]
kind = "mlp"

[grid]
"data.kind,data.n" = [["gaussian_mixture", "digits"], [40, 50]]
"""


def test_zipped_axis_switches_the_data_kind():
    """A zipped axis may move between data models; each point's other fields are checked against
    its own kind's config, and a field the kind lacks is one clear error."""
    runs = parse_sweep(_KIND_AXIS, "kinds.toml").sweep.runs()
    assert [(r.setting.data.kind, r.setting.data.n) for r in runs] == [("gaussian_mixture", 40),
                                                                         ("digits", 50)]
    bad = _KIND_AXIS.replace('"data.kind,data.n" = [["gaussian_mixture", "digits"], [40, 50]]',
                             '"data.kind,data.n_classes" = [["gaussian_mixture", "digits"], [3, 3]]')
    with pytest.raises(fl.ConfigError, match="n_classes"):
        parse_sweep(bad, "kinds.toml")
    worse = _KIND_AXIS.replace('"digits"]', '"no_such_kind"]')
    with pytest.raises(fl.ConfigError, match="data.kind"):
        parse_sweep(worse, "kinds.toml")
