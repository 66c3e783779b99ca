"""Files the tests write: text (dedented, so a test can indent it with its code) and scripts."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write(path: Path, text: str, mode: int | None = None) -> Path:
    """`text`, dedented and without its leading newlines, at `path` (folders made); `mode` if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    if mode is not None:
        path.chmod(mode)
    return path


def make_executable(path: Path, body: str = "exit 0") -> Path:
    """A /bin/sh script running `body`, executable by everyone."""
    return write(path, f"#!/bin/sh\n{body}\n", 0o755)
