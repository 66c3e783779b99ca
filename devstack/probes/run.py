"""The probe the supervisor polls: `run_probe` dispatches one polled probe on its kind (and
refuses `log`, which is fed output lines instead of polled)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.probes.cmd import probe_cmd
from devstack.probes.http import probe_http
from devstack.probes.result import ProbeResult
from devstack.probes.tcp import probe_tcp


async def run_probe(health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
    """Run one polled probe of whatever kind `health` is; `log` probes are not polled.

    `cwd` and `env` are for `cmd` probes. (An HTTP probe of a port that refuses costs what a
    tcp probe does, ~0.1 ms of CPU: there is no cheaper question to ask first.)"""
    if health.kind is ProbeKind.HTTP:
        return await probe_http(health)
    if health.kind is ProbeKind.TCP:
        return await probe_tcp(health)
    if health.kind is ProbeKind.CMD:
        return await probe_cmd(health, cwd, env)
    raise ValueError(f"a {health.kind} probe is not polled: feed output lines to LogProbe instead")
