"""Which file describes the stack a command runs in: the one `-f/--file` (or `DEVSTACK_FILE`)
names, else the nearest stack.toml or Procfile, found the way git finds its repository. Kept
apart from the loaders so that `status`'s fast path finds the stack without importing them.
"""

from __future__ import annotations

from pathlib import Path

STACK_FILE = "stack.toml"
PROCFILE = "Procfile"
FILE_VAR = "DEVSTACK_FILE"  # the same as -f/--file; -f wins


def nearest_stack_file(start: Path) -> Path | None:
    """The stack.toml or Procfile of the nearest folder up from `start` that has either (a
    stack.toml wins within one folder), like git finds its repository."""
    for folder in [start.absolute(), *start.absolute().parents]:
        found = stack_file_in(folder)
        if found is not None:
            return found
    return None


def stack_file_in(folder: Path) -> Path | None:
    """The stack.toml of `folder`, else its Procfile, else None."""
    for name in (STACK_FILE, PROCFILE):
        if (folder / name).is_file():
            return folder / name
    return None


def named_stack_file(start: Path, given: Path) -> Path:
    """The file `-f GIVEN` means, taken from `start` when relative: a folder means the stack.toml
    in it (or, without one, its Procfile), as `docker compose -f` users expect of a project
    folder. The path is returned whether it exists or not: the loader says what is wrong."""
    path = start / given
    if path.is_dir():
        return stack_file_in(path) or path / STACK_FILE
    return path
