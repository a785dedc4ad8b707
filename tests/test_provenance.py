"""One provenance function: the user's git state (not featlab's), recorded with every run and
shown in the report."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import featlab as fl
from featlab.provenance import provenance
from featlab.runner import run_sweep
from tests.conftest import small_setting


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


@pytest.fixture
def user_repo(tmp_path):
    repo = tmp_path / "study"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "study.toml").write_text("name = 'a'\n")
    _git(repo, "add", "study.toml")
    _git(repo, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    return repo, head


def test_records_the_users_commit_and_dirty_flag(user_repo, monkeypatch):
    repo, head = user_repo
    monkeypatch.chdir(repo)
    p = provenance("cpu")
    assert p["git_commit"] == head and p["git_dirty"] is False
    assert p["featlab_version"] == fl.__version__ and p["device"] == "cpu"
    assert p["host"] == socket.gethostname() and p["argv"] == " ".join(sys.argv)
    (repo / "study.toml").write_text("name = 'b'\n")            # uncommitted change
    p = provenance("cpu")
    assert p["git_commit"] == f"{head}-dirty" and p["git_dirty"] is True


def test_outside_git_no_commit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = provenance()
    assert p["git_commit"] is None and p["git_dirty"] is None


def test_store_and_report_use_it(user_repo, monkeypatch, tmp_path):
    repo, head = user_repo
    monkeypatch.chdir(repo)
    sweep = fl.Sweep(small_setting(**{"train__steps": 5}), {"data.mu_norm": [1.0]}, seeds=1)
    with fl.Store(tmp_path / "r") as store:
        store.begin_sweep("s", experiment="x", preset="p", paper="", claim="", spec=sweep.spec(), n_runs=1)
        run_sweep(store, "s", sweep)
        assert store.sql("SELECT git_commit FROM runs")["git_commit"].tolist() == [head]
    from featlab.report import write_report

    html = write_report(tmp_path / "r.html", title="t", paper="p", claim="c", settings={},
                        check={}).read_text()
    assert head in html and socket.gethostname() in html
