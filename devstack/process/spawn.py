"""Starting, signalling and measuring OS processes: the one home of process side effects.

`Spawner.spawn()` starts a child in its own session (so a terminal's Ctrl-C reaches
devstack only, and the whole group can be signalled), with stdout and stderr on
separate pipes delivered as raw chunks to a callback (asyncio's subprocess protocol,
no StreamReader: no line-length limit, no per-line overhead). Every child carries an
environment tag naming the stack and service, so a process that escaped its group
(setsid) or outlived a killed supervisor can still be found and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from devstack.errors import SpawnError

TAG_VAR = "DEVSTACK_TAG"  # "<stack id>/<service>" in every child's environment

OutputCallback = Callable[[str, bytes], None]  # (stream name, chunk); b"" at end of stream


def install_child_watcher() -> None:
    """Wait for children on pidfds in the (running) event loop. Python 3.11's default waits for
    each child on a thread of its own: 100 services make 100 threads (memory, start-up), and
    every exit hops threads before the loop hears of it. 3.12+ picks pidfds by itself."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel before 5.3, or a sandbox that forbids the call
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)


class Child(Protocol):
    pid: int

    async def wait(self) -> int: ...

    async def drained(self, timeout: float) -> None: ...

    def signal_group(self, sig: int) -> None: ...

    async def stop(self, sig: int, timeout: float, sleep: Callable[[float], Awaitable[None]]) -> bool: ...

    def kill(self) -> None: ...


class Spawner(Protocol):
    async def spawn(self, argv: list[str], cwd: Path, env: Mapping[str, str],
                    on_output: OutputCallback) -> Child: ...


# Shell syntax after which `exec` would change the meaning of a command string.
_COMPOUND = re.compile(r"[;&|()`\n]|^\s*([A-Za-z_][A-Za-z0-9_]*=|(if|for|while|until|case|cd|export|"
                       r"source|set|trap|exec|\.|\{|!)(\s|$))")


# A word the shell would pass on unchanged: no quotes, variables, globs, ~ or redirections.
_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
# Builtins with no program of the same name: only a shell can run them.
_SHELL_ONLY = frozenset({"alias", "bg", "break", "command", "continue", "eval", "exit", "fg", "getopts",
                         "hash", "jobs", "local", "read", "readonly", "return", "shift", "times", "type",
                         "ulimit", "umask", "unalias", "unset", "wait"})


def shell_argv(command: str | tuple[str, ...]) -> list[str]:
    """argv for a command: a string runs through /bin/sh -c, an array is exec'd as is.

    A string of plain words (`npm run dev`, `sleep 100`) is exec'd directly: the shell would
    only split it at spaces, and skipping it saves an exec per start (100 services, 100 shells).
    Any other simple command string gets `exec` in front, so that the service's pid is the
    program itself, not a shell waiting for it (Debian's dash does not do that by itself):
    signals, CPU figures and "kill the pid" then mean what users expect.
    """
    if isinstance(command, str):
        simple = not _COMPOUND.search(command)
        words = command.split()
        if (simple and words and "=" not in words[0] and words[0] not in _SHELL_ONLY
                and all(_PLAIN_WORD.fullmatch(word) for word in words)):
            return words
        return ["/bin/sh", "-c", f"exec {command}" if simple else command]
    return list(command)


