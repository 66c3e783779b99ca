"""The `tcp` probe: passes when a connection to `host:port` is accepted. Literal addresses are
dialled on a bare non-blocking socket (no resolver, no transport), `localhost` as both
loopback addresses at once.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time

from devstack.config.specs import HealthSpec
from devstack.probes.addresses import is_ip_literal, show
from devstack.probes.result import (
    Attempt,
    ProbeResult,
    connection_reason,
    elapsed_ms,
    fail,
    first_success,
    os_reason,
)
from devstack.probes.target import LOCALHOST_ADDRESSES

_TCP_TARGET = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


def _parse_tcp_target(target: str) -> tuple[str, int] | None:
    match = _TCP_TARGET.match(target.strip())
    if match is None:
        return None
    port = int(match["port"])
    if not 0 < port < 65536:
        return None
    return match["v6"] or match["host"], port


async def _tcp_literal_attempt(host: str, port: int, timeout: float) -> Attempt:
    tried = show(host, port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    started = time.perf_counter()
    try:
        # A bare non-blocking socket: no transport, no protocol, no resolver; this
        # runs every few ms while a database starts.
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return Attempt(tried, False, False, os_reason(exc))
    try:
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except (TimeoutError, OSError) as exc:
        return Attempt(tried, False, False, connection_reason(exc, timeout))
    finally:
        sock.close()
    return Attempt(tried, True, True, "", elapsed_ms(started), tried)


async def _tcp_named_attempt(host: str, port: int, timeout: float) -> Attempt:
    tried = show(host, port)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, host, port)
    except (TimeoutError, OSError) as exc:
        return Attempt(tried, False, False, connection_reason(exc, timeout))
    peername = transport.get_extra_info("peername")
    transport.close()
    peer = show(str(peername[0]), int(peername[1])) if isinstance(peername, tuple) else tried
    return Attempt(tried, True, True, "", elapsed_ms(started), peer)


async def probe_tcp(health: HealthSpec) -> ProbeResult:
    """Pass when a TCP connection to `host:port` is accepted; it is closed at once."""
    parsed = _parse_tcp_target(health.target)
    if parsed is None:
        return fail(f"invalid tcp target {health.target!r}: expected host:port, e.g. 127.0.0.1:5432")
    host, port = parsed
    if host.lower() == "localhost":
        return await first_success(
            [_tcp_literal_attempt(ip, port, health.timeout) for ip in LOCALHOST_ADDRESSES]
        )
    if is_ip_literal(host):
        return await first_success([_tcp_literal_attempt(host, port, health.timeout)])
    return await first_success([_tcp_named_attempt(host, port, health.timeout)])
