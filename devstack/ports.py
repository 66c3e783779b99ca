"""Who holds a TCP port: for status, pre-flight checks and failure reasons."""

from __future__ import annotations

from collections.abc import Callable

import psutil

from devstack.spawn import describe


def listeners(port: int, accepts: Callable[[str], bool] | None = None) -> list[psutil.Process]:
    """Processes listening on `port` (any address, IPv4 or IPv6; with `accepts`, only on the
    local addresses it accepts)."""
    pids = set()
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    for conn in connections:
        if (conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid
                and (accepts is None or accepts(conn.laddr.ip))):
            pids.add(conn.pid)
    procs = []
    for pid in sorted(pids):
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return procs


def port_holder(port: int) -> str | None:
    """'pid 123 (python serve.py)' for the process that listens on the port, None when it is free."""
    holders = listeners(port)
    return ", ".join(describe(p) for p in holders) if holders else None
