"""Where a Python module, or a file, of the stack's own code lives: bounded, breadth-first walks
of the service's folder and the stack's, skipping other people's code (venvs, node_modules) and
tool state, so that a diagnosis stays instant in a monorepo.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from devstack.doctor.signatures.base import Context

# Folders never searched for a service's code: they hold other people's code (venvs,
# node_modules, site-packages) or tool state, and can be huge.
_SKIP_DIRS: Final = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        "site-packages",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".devstack",
        ".idea",
        ".vscode",
        ".gradle",
        ".next",
        "target",
    }
)


# A bound on folders visited per walk, so a diagnosis stays instant in a monorepo.
_MAX_FOLDERS: Final = 4000


def _walk(top: Path, depth: int) -> Iterator[Path]:
    """`top` and the folders at most `depth` levels below it, nearest first.

    Breadth-first, so the first hit is the nearest; unreadable folders are passed over.
    """
    queue: deque[tuple[Path, int]] = deque([(top, 0)])
    visited = 0
    while queue and visited < _MAX_FOLDERS:
        folder, level = queue.popleft()
        visited += 1
        yield folder
        if level >= depth:
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            # A venv may have any name: pyvenv.cfg is what marks it.
            if (
                is_dir
                and entry.name not in _SKIP_DIRS
                and not os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
            ):
                queue.append((Path(entry.path), level + 1))


def _is_module(base: Path) -> bool:
    """`base` names an importable module: base.py, a package, or a namespace package."""
    if base.with_name(base.name + ".py").is_file():
        return True
    try:
        # A folder without __init__.py imports too (namespace package, common in FastAPI
        # layouts: app/main.py); it counts when it holds Python files, so that a "jwt"
        # folder of a frontend is not taken for Python code.
        return base.is_dir() and any(child.suffix == ".py" for child in base.iterdir())
    except OSError:
        return False


def module_homes(ctx: Context, module: str) -> list[Path]:
    """Folders from which `import module` would work: the cwd subtree first, then the stack's."""
    parts = module.split(".")
    homes: list[Path] = []
    for top, depth in ((ctx.cwd, 3), (ctx.root, 4)):
        for folder in _walk(top, depth):
            if folder not in homes and _is_module(folder.joinpath(*parts)):
                homes.append(folder)
    return homes


def file_homes(ctx: Context, relpath: str) -> list[Path]:
    """Folders that hold `relpath` (a file: "package.json", "server.js", "src/index.js"): the cwd
    subtree first, then the stack's, nearest first."""
    homes: list[Path] = []
    for top, depth in ((ctx.cwd, 3), (ctx.root, 4)):
        for folder in _walk(top, depth):
            if folder not in homes and (folder / relpath).is_file():
                homes.append(folder)
    return homes
