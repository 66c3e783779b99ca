"""Starting and stopping a service's processes: the `Spawner`/`Child` seam and its asyncio
implementation.

`Spawner.spawn()` starts a child in its own session (so a terminal's Ctrl-C reaches
devstack only, and the whole group can be signalled), with stdout and stderr on
separate pipes delivered as raw chunks to a callback (asyncio's subprocess protocol,
no StreamReader: no line-length limit, no per-line overhead). Every child carries an
environment tag naming the stack and service, so a process that escaped its group
(setsid) or outlived a killed supervisor can still be found and stopped; while the supervisor
lives, the subreaper (reaper.py) keeps even an untagged escaper among the child's processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import psutil

from devstack.errors import SpawnError
from devstack.process.reaper import Reaper
from devstack.process.tree import (
    TAG_VAR,
    Leftover,
    alive,
    command_of,
    group_members,
    send,
    tagged_processes,
)

OutputCallback = Callable[[str, bytes], None]  # (stream name, chunk); b"" at end of stream
PORT_WAIT = 1.0  # s a leftover is given to bind the service's port, so that the reason names it


class Child(Protocol):
    pid: int

    async def wait(self) -> int: ...

    async def drained(self, timeout: float) -> None: ...

    def signal_group(self, sig: int) -> None: ...

    async def stop(self, sig: int, timeout: float, sleep: Callable[[float], Awaitable[None]]) -> bool: ...

    def kill(self) -> None: ...

    def pids(self) -> set[int]:
        """Every live process the child is made of: its tree, and what was adopted for it."""
        ...

    async def left_behind(self, grace: float, sleep: Callable[[float], Awaitable[None]],
                          port: int | None = None) -> list[Leftover]:
        """After the main process exited: what it left running (after `grace` s for it to end by
        itself), the process listening on `port` first (waited for a little)."""
        ...


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
    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _Protocol, tag: str | None,
                 reaper: Reaper) -> None:
        self._transport = transport
        self._protocol = protocol
        self.pid: int = transport.get_pid()
        self.pgid = self.pid  # start_new_session: the child leads its own group
        self.tag = tag
        self._reaper = reaper

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

    def pids(self) -> set[int]:
        return self._reaper.family(self.pid)

    def _members(self) -> dict[int, psutil.Process]:
        """Everything that belongs to this child: its tree and what the subreaper adopted for it,
        its process group, and processes carrying its tag (escaped with setsid, or reparented
        after the leader died, where there is no subreaper)."""
        members = {}
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                members[pid] = psutil.Process(pid)
        members.update({p.pid: p for p in group_members(self.pgid)})
        if self.tag:
            members.update({p.pid: p for p in tagged_processes(self.tag, exact=True)})
        return members

    async def left_behind(self, grace: float, sleep: Callable[[float], Awaitable[None]],
                          port: int | None = None) -> list[Leftover]:
        deadline = time.monotonic() + grace
        while True:
            # An adopted process nothing else names, holding its port: the daemon it just left.
            self._reaper.claim_by_port(self.pid)
            left = self._still_running()
            if not left or time.monotonic() >= deadline:
                break
            await sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        # A daemon still starting may not hold the port yet: a little longer, to name the one that
        # does (the process the user will look for).
        deadline += PORT_WAIT
        while left and port is not None and port not in left[0].ports and time.monotonic() < deadline:
            await sleep(0.05)
            self._reaper.claim_by_port(self.pid)
            left = self._still_running() or left
        return left

    def _still_running(self) -> list[Leftover]:
        return _leftovers([p for p in alive(self._members().values()) if p.pid != self.pid])

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


def _leftovers(procs: list[psutil.Process]) -> list[Leftover]:
    """The processes as Leftovers, without the ones another of them started (a daemon's workers
    are its own business): those listening first, then the eldest."""
    pids = {p.pid for p in procs}
    found = []
    for proc in procs:
        try:
            if proc.ppid() in pids:
                continue
            ports = sorted({c.laddr.port for c in proc.net_connections(kind="tcp")
                            if c.status == psutil.CONN_LISTEN and c.laddr})
            started = proc.create_time()
        except (psutil.Error, OSError):
            continue
        found.append((not ports, started, Leftover(proc.pid, command_of(proc), tuple(ports))))
    return [leftover for *_key, leftover in sorted(found, key=lambda f: (f[0], f[1], f[2].pid))]


class AsyncioSpawner:
    def __init__(self, reaper: Reaper | None = None) -> None:
        self._reaper = reaper or Reaper()

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
        tag = env.get(TAG_VAR)
        self._reaper.started(transport.get_pid(), tag)
        return AsyncioChild(transport, protocol, tag, self._reaper)
