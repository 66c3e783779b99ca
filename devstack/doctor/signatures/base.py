"""What every signature table shares: the `Context` of the failed service, the `Signature` row,
and the helpers explanations use to show paths (relative to the stack folder, as stack.toml
spells them), find a neighbouring line, and name a port's holder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from devstack.text.places import shown

MAX_CHARS: Final = 300


@dataclass(frozen=True)
class Context:
    """What the supervisor knows about the failed service."""

    name: str
    cwd: Path  # absolute
    root: Path  # the stack folder: paths in explanations are shown relative to it
    venv: Path | None  # the service's venv, if any (absolute)
    port: int | None
    # "pid 123 (python x.py)" or None; injected so that tests need no real port.
    port_holder: Callable[[int], str | None]
    has_setup: bool = False  # the service has a `setup` command: "devstack setup NAME" fixes a missing build
    path: str | None = None  # the service's PATH: which `java`, `node`, `python` it ran
    # The service's variables, name -> where it is set ("apps/api/.env", "stack.toml", "the OS
    # environment", "devstack"): never a value. Tells a missing variable from one set elsewhere.
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The file a variable for this service would go in: its (first) env_file, else cwd/.env.
    env_file: Path | None = None
    # "pid 123 (postgres -D data)" for a live process, None when there is none by that pid;
    # injected like port_holder (Postgres names a pid in its lock file: is it alive, and what?).
    process: Callable[[int], str | None] = lambda pid: None


# The reason, or None: "not mine after all" (the next row, or an earlier line, is tried).
Explain = Callable[[re.Match[str], Context, list[str]], str | None]


@dataclass(frozen=True)
class Signature:
    """One known fatal line: `explain(match, ctx, lines)` turns it into the reason, or declines
    with None when a closer look says the line is not what the row is about (a Node SyntaxError
    for the Python row, a JavaScript error that a new enough Node raised for the too-old row).

    `lines` is the whole (cleaned) window the match came from, for signatures whose
    fix is on a neighbouring line (Postgres' HINT/DETAIL, Vite's "Local:" URL, Spring's
    "Description:" block); `index_of` finds the matched line in it.
    """

    name: str
    pattern: re.Pattern[str]
    explain: Explain


def stack_path(path: Path | str, root: Path) -> str:
    """A path as stack.toml would spell it: relative to the stack folder when inside it."""
    # Tools may print the resolved path (/private/tmp on macOS) of a symlinked root; "." is
    # the stack folder itself.
    return shown(path, root, root.resolve())


def place(path: Path, root: Path) -> str:
    """A folder as a sentence names it ("in apps/web", "in the stack folder")."""
    rel = stack_path(path, root)
    return "the stack folder" if rel == "." else rel


def index_of(match: re.Match[str], lines: list[str]) -> int:
    # diagnose() picks the last line that matches; any later line with the same text
    # would have matched too, so the matched line is the last one equal to it.
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == match.string:
            return i
    return len(lines)


def read_json(path: Path) -> dict[str, object] | None:
    """A JSON object file (package.json), read as read_head does; None when absent or not one."""
    text = read_head(path)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def holder_of(port: int, ctx: Context) -> str:
    return ctx.port_holder(port) or "another process"


def read_head(path: Path, limit: int = 256 * 1024) -> str | None:
    """The first `limit` bytes of a text file (None when unreadable): what a signature may read of
    the service's files, so that a diagnosis stays cheap whatever the file."""
    try:
        with path.open("rb") as f:
            return f.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def as_int(text: str | None) -> int | None:
    return int(text) if text else None


def port_in_use(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    port = as_int(match.groupdict().get("port")) or ctx.port
    if port is None:
        # Without a port devstack cannot ask who holds it.
        return (
            f"address already in use (set `port` for {ctx.name} in stack.toml "
            "so devstack can name the holder)"
        )
    return in_use(port, ctx)


def in_use(port: int, ctx: Context) -> str:
    """"port N is already in use by <its holder>", asked after the service died: when nobody
    listens any more, the holder is gone (and a start now would find the port free)."""
    holder = ctx.port_holder(port)
    if holder is None:
        return (f"port {port} was in use by a process that is gone by now (the port is free: start "
                f"{ctx.name} again)")
    return f"port {port} is already in use by {holder}"


def sig(name: str, pattern: str, explain: Explain) -> Signature:
    return Signature(name, re.compile(pattern), explain)
