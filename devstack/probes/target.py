"""Where an http or tcp probe connects: its host and port, read without loading the HTTP client
(the impostor and mismatch checks ask at every probe).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from devstack.config.specs import HealthSpec, ProbeKind

LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")


DEFAULT_PORTS = {"http": 80, "https": 443}  # here, not in http_get: reading a target loads no h11


@dataclass(frozen=True)
class Target:
    """Where a probe connects."""

    host: str
    port: int


def probe_target(health: HealthSpec) -> Target | None:
    """The host and port an http or tcp probe dials (None for cmd/log probes, or a bad target)."""
    if health.kind == ProbeKind.HTTP:
        from urllib.parse import urlsplit

        parts = urlsplit(health.target)
        try:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        except ValueError:  # a port out of range
            return None
        return Target(parts.hostname, port) if parts.hostname else None
    if health.kind == ProbeKind.TCP:
        host, _, port_text = health.target.rpartition(":")
        with contextlib.suppress(ValueError):
            return Target(host.strip("[]"), int(port_text))
    return None
