"""What the fault tests read from the machine itself, never from devstack's own account: /proc
(command lines, zombies, RSS, open fds), the stack's lock, and the control socket as a client.
Shared by the fault test files."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.control import client
from devstack.control.paths import StatePaths
from devstack.engine.background import SUPERVISOR_NAME
from tests.support.harness import Stack


@dataclass
class SideEvent:
    """One line of a helper program's side log: its own account of a start, bind or exit."""

    name: str
    event: str
    pid: int
    mono_ns: int
    wall_ns: int
    detail: str

    @property
    def t(self) -> float:
        return self.mono_ns / 1e9


class Poller(threading.Thread):
    """Calls `sample()` every `interval` s on its own thread until stopped; keeps the results."""

    def __init__(self, sample: Callable[[], Any], interval: float) -> None:
        super().__init__(daemon=True)
        self._sample = sample
        self._interval = interval
        self._stop_event = threading.Event()
        self.results: list[Any] = []
        self.errors: list[str] = []

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.results.append(self._sample())
            except Exception as exc:  # recorded, and the test decides what an error means
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop_event.wait(self._interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def pctl(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def comm(pid: int) -> str:
    """The process's name (what `ps -o comm` shows)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().rstrip("\n")
    except OSError:
        return ""


def is_background_supervisor(pid: int) -> bool:
    """A supervisor of `up -d` (a fork of the CLI, named so: its command line is the CLI's)."""
    return comm(pid) == SUPERVISOR_NAME


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie (nobody reaped it yet) counts as dead."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return raw[raw.rindex(b")") + 2:].split()[0] not in (b"Z", b"X")


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def lock_is_free(root: Path) -> bool:
    """Nobody holds the stack's supervisor lock (flock, as devstack takes it)."""
    path = StatePaths.of(root).lock
    if not path.exists():
        return True
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def control(stack: Stack, verb: str, timeout: float = 10.0, **args: Any) -> Any:
    return client.call(StatePaths.of(stack.root).socket, verb, io_timeout=timeout, **args)


def states(data: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["state"] for s in data["services"]}


def supervisor_pid(stack: Stack) -> int:
    return int(control(stack, "ping")["pid"])
