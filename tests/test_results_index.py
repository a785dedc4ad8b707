"""The results index: rebuilt after each run and report, and checked in a real headless browser
(Debian's chromium + chromedriver): no console errors, every link resolves, every figure has a
non-empty natural size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from featlab.cli import app
from tests import _browser

runner = CliRunner()
TINY = """
name = "{name}"
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
"data.n" = [6, 10]
[report]
metrics = ["test_error"]
dynamics = ["train_loss"]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two sweep-file sweeps with reports and one built-in sweep stored without a report."""
    out = tmp_path_factory.mktemp("results")
    for name in ("study-a", "study-b"):
        f = out.parent / f"{name}.toml"
        f.write_text(TINY.format(name=name))
        res = runner.invoke(app, ["sweep", str(f), "--out", str(out)])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["run", "kou2023-phase", "--grid", "data.mu_norm=0,3", "--grid",
                              "data.d=100", "--seeds", "1", "--set", "train.steps=10",
                              "--set", "data.n_test=100", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_index_lists_every_sweep_with_verdict_and_link(results):
    page = (results / "index.html").read_text()
    rows = re.findall(r"<tr><td><code>(.*?)</code>", page)
    assert len(rows) == 3 and any(r.startswith("kou2023-phase-quick-") for r in rows)
    assert page.count(">report</a>") == 3 and page.count("no check") == 2
    assert ("PASS" in page) != ("FAIL" in page)            # the kou sweep has a verdict
    for href in re.findall(r'href="(reports/[^"]+)"', page):
        assert (results / href).is_file()


def test_index_rebuilt_after_report(results):
    before = (results / "index.html").stat().st_mtime_ns
    sweep_id = re.search(r"<code>(study-a-[0-9a-f]{8})</code>", (results / "index.html").read_text()).group(1)
    res = runner.invoke(app, ["report", sweep_id, "--out", str(results)])
    assert res.exit_code == 0, res.output
    assert (results / "index.html").stat().st_mtime_ns > before


_IMAGES = """return Array.from(document.images).map(i => [i.currentSrc.slice(0, 60), i.complete,
                                                         i.naturalWidth, i.naturalHeight]);"""
_LINKS = "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);"


def _wait_loaded(b):
    for _ in range(100):
        if b.js("return document.readyState") == "complete":
            return
    raise AssertionError("page did not finish loading")


@pytest.mark.skipif(_browser.find() is None,
                    reason="chromium and chromedriver not installed (apt-get install -y chromium "
                           "chromium-driver)")
def test_index_in_a_headless_browser(results):
    with _browser.Browser() as b:
        b.get((results / "index.html").as_uri())
        _wait_loaded(b)
        assert b.js("return document.title").startswith("featlab results")
        images = b.js(_IMAGES)
        assert len(images) == 3 and all(ok and w > 0 and h > 0 for _, ok, w, h in images), images
        links = sorted(set(b.js(_LINKS)))
        errors = [e for e in b.console() if e.get("level") == "SEVERE"]
        assert not errors, errors
        reports = [u for u in links if u.endswith("report.html")]
        assert len(reports) == 3
        for url in reports:
            b.get(url)
            _wait_loaded(b)
            assert b.js("return document.URL") == url                  # no chrome-error:// page
            assert b.js("return document.querySelector('header h1') !== null")
            imgs = b.js(_IMAGES)
            assert imgs and all(ok and w > 0 and h > 0 for _, ok, w, h in imgs), (url, imgs)
            errors = [e for e in b.console() if e.get("level") == "SEVERE"]
            assert not errors, (url, errors)
