"""Provenance: where a result came from. The one place it is computed (the store records it
with every run, the HTML report shows it).

The git commit is that of the USER's working directory (the current directory, or ``cwd``):
the code that defines their study, not featlab's own checkout (featlab is usually installed
as a wheel). ``git_dirty`` says whether that tree had uncommitted changes; the store's
``runs.git_commit`` column holds ``<sha>`` or ``<sha>-dirty`` (``git describe --dirty``
style), None outside a git repository.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["provenance", "git_state", "commit_label"]


def _git(args: list[str], cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(cwd: str | None = None) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty?) of the git repository holding ``cwd`` (default: the current
    directory); (None, None) outside git."""
    cwd = str(Path(cwd or os.getcwd()).resolve())
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return commit, None if status is None else bool(status)


def commit_label(commit: str | None, dirty: bool | None) -> str | None:
    """``<sha>`` or ``<sha>-dirty``; None without a commit."""
    return None if commit is None else f"{commit}-dirty" if dirty else commit


def provenance(device: str | None = None, cwd: str | None = None) -> dict[str, Any]:
    """Command line, host, platform, Python / torch / featlab versions, device, and the git
    commit and dirty flag of the user's working directory, as a flat dict."""
    from featlab import __version__

    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    commit, dirty = git_state(cwd)
    return {
        "featlab_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "git_commit": commit_label(commit, dirty),
        "git_dirty": dirty,
        "git_cwd": str(Path(cwd or os.getcwd()).resolve()),
        "argv": " ".join(sys.argv),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
