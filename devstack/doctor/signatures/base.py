"""What every signature table shares: the `Context` of the failed service, the `Signature` row,
and the helpers explanations use to show paths (relative to the stack folder, as stack.toml
spells them), find a neighbouring line, and name a port's holder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


Explain = Callable[[re.Match[str], Context, list[str]], str]


@dataclass(frozen=True)
class Signature:
    """One known fatal line: `explain(match, ctx, lines)` turns it into the reason.

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


def holder_of(port: int, ctx: Context) -> str:
    return ctx.port_holder(port) or "another process"


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
    return f"port {port} is already in use by {holder_of(port, ctx)}"


def sig(name: str, pattern: str, explain: Explain) -> Signature:
    return Signature(name, re.compile(pattern), explain)
