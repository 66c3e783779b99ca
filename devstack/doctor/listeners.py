"""Who really answers a probe: the listening sockets of a service's process tree versus the
address its probe dials. Two failures the probe alone cannot explain:

- an impostor: the probe passes, but the port is held by a process that is not the service
  (a leftover of the last run, another project), so "healthy" would be a lie;
- a mismatch: the probe fails while the service listens, only on another port or address family
  (`127.0.0.1:8001` while the probe dials `[::1]:8001`).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable

import psutil

from devstack.probes.addresses import show
from devstack.probes.target import Target
from devstack.process.ports import listeners, listening_sockets, socket_fds, still_held
from devstack.process.tree import describe, tag_of


def _listening(procs: Iterable[psutil.Process]) -> list[tuple[str, int]]:
    found = []
    for proc in procs:
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.Error, OSError):
            continue
        found += [(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN and c.laddr]
    return sorted(set(found))


def tree_listeners(pids: Iterable[int]) -> list[tuple[str, int]]:
    """(ip, port) of every listening TCP socket of the processes (a service's, see Child.pids)."""
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    return _listening(procs)


def _family(host: str) -> int | None:
    with contextlib.suppress(ValueError):
        return 6 if ipaddress.ip_address(host).version == 6 else 4
    return None


def _serves(ip: str, target: Target) -> bool:
    """Would a socket bound to `ip` accept the probe's connection to target.host?"""
    if ip in ("0.0.0.0", "::"):
        # A wildcard socket; "::" usually accepts IPv4 too (dual stack).
        return ip == "::" or _family(target.host) != 6
    if target.host == "localhost":
        return ip in ("127.0.0.1", "::1")
    return ip == target.host


def explain_mismatch(name: str, target: Target, listening: list[tuple[str, int]]) -> str | None:
    """Why a failing probe fails although the service listens; None when it does not listen at all
    or does listen where the probe dials (then the probe's own error says enough)."""
    if not listening:
        return None
    if any(port == target.port and _serves(ip, target) for ip, port in listening):
        return None
    shown = ", ".join(show(ip, port) for ip, port in listening[:4])
    same_port = [ip for ip, port in listening if port == target.port]
    if same_port:
        where = show(same_port[0], target.port)
        return (f"{name} listens on {shown}, but the probe dials {show(target.host, target.port)}: "
                f"another address family; bind to both (e.g. --host ::) or probe {where}")
    return f"{name} listens on {shown}, not on port {target.port} that the probe dials"


# A service's sockets that served its probed port, as inode → (pid, fd) where it was found open.
KnownSockets = dict[int, tuple[int, int]]


def find_impostor(name: str, target: Target, tree_pids: set[int], started_at: float,
                  known: KnownSockets | None = None, tag: str | None = None) -> str | None:
    """When the probed port is answered by a process outside the service's tree that was there
    before the service started, say so. Processes created after the service started (a container
    runtime's proxy, say) are given the benefit of the doubt.

    This runs at every probe of a healthy service, so the common answer, "the service itself",
    is made cheap: `known` (kept by the caller per service) remembers where the tree's own
    listening sockets on the port are open; while one of them still is, nothing changed (a socket
    never changes its port; see `still_holds`). Only then are the socket tables read again.
    A holder carrying the service's own `tag` is the service too (a child that left the tree
    with setsid, say)."""
    if not _is_local(target.host) or still_holds(known):
        return None
    if known:
        known.clear()
    # Only sockets that would accept the probe's connection count: a service listening on
    # 127.0.0.1:P does not vouch for whoever answers the probe on [::1]:P.
    sockets = listening_sockets(target.port)
    if sockets is not None:
        accepted = {inode for ip, inode in sockets if _serves(ip, target)}
        if not accepted:
            return None
        own = socket_fds(tree_pids) or {}
        mine = accepted & own.keys()
        if mine:
            if known is not None:
                known.update({inode: own[inode] for inode in mine})
            return None
    holders = listeners(target.port, accepts=lambda ip: _serves(ip, target))
    if not holders or any(p.pid in tree_pids or (tag is not None and tag_of(p) == tag) for p in holders):
        return None
    for proc in holders:
        with contextlib.suppress(psutil.Error):
            if proc.create_time() <= started_at:
                return f"port {target.port} is answered by {describe(proc)}, not by {name}"
    return None


def still_holds(known: KnownSockets | None) -> bool:
    """A process that held one of the `known` sockets still has it open under the same number:
    the common answer of `find_impostor`, one readlink, without walking the service's tree."""
    if not known:
        return False
    return any(still_held(inode, pid, fd) for inode, (pid, fd) in known.items())


def _is_local(host: str) -> bool:
    """A loopback or wildcard literal, or localhost (no DNS: this runs next to the event loop)."""
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host)
        return address.is_loopback or address.is_unspecified
    return False
