"""Where an export goes (`-o`, or the defaults) and writing it there.

- compose: `-o FILE.yaml` (or .yml) is the compose file, its Dockerfiles in folders beside it;
  `-o DIR` means DIR/compose.yaml. Without -o the compose file goes to stdout, written as if it
  sat in the stack folder, and its Dockerfiles are not written: they belong to
  `deploy/compose/`, where `-o deploy/compose` puts them.
- systemd: `-o DIR`, default `deploy/systemd/` in the stack folder.
- kubernetes: `-o DIR` (one file per service), or `-o FILE.yaml` (every manifest in one file);
  default `deploy/kubernetes/` in the stack folder.
A relative -o is taken from the current folder, as any path on a command line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import UsageError

COMPOSE_FILE = "compose.yaml"
_YAML = (".yaml", ".yml")


@dataclass(frozen=True)
class Place:
    folder: Path  # the folder the output's relative paths start from
    assets: Path  # where per-service files go (compose: Dockerfiles)
    single: Path | None  # the one file everything goes in, when there is one
    stdout: bool  # the single file goes to stdout; nothing is written
    cwd: Path  # where the command runs: messages show paths from here

    def shown(self, path: Path) -> str:
        return shown(path, self.cwd)


@dataclass(frozen=True)
class Output:
    path: Path  # absolute
    text: str
    mode: int = 0o644


def default_folder(root: Path, kind: str) -> Path:
    return root / "deploy" / kind


def place(kind: str, output: Path | None, cwd: Path, root: Path) -> Place:
    if output is None:
        if kind == "compose":
            return Place(root, default_folder(root, kind), root / COMPOSE_FILE, True, cwd)
        folder = default_folder(root, kind)
        return Place(folder, folder, None, False, cwd)
    target = Path(os.path.normpath(cwd / output))
    as_file = target.suffix in _YAML and not target.is_dir()
    if kind == "systemd":
        if target.is_file() or as_file:
            raise UsageError(f"-o {output}: systemd units go into a folder; name a folder, "
                             "e.g. -o deploy/systemd")
        return Place(target, target, None, False, cwd)
    if as_file:
        return Place(target.parent, target.parent, target, False, cwd)
    if target.is_file():
        raise UsageError(f"-o {output} is a file that is not YAML; name a folder, or a file ending in .yaml")
    single = target / COMPOSE_FILE if kind == "compose" else None
    return Place(target, target, single, False, cwd)


def relative(path: Path, start: Path) -> str:
    """`path` as written in a file that lives in `start` (./ for the folder itself)."""
    text = os.path.relpath(path, start)
    return text if text.startswith(".") else f"./{text}"


def shown(path: Path, cwd: Path) -> str:
    """A path for a message: relative to the current folder when inside it."""
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def write(outputs: Sequence[Output]) -> list[Path]:
    """Write every file (folders made as needed); UsageError naming the place that refused."""
    written = []
    for item in outputs:
        try:
            item.path.parent.mkdir(parents=True, exist_ok=True)
            item.path.write_text(item.text, encoding="utf-8")
            item.path.chmod(item.mode)
        except (FileExistsError, NotADirectoryError):
            blocker = next(p for p in item.path.parents if p.exists() and not p.is_dir())
            raise UsageError(f"cannot write {item.path}: {blocker} is a file, not a folder. "
                             "Name a folder you can write to with -o.") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            where = exc.filename or item.path
            raise UsageError(f"cannot write {where}: {reason[:1].lower() + reason[1:]}. "
                             "Name a folder you can write to with -o.") from None
        written.append(item.path)
    return written
