"""Which file describes the stack a command runs in: the nearest stack.toml or Procfile, found
the way git finds its repository. Kept apart from the loaders so that `status`'s fast path finds
the stack without importing them.
"""

from __future__ import annotations

from pathlib import Path

STACK_FILE = "stack.toml"
PROCFILE = "Procfile"


def nearest_stack_file(start: Path) -> Path | None:
    """The stack.toml or Procfile of the nearest folder up from `start` that has either (a
    stack.toml wins within one folder), like git finds its repository."""
    for folder in [start.absolute(), *start.absolute().parents]:
        for name in (STACK_FILE, PROCFILE):
            if (folder / name).is_file():
                return folder / name
    return None
