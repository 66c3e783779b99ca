"""Fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working folder, so that problems name the file as "stack.toml" or "Procfile"."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
