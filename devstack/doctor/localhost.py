"""The `localhost` check: which families `localhost` resolves to, so that a probe/bind mismatch
can be explained, and a warning when probes use localhost but it has no IPv4 address.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

from devstack.config.specs import ProbeKind, ServiceSpec, StackSpec
from devstack.doctor.findings import Finding, Severity, make_finding

LocalhostResolver = Callable[[], list[str]]  # addresses in resolver order; OSError when none


def resolve_localhost() -> list[str]:
    """The addresses `localhost` resolves to here, in the order clients try them."""
    infos = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _probes_localhost(service: ServiceSpec) -> bool:
    health = service.health
    if health is None:
        return False
    if health.kind is ProbeKind.HTTP:
        try:
            host = urlsplit(health.target).hostname
        except ValueError:
            return False
    elif health.kind is ProbeKind.TCP:
        host = health.target.rsplit(":", 1)[0]
    else:
        return False
    return (host or "").lower() == "localhost"


def _resolution_text(addresses: list[str]) -> str:
    v4 = [a for a in addresses if ":" not in a]
    v6 = [a for a in addresses if ":" in a]
    if v4 and v6:
        first = "IPv4" if ":" not in addresses[0] else "IPv6"
        return f"localhost resolves to {' and '.join(addresses)} ({first} first)"
    if addresses:
        family = "IPv4" if v4 else "IPv6"
        return f"localhost resolves to {' and '.join(addresses)} only ({family})"
    return "localhost does not resolve"


def check_localhost(stack: StackSpec, resolve: LocalhostResolver = resolve_localhost) -> list[Finding]:
    """Which families `localhost` resolves to, so that a probe/bind mismatch can be
    explained; a warning when probes use localhost but it has no IPv4 address."""
    try:
        addresses = resolve()
    except OSError:
        addresses = []
    text = _resolution_text(addresses)
    probed = [name for name, service in stack.services.items() if _probes_localhost(service)]
    if any(":" not in a for a in addresses) or not probed:
        return [make_finding(None, Severity.INFO, "localhost", text, None)]
    # devstack's own probes dial 127.0.0.1 and ::1 directly, but browsers and the other
    # services go through the resolver.
    subject = f"{', '.join(probed)} {'is' if len(probed) == 1 else 'are'} probed at localhost"
    hosts = "the hosts file" if sys.platform == "win32" else "/etc/hosts"
    lines = "`127.0.0.1 localhost`" + ("" if addresses else " and `::1 localhost`")
    message = (f"{text}, but {subject}: clients using localhost will not reach a service that "
               "listens on 127.0.0.1 or 0.0.0.0")
    return [make_finding(None, Severity.WARNING, "localhost", message, f"add {lines} to {hosts}")]
