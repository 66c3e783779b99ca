"""Who holds a port, as the `port` pre-flight check needs it: a bind attempt says "free" in
microseconds; only a taken port is looked up in the socket tables, its holders named with their
command line, tag and the live supervisor of this stack they descend from.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack.config.specs import StackSpec
from devstack.control.paths import StatePaths
from devstack.process.ports import listeners, listening_sockets
from devstack.process.tree import TAG_VAR


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port, as far as devstack may see it."""

    pid: int | None  # None: the port is taken, but by a process we may not inspect
    name: str = ""
    cmdline: str = ""
    tag: str | None = None  # its tree.TAG_VAR: "<stack id>/<service>" for this stack's children
    supervisor: int | None = None  # pid of the live supervisor of this stack it descends from


PortOwner = Callable[[int], Sequence[PortHolder]]


def system_port_owner(stack: StackSpec) -> PortOwner:
    """The real `PortOwner`: psutil's view of listening sockets, and a bind attempt for
    sockets psutil cannot attribute (another user's process)."""

    def owner(port: int) -> list[PortHolder]:
        # This sits on the path to each service's first start. Binding both families says "free"
        # in ~50 us; the socket tables take ~3 ms to read here, psutil's scan of every process's
        # sockets ~12 ms: only for a port that is taken, to name who holds it.
        refused = _bind_refused(port)
        if refused is False:
            return []
        if listening_sockets(port) == []:
            return [PortHolder(None)] if refused else []  # taken, and by no listener we may see
        procs = listeners(port)
        if not procs:
            return [PortHolder(None)] if refused else []
        supervisor = _live_supervisor(stack.root)
        pids = {p.pid for p in procs}
        # A server's forked workers share its socket: name the one that owns them.
        return [_holder(p, supervisor) for p in procs if _ppid(p) not in pids]

    return owner


def _ppid(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


def _holder(proc: psutil.Process, supervisor: int | None) -> PortHolder:
    try:
        name, cmdline = proc.name(), " ".join(proc.cmdline())
    except psutil.Error:
        name, cmdline = "", ""
    try:
        tag = proc.environ().get(TAG_VAR)
    except (psutil.Error, OSError):
        tag = None
    try:
        ancestors = {parent.pid for parent in proc.parents()}
    except psutil.Error:
        ancestors = set()
    return PortHolder(proc.pid, name, cmdline, tag, supervisor if supervisor in ancestors else None)


def _live_supervisor(root: Path) -> int | None:
    """The pid of this stack's running supervisor, from the info file it writes."""
    try:
        pid = int(json.loads(StatePaths.of(root).info.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if psutil.pid_exists(pid) else None


def _bind_refused(port: int) -> bool | None:
    """Whether binding `port` fails with "address in use" on any address family; None when a
    bind fails otherwise (a privileged port, no IPv6), so that it cannot say "free"."""
    attempts: list[tuple[socket.AddressFamily, str]] = [(socket.AF_INET, "0.0.0.0")]
    unknown = False
    if socket.has_ipv6:
        attempts.append((socket.AF_INET6, "::"))
    for family, address in attempts:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                if sys.platform != "win32":
                    # As servers do: TIME_WAIT remnants of a stopped service do not count.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, 10048):  # 10048: WSAEADDRINUSE on Windows
                return True
            unknown = True
    return None if unknown else False
