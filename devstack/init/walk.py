"""The repository walk: every folder `devstack init` looks in, and the ones it skips, with why.

Skipped by name: installed dependencies, version control, build output and caches, whose files
(a package.json in every node_modules package, application.properties copied into target/)
would be mistaken for services. Skipped by content: a virtualenv (a folder holding pyvenv.cfg),
whatever its name. Symbolic links to folders are not followed (no loops, no walking out of the
repository). A skipped folder is never entered; its top level is only glanced at, so that one
holding a file a detector reads (a build/ folder that is really an app) can be named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SKIPPED_NAMES = {
    "node_modules": "installed JavaScript packages",
    ".git": "git's own data",
    "target": "build output",
    "build": "build output",
    "dist": "build output",
    "__pycache__": "Python bytecode",
    ".devstack": "devstack's own state",
    ".gradle": "Gradle's cache",
    ".mypy_cache": "a cache",
    ".pytest_cache": "a cache",
    ".ruff_cache": "a cache",
    ".tox": "tox's environments",
    ".nox": "nox's environments",
}
VENV_MARKER = "pyvenv.cfg"
# The files some detector reads first: a skipped folder holding one may hide a service.
MARKERS = frozenset({
    "package.json", "pom.xml", "build.gradle", "build.gradle.kts", "requirements.txt", "pyproject.toml",
    "manage.py", "compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml",
})  # fmt: skip


@dataclass(frozen=True)
class Skipped:
    path: str  # relative to the root, "/"-separated
    why: str
    holds: str | None  # a marker file at its top level, if any


@dataclass(frozen=True)
class Tree:
    root: Path
    files: dict[str, tuple[str, ...]]  # folder ("." for the root) → its file names, sorted
    skipped: tuple[Skipped, ...]
    unreadable: tuple[str, ...]  # folders that could not be listed

    def folders(self) -> list[str]:
        return sorted(self.files, key=lambda f: (f != ".", f))

    def has(self, folder: str, name: str) -> bool:
        return name in self.files.get(folder, ())


def join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def parent(folder: str) -> str | None:
    if folder == ".":
        return None
    return folder.rsplit("/", 1)[0] if "/" in folder else "."


def _list(path: Path) -> tuple[list[str], list[str]]:
    """(file names, folder names) in `path`; folder symlinks count as neither."""
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.name)
                elif entry.is_file():
                    files.append(entry.name)
            except OSError:  # vanished or unreadable entry: nothing to learn from it
                continue
    return sorted(files), sorted(dirs)


def _why_skipped(path: Path, name: str) -> str | None:
    if name in SKIPPED_NAMES:
        return SKIPPED_NAMES[name]
    if (path / VENV_MARKER).is_file():
        return "a virtualenv"
    return None


def _marker_in(path: Path) -> str | None:
    try:
        files, _ = _list(path)
    except OSError:
        return None
    return next((name for name in files if name in MARKERS), None)


def walk(root: Path) -> Tree:
    """Every folder under `root` worth looking in, in a stable order."""
    files: dict[str, tuple[str, ...]] = {}
    skipped: list[Skipped] = []
    unreadable: list[str] = []
    pending = ["."]
    while pending:
        folder = pending.pop()
        path = root if folder == "." else root / folder
        try:
            names, dirs = _list(path)
        except OSError:
            unreadable.append(folder)
            continue
        files[folder] = tuple(names)
        for name in reversed(dirs):
            rel = join(folder, name)
            why = _why_skipped(path / name, name)
            if why is None:
                pending.append(rel)
            else:
                holds = None if why == "a virtualenv" else _marker_in(path / name)
                skipped.append(Skipped(rel, why, holds))
    return Tree(root, files, tuple(sorted(skipped, key=lambda s: s.path)), tuple(sorted(unreadable)))
