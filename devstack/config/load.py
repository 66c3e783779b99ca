"""The stack a command runs in: -f/--file, --procfile, or the nearest stack file up, read by the
loader its kind needs (stackfile.py for stack.toml, procfile.py for a Procfile).
"""

from __future__ import annotations

from pathlib import Path

from devstack.config.locate import PROCFILE, STACK_FILE, named_stack_file, nearest_stack_file
from devstack.config.procfile import load_procfile
from devstack.config.specs import StackSpec
from devstack.config.stackfile import display_path, load_stack
from devstack.errors import ConfigError, Problem, UsageError

NOTHING_FOUND = (
    "no stack.toml or Procfile here or in any parent folder; create one, or name it with -f/--file"
)


def find_stack(start: Path, file: Path | None = None, procfile: Path | None = None) -> StackSpec:
    """The stack for a command run in `start`: -f/--file, --procfile, or the nearest stack file up.

    Relative `file` and `procfile` are taken from `start`; a folder as `file` means the stack.toml
    in it. Walking up, each folder is asked for a
    stack.toml first and then a Procfile, so the nearest folder with either wins (like git).
    """
    if file is not None and procfile is not None:
        raise UsageError("use either -f/--file or --procfile, not both")
    if procfile is not None:
        return load_procfile(_named(start, procfile, "--procfile"))
    if file is not None:
        path = _named(start, named_stack_file(start, file), "-f/--file (or DEVSTACK_FILE)")
        # honcho users write `-f Procfile.dev`; a file named like a Procfile is read as one
        if path.name == PROCFILE or path.name.startswith(PROCFILE + "."):
            return load_procfile(path)
        return load_stack(path)
    found = nearest_stack_file(start)
    if found is None:
        raise ConfigError([Problem(str(start), "", NOTHING_FOUND)])
    return load_stack(found) if found.name == STACK_FILE else load_procfile(found)


def _named(start: Path, given: Path, option: str) -> Path:
    path = start / given
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        raise ConfigError([Problem(display_path(path), "", f"{what}; check the {option} path")])
    return path
