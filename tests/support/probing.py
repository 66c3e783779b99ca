"""Probe specs and a fake resolver for the tests of the one-shot probes (devstack/probes)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.probes.http import probe_http
from devstack.probes.result import ProbeResult


def http_spec(target: str = "http://127.0.0.1:8001/health", **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.HTTP, target=target, **kw)


def tcp_spec(target: str, **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.TCP, target=target, **kw)


def cmd_spec(target: str, **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.CMD, target=target, **kw)


def probe_real(spec: HealthSpec) -> ProbeResult:
    return asyncio.run(probe_http(spec))


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names looked up by the event loop; `probe-target.test` resolves to 127.0.0.1, nothing else does."""
    asked: list[str] = []

    async def getaddrinfo(self: asyncio.AbstractEventLoop, host: str, port: int, *args: Any,
                          **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        if host == "probe-target.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return asked
