"""What the fault tests read to judge devstack: the machine itself, never devstack's own account
(/proc: command lines, environments, zombies, RSS, open fds; the stack's lock; the side logs the
helper programs write), and devstack's account through the control socket, sampled in the
background to time a fault."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.control import client
from devstack.control.paths import StatePaths
from devstack.engine.background import SUPERVISOR_NAME
from devstack.errors import DevstackError
from tests.support.harness import TEST_TAG, Stack

# --------------------------------------------------------------------------- the helpers' side logs


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


def side_events(path: Path, name: str | None = None, event: str | None = None) -> list[SideEvent]:
    """The events of the side log at `path` (see programs.SIDE), of `name` and `event` if given."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split(" ", 5)
        if len(parts) < 5:
            continue
        e = SideEvent(parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4]),
                      parts[5].strip() if len(parts) > 5 else "")
        if (name is None or e.name == name) and (event is None or e.event == event):
            found.append(e)
    return found


# --------------------------------------------------------------------------- /proc


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


def tagged_pids(tag: str, pids: list[int] | None = None, also: bytes | None = None) -> list[int]:
    """Live processes (of `pids`, else all) whose environment carries the test's tag, and the
    variable `also` (b"NAME=value") when given: every process a test's devstack started."""
    needle = f"{TEST_TAG}={tag}".encode()
    found = []
    for pid in pids if pids is not None else [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ and (also is None or also in environ) and alive(pid):
            found.append(pid)
    return found


def rss_kb(pid: int) -> int:
    """Resident memory (VmRSS); OSError once the process is gone."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    """rss_kb in MB, 0.0 once the process is gone."""
    with contextlib.suppress(OSError):
        return rss_kb(pid) / 1024
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


# --------------------------------------------------------------------------- devstack's own files


def record_time(head: bytes) -> float:
    """The POSIX time of a log record's timestamp (`2026-11-26T05:39:45.123456Z`)."""
    return datetime.fromisoformat(head.decode().replace("Z", "+00:00")).timestamp()


def devstack_texts(stack: Stack) -> str:
    """devstack's own event log and the detached supervisor's stdout/stderr."""
    state = stack.root / ".devstack"
    text = ""
    for path in (state / "logs" / "devstack.log", state / "supervisor.out"):
        text += path.read_text(errors="replace") if path.exists() else ""
    return text


def no_traceback(stack: Stack) -> None:
    text = devstack_texts(stack)
    assert "Traceback" not in text, text[-3000:]


# --------------------------------------------------------------------------- the control socket


def control(stack: Stack, verb: str, timeout: float = 10.0, **args: Any) -> Any:
    return client.call(StatePaths.of(stack.root).socket, verb, io_timeout=timeout, **args)


def states(data: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["state"] for s in data["services"]}


def supervisor_pid(stack: Stack) -> int:
    return int(control(stack, "ping")["pid"])


def status_or_none(stack: Stack) -> tuple[float, dict[str, Any] | None]:
    """(monotonic time the request was sent, the status) or None while no supervisor answers."""
    t = time.monotonic()
    try:
        return t, control(stack, "status", timeout=5)
    except (DevstackError, OSError, ValueError):
        return t, None


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

    def statuses(self, after: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        """With `status_or_none` as the sample: the answered statuses sent at `after` or later."""
        return [(t, d) for t, d in list(self.results) if d is not None and t >= after]
