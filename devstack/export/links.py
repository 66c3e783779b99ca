"""`localhost:PORT` that means another service of the stack.

On one laptop every service reaches the others at localhost; in compose or Kubernetes each runs
in a network namespace of its own, where localhost is the service itself and another service is
reached by its name. This module finds such references in env values and commands and rewrites
them to the name an engine gives the service that owns the port.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from devstack.config.specs import StackSpec
from devstack.probes.target import probe_target

# The host part of a loopback address followed by a port; not a longer number (":54321" is not
# ":5432"), and "0.0.0.0" counts because clients use it as "this host" on Linux.
_LOCAL = re.compile(r"(?<![\w.-])(?P<host>localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):(?P<port>\d{1,5})(?!\d)")


@dataclass(frozen=True)
class Link:
    """One reference from a service to another service's port through the loopback address."""

    service: str  # the service that owns the port
    port: int
    host: str  # as written: localhost, 127.0.0.1, [::1], 0.0.0.0


def port_owners(stack: StackSpec) -> dict[int, str]:
    """Port → service: the declared `port`, else the port its own tcp/http probe dials."""
    owners: dict[int, str] = {}
    for name, spec in stack.services.items():
        if spec.port is not None:
            owners.setdefault(spec.port, name)
    for name, spec in stack.services.items():
        target = probe_target(spec.health) if spec.health is not None else None
        if spec.port is None and target is not None and _is_loopback(target.host):
            owners.setdefault(target.port, name)
    return owners


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def find(text: str, owners: Mapping[int, str], own: str) -> list[Link]:
    """The references in `text` to another service's port (the service's own port is its own)."""
    found = []
    for match in _LOCAL.finditer(text):
        port = int(match.group("port"))
        owner = owners.get(port)
        if owner is not None and owner != own:
            found.append(Link(owner, port, match.group("host")))
    return found


def rewrite(text: str, owners: Mapping[int, str], own: str, name_of: Callable[[str], str]) -> str:
    """`text` with each reference to another service's port naming that service instead."""

    def swap(match: re.Match[str]) -> str:
        owner = owners.get(int(match.group("port")))
        if owner is None or owner == own:
            return match.group(0)
        return f"{name_of(owner)}:{match.group('port')}"

    return _LOCAL.sub(swap, text)
