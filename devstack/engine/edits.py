"""An edited stack file, as the running supervisor sees it: whether the file on disk still holds
what runs (`status` says when it does not), and the lines that say what `up` changed when it
applied the file again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from devstack.config.diff import StackChanges
from devstack.config.specs import StackSpec


def change_lines(stack: StackSpec, changes: StackChanges, was_running: set[str],
                 started: set[str]) -> list[str]:
    """One line per change `apply` made, in file order (removed services last)."""
    file = stack.source.name
    lines = []
    for name in stack.services:
        if name in changes.changed:
            keys = ", ".join(changes.changed[name])
            done = ("restarted with its new definition" if name in was_running
                    else "started" if name in started else "not running: takes effect at its next start")
            lines.append(f"{name}: changed ({keys}); {done}")
        elif name in changes.added:
            lines.append(f"{name}: new in {file}; " + ("started" if name in started else "not started"))
    for name in changes.removed:
        done = "stopped" if name in was_running else "was not running"
        lines.append(f"{name}: removed from {file}; {done}")
    return lines


class SourceFile:
    """Whether the stack file still holds what the supervisor read: a digest of its bytes, taken
    again only when its size or time changed (status asks at every call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stat: tuple[int, int] | None = None
        self._digest = self._read()
        self._read_digest = self._digest

    def _read(self) -> str | None:
        try:
            stat = self.path.stat()
            self._stat = (stat.st_mtime_ns, stat.st_size)
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def changed(self) -> bool:
        try:
            stat = self.path.stat()
        except OSError:
            return True  # removed or unreadable: not what runs
        if (stat.st_mtime_ns, stat.st_size) != self._stat:
            self._read_digest = self._read()
        return self._read_digest != self._digest
