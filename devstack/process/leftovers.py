"""What an earlier supervisor of this stack left behind when it was killed without cleanup, found
and stopped before the next one claims ports (and by `down` after a supervisor is gone).

Two ways to find them: the env tag every child carries, and the record of adopted processes the
supervisor keeps in .devstack/run/ (reaper.py writes it): a process that cleared its environment
(`env -i`) carries no tag, and once the supervisor is dead it is nobody's descendant either; its
pid with its start time (so that a reused pid is never taken for it) is all that names it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack.process.tree import describe, send, stat, tagged_processes, tree, wait_gone


@dataclass(frozen=True)
class Recorded:
    """One adopted process as the record names it."""

    pid: int
    start: int  # clock ticks after boot (/proc/PID/stat): the same pid with another start is not it
    tag: str  # the service it was counted in, or "" when it was the stack's but no one service's


def write_record(path: Path, entries: Iterable[Recorded]) -> None:
    """Replace the record (atomically: a supervisor killed mid-write leaves the old one whole)."""
    text = "".join(f"{e.pid} {e.start} {e.tag}\n" for e in entries)
    temporary = path.with_name(path.name + ".new")
    with contextlib.suppress(OSError):
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, path)


def read_record(path: Path) -> list[Recorded]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            found.append(Recorded(int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return found


def recorded_alive(path: Path) -> list[psutil.Process]:
    """The recorded processes that still run: same pid, same start time, not a zombie."""
    procs = []
    for entry in read_record(path):
        now = stat(entry.pid)
        if now is None or now.start != entry.start or now.zombie:
            continue
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(entry.pid))
    return procs


def stop_leftovers(tag_prefix: str, say: Callable[[str], None], record: Path | None = None) -> None:
    """Stop processes that a previous supervisor of this stack started and left behind (it was
    killed without cleanup): the tagged ones, the ones its record names, and their descendants
    (an untagged child of a tagged leftover would otherwise outlive its parent)."""
    found = {p.pid: p for p in tagged_processes(tag_prefix)}
    if record is not None:
        found.update({p.pid: p for p in recorded_alive(record)})
    for proc in list(found.values()):
        found.update({p.pid: p for p in tree(proc.pid)})
    found.pop(os.getpid(), None)
    leftovers = list(found.values())
    if leftovers:
        names = ", ".join(describe(p) for p in leftovers[:5])
        more = f" and {len(leftovers) - 5} more" if len(leftovers) > 5 else ""
        say(f"stopping {len(leftovers)} leftover process{'es' * (len(leftovers) != 1)} "
            f"of an earlier run: {names}{more}")
        send(leftovers, signal.SIGTERM)
        left = wait_gone(leftovers, 3.0)
        send(left, signal.SIGKILL)
        wait_gone(left, 2.0)
    if record is not None:
        with contextlib.suppress(OSError):
            record.unlink()
