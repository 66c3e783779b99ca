"""Who holds a TCP port: for status, pre-flight checks and failure reasons."""

from __future__ import annotations

import os
from collections.abc import Callable

import psutil

from devstack.process.tree import describe


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


def listening_sockets(port: int) -> list[tuple[str, int]] | None:
    """(ip, socket inode) of every TCP socket listening on `port`, read from /proc/net/tcp and
    tcp6: a few hundred short lines, where psutil.net_connections() also maps every socket of
    the machine to its process (~12 ms a call; HTTP probes ask every interval). None where the
    files are missing (not Linux)."""
    found: list[tuple[str, int]] = []
    wanted = f":{port:04X}"
    read_any = False
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = _read_table(table).decode("ascii", "replace").splitlines()[1:]
        except OSError:
            continue
        read_any = True
        for line in lines:
            fields = line.split()
            # local_address rem_address st ... inode: st 0A is LISTEN
            if len(fields) < 10 or fields[3] != "0A" or not fields[1].endswith(wanted):
                continue
            found.append((_proc_ip(fields[1][:width]), int(fields[9])))
    return found if read_any else None


_TABLE_READ = 1 << 20


def _read_table(path: str) -> bytes:
    """A /proc/net table, read without the final empty read that detects end of file: that one
    walks the kernel's whole socket hash again (3 ms here, with a 2-line table). The kernel fills
    each read as far as the size asked allows, so a read that comes back well short is the end."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, _TABLE_READ)
            chunks.append(chunk)
            if len(chunk) < _TABLE_READ // 2:
                return b"".join(chunks)
    finally:
        os.close(fd)


def _proc_ip(hex_address: str) -> str:
    """/proc/net/tcp's address: 32-bit words in host byte order (little-endian here)."""
    import ipaddress
    import sys

    raw = bytes.fromhex(hex_address)
    words = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    if sys.byteorder == "little":
        words = [w[::-1] for w in words]
    return str(ipaddress.ip_address(b"".join(words)))


def socket_fds(pids: set[int]) -> dict[int, tuple[int, int]] | None:
    """inode → (pid, fd) of the sockets the processes hold open (one holder each); None when
    /proc cannot say (not Linux)."""
    held: dict[int, tuple[int, int]] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue  # gone meanwhile
        except OSError:
            return None
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                held[int(link[8:-1])] = (pid, int(fd))
    return held


def still_held(inode: int, pid: int, fd: int) -> bool:
    """Process `pid` still has socket `inode` open as `fd`: one readlink."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]"
    except OSError:
        return False


def port_holder(port: int) -> str | None:
    """'pid 123 (python serve.py)' for the process that listens on the port, None when it is free."""
    holders = listeners(port)
    return ", ".join(describe(p) for p in holders) if holders else None
