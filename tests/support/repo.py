"""The repository the tests run from: its folder and the files git tracks (or would track)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def git_files() -> list[str]:
    """The repository's files as git lists them (tracked, and untracked but not ignored), relative
    to REPO; skips the test outside a git checkout."""
    done = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in done.stdout.splitlines() if name and (REPO / name).is_file()]