class _Protocol(asyncio.SubprocessProtocol):
    """Passes pipe chunks straight to the callback and records when each pipe and the process end."""

    def __init__(self, on_output: OutputCallback) -> None:
        self._on_output = on_output
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        chunk = data.encode() if isinstance(data, str) else data
        self._on_output("stdout" if fd == 1 else "stderr", chunk)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd in self._open:
            self._open.discard(fd)
            self._on_output("stdout" if fd == 1 else "stderr", b"")
            if not self._open and not self.closed.done():
                self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class AsyncioChild:
    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _Protocol, tag: str | None) -> None:
        self._transport = transport
        self._protocol = protocol
        self.pid: int = transport.get_pid()
        self.pgid = self.pid  # start_new_session: the child leads its own group
        self.tag = tag

    async def wait(self) -> int:
        await self._protocol.exited
        code = self._transport.get_returncode()
        return code if code is not None else -1

    async def drained(self, timeout: float) -> None:
        """Wait until both pipes reached EOF, at most `timeout` s: an escaped grandchild may hold them."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._protocol.closed), timeout)
        if not self._protocol.closed.done():
            self._transport.close()

    def _members(self) -> dict[int, psutil.Process]:
        """Everything that belongs to this child: its tree, its process group, and processes
        carrying its tag (escaped with setsid, or reparented after the leader died)."""
        members = {p.pid: p for p in [*tree(self.pid), *group_members(self.pgid)]}
        if self.tag:
            members.update({p.pid: p for p in tagged_processes(self.tag)})
        return members

    async def stop(self, sig: int, timeout: float, sleep: Callable[[float], Awaitable[None]]) -> bool:
        """`sig` to the whole tree; after `timeout` s, SIGKILL to whatever is left.
        Returns True when the SIGKILL was needed."""
        members = self._members()
        self.signal_group(sig)
        send(members.values(), sig)
        # A real deadline: summing the steps slept would overshoot by every check's own cost.
        deadline, step = time.monotonic() + timeout, 0.01
        while alive(members.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill(members.values())
                return True
            await sleep(min(step, left))
            step = min(step * 1.5, 0.1)
        return False

    def kill(self, known: Iterable[psutil.Process] = ()) -> None:
        """SIGKILL, at once, everything that belongs to the child."""
        victims = self._members()
        victims.update({p.pid: p for p in known})
        self.signal_group(signal.SIGKILL)
        send(alive(victims.values()), signal.SIGKILL)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)
        # The leader itself, in case it moved to another group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._transport.get_returncode() is None:
                os.kill(self.pid, sig)


class AsyncioSpawner:
    async def spawn(self, argv: list[str], cwd: Path, env: Mapping[str, str],
                    on_output: OutputCallback) -> AsyncioChild:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(on_output), *argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                cwd=str(cwd), env=dict(env), start_new_session=True)
        except FileNotFoundError as exc:
            missing = exc.filename or argv[0]
            if not cwd.is_dir():
                raise SpawnError(f"the folder {cwd} does not exist") from None
            raise SpawnError(f"command not found: {missing}") from None
        except PermissionError as exc:
            raise SpawnError(f"permission denied: {exc.filename or argv[0]}") from None
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno or 0, "error")
            raise SpawnError(f"could not start {argv[0]}: {exc.strerror or reason}") from None
        return AsyncioChild(transport, protocol, env.get(TAG_VAR))


# --------------------------------------------------------------------------- process trees


def tag_of(proc: psutil.Process) -> str | None:
    """The process's devstack tag (None: untagged, gone, or not ours to read)."""
    try:
        return proc.environ().get(TAG_VAR)
    except (psutil.Error, OSError):
        return None


def tagged_processes(prefix: str) -> list[psutil.Process]:
    """Live processes whose environment tag starts with `prefix` (e.g. "<stack id>/")."""
    if not os.path.isdir("/proc/self"):
        return _tagged_by_psutil(prefix)
    # Every service exit sweeps for escapers, so this is on the restart path: raw reads of
    # /proc/*/environ and a substring test are ~3× cheaper than psutil's parsed environ().
    needle = b"\0" + f"{TAG_VAR}={prefix}".encode()
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
        if needle in environ:
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(int(name)))
    return found


def _tagged_by_psutil(prefix: str) -> list[psutil.Process]:
    me = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        tag = tag_of(proc)
        if tag is not None and tag.startswith(prefix):
            found.append(proc)
    return found


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


def stop_leftovers(tag_prefix: str, say: Callable[[str], None]) -> None:
    """Stop processes that a previous supervisor of this stack started and left behind
    (it was killed without cleanup): found by the env tag every child carries."""
    leftovers = tagged_processes(tag_prefix)
    if not leftovers:
        return
    names = ", ".join(describe(p) for p in leftovers[:5])
    more = f" and {len(leftovers) - 5} more" if len(leftovers) > 5 else ""
    say(f"stopping {len(leftovers)} leftover process{'es' * (len(leftovers) != 1)} "
        f"of an earlier run: {names}{more}")
    send(leftovers, signal.SIGTERM)
    left = wait_gone(leftovers, 3.0)
    send(left, signal.SIGKILL)
    wait_gone(left, 2.0)


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


def describe(proc: psutil.Process) -> str:
    """'pid 123 (python serve.py 8000)' for messages."""
    try:
        cmd = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        cmd = "?"
    if len(cmd) > 100:
        cmd = cmd[:97] + "..."
    return f"pid {proc.pid} ({cmd})"


@dataclass
class Usage:
    cpu_percent: float = 0.0
    memory_rss: int = 0


class UsageMeter:
    """CPU and memory of a process tree; psutil needs the same Process objects across calls for CPU%."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def measure(self, pid: int | None) -> Usage:
        if pid is None:
            self._procs.clear()
            return Usage()
        current = {}
        for proc in tree(pid):
            current[proc.pid] = self._procs.get(proc.pid, proc)
        self._procs = current
        usage = Usage()
        for proc in current.values():
            with contextlib.suppress(psutil.Error):
                usage.cpu_percent += proc.cpu_percent(None)
                usage.memory_rss += proc.memory_info().rss
        usage.cpu_percent = round(usage.cpu_percent, 1)
        return usage

