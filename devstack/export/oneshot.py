"""One run of one service's probe, as `devstack probe NAME` prints it.

The probe is devstack's own (devstack.health), run once with the service's cwd and environment,
so that a systemd unit's start check asks exactly what `devstack up` would ask. A `log` probe
watches the output of a process devstack runs: it has no one-shot form, and says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from devstack.config.specs import ProbeKind, StackSpec
from devstack.env.layers import build_env
from devstack.env.secrets import Redactor
from devstack.errors import UsageError
from devstack.probes.run import run_probe


def probe_once(stack: StackSpec, name: str, os_env: Mapping[str, str]) -> tuple[bool, str]:
    """(passed, the line to print). UsageError for a service with no probe or a log probe."""
    spec = stack.services[name]
    health = spec.health
    if health is None:
        raise UsageError(f"service '{name}' has no health probe; devstack counts it as running once its "
                         "process has stayed alive for 1 s")
    if health.kind is ProbeKind.LOG:
        raise UsageError(f"service '{name}' has a log probe, which watches the output of the process "
                         "devstack runs; it cannot be run once")
    env = build_env(stack, spec, os_env)
    result = asyncio.run(run_probe(health, spec.cwd, env.as_dict()))
    if result.ok:
        latency = f" in {result.response_time_ms:.1f} ms" if result.response_time_ms is not None else ""
        where = f" ({result.address})" if result.address else ""
        return True, f"{name}: OK{latency}{where}"
    # a cmd probe's error is its last line of output, which may echo a secret it was given
    redactor = Redactor()
    redactor.learn(env.secrets())
    return False, f"{name}: {redactor.text(result.error or 'failed')}"
