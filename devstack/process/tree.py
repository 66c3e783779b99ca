"""Process trees: a process and its descendants, the env tag every child of a stack carries,
what /proc says of one process (its parent, session and start time), and signalling and
waiting for a set of processes.

The tag (`TAG_VAR`, "<stack id>/<service>") is how a process that left its tree (setsid, a
double fork, a supervisor killed without cleanup) is still known as a stack's; the subreaper
(reaper.py) keeps such processes in the tree while the supervisor lives, even untagged.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

TAG_VAR = "DEVSTACK_TAG"  # "<stack id>/<service>" in every child's environment


# --------------------------------------------------------------------------- one process


@dataclass(frozen=True)
class Stat:
    """What /proc/PID/stat says of a process that devstack needs."""

    state: str  # "R", "S", "Z" (a zombie), …
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks after boot: with the pid, names a process across pid reuse

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


@dataclass(frozen=True)
class Leftover:
    """A process a service's main process left running when it exited, as messages name it."""

    pid: int
    command: str
    ports: tuple[int, ...]  # the TCP ports it listens on


def stat(pid: int) -> Stat | None:
    """The process's /proc/PID/stat, None when it is gone (or not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name in parentheses may hold spaces and parentheses itself: split after the last.
    fields = raw[raw.rindex(b")") + 2:].split()
    try:
        return Stat(fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def tag_of(proc: psutil.Process) -> str | None:
    """The process's devstack tag (None: untagged, gone, or not ours to read)."""
    try:
        return proc.environ().get(TAG_VAR)
    except (psutil.Error, OSError):
        return None


def raw_tag(pid: int) -> str | None:
    """The tag read straight from /proc/PID/environ (no psutil object): None when untagged,
    gone, or not Linux."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return None
    needle = f"{TAG_VAR}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(needle):
            return entry[len(needle):].decode(errors="replace")
    return None


def describe(proc: psutil.Process) -> str:
    """'pid 123 (python serve.py 8000)' for messages."""
    return f"pid {proc.pid} ({command_of(proc)})"


def command_of(proc: psutil.Process, limit: int = 100) -> str:
    """The process's command line as one string, cut to `limit` characters; "?" when gone."""
    try:
        cmd = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        cmd = "?"
    if len(cmd) > limit:
        cmd = cmd[: limit - 3] + "..."
    return cmd


# --------------------------------------------------------------------------- finding processes


def tagged_processes(prefix: str, exact: bool = False) -> list[psutil.Process]:
    """Live processes whose environment tag starts with `prefix` (e.g. "<stack id>/"), or with
    `exact`, is `prefix` (one service's tag: "<id>/web" must not find "<id>/web2")."""
    if not os.path.isdir("/proc/self"):
        return _tagged_by_psutil(prefix, exact)
    # Every service exit sweeps for escapers, so this is on the restart path: raw reads of
    # /proc/*/environ and a substring test are ~3× cheaper than psutil's parsed environ().
    needle = b"\0" + f"{TAG_VAR}={prefix}".encode() + (b"\0" if exact else b"")
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = b"\0" + f.read()
        except OSError:  # gone, or another user's
            continue
        if needle in (environ + b"\0" if exact else environ):
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(int(name)))
    return found


def _tagged_by_psutil(prefix: str, exact: bool) -> list[psutil.Process]:
    me = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        tag = tag_of(proc)
        if tag is not None and (tag == prefix if exact else tag.startswith(prefix)):
            found.append(proc)
    return found


def tree(pid: int) -> list[psutil.Process]:
    """The process and its descendants, as far as they are alive."""
    try:
        root = psutil.Process(pid)
        pids = _descendant_pids(pid)
        if pids is None:
            return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    procs = [root]
    for child in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(child))
    return procs


def tree_pids(pid: int) -> set[int]:
    """The pids of the process and its descendants (no psutil object per process: the impostor
    check asks at every probe)."""
    pids = _descendant_pids(pid)
    if pids is None:
        return {p.pid for p in tree(pid)}
    return {pid, *pids} if os.path.exists(f"/proc/{pid}") else set(pids)


def children_of(tid: int) -> list[int] | None:
    """The children of one thread (a process's main thread has the process's pid as its tid):
    /proc/TID/task/TID/children. None where the kernel does not offer the file."""
    # A raw read: the supervisor asks every few seconds while idle, and a buffered file object costs
    # four more system calls (fstat twice, the tty check, a seek) and most of the time.
    try:
        fd = os.open(f"/proc/{tid}/task/{tid}/children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return [int(kid) for kid in b"".join(chunks).split()]
    except OSError:
        return None
    finally:
        os.close(fd)


def _descendant_pids(pid: int) -> list[int] | None:
    """Descendants from Linux's /proc/PID/task/TID/children: a walk of the tree alone, where
    psutil's children() reads every process of the machine (2 ms a call; `status` asks per
    service). None where the kernel does not offer the file (no CONFIG_PROC_CHILDREN)."""
    if not _HAS_PROC_CHILDREN:
        return None
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # gone meanwhile
        for tid in tasks:  # a child belongs to the thread that forked it
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    kids = [int(kid) for kid in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


_HAS_PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


# --------------------------------------------------------------------------- signalling, waiting


def alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
    return out


def send(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            proc.send_signal(sig)


def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited, at most `timeout` s; returns the ones still alive.

    A zombie counts as gone: it holds no port, pipe or memory, and it may stay a zombie for
    seconds when its parent is a lazy init (containers) that devstack cannot make reap it.
    """
    procs = list(procs)
    deadline = time.monotonic() + timeout
    step = 0.005
    while True:
        left = alive(procs)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(step)
        step = min(step * 1.5, 0.05)
