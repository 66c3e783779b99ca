"""The `cmd` probe: a shell command in the service's folder and environment passes on exit 0;
the last line it printed says why not. Running it (own process group, bounded in time, nothing
left behind) is process/oneshot.py's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devstack.config.specs import HealthSpec
from devstack.probes.result import ProbeResult, fail, os_reason, seconds
from devstack.process.exits import exit_status
from devstack.process.oneshot import NotStarted, run_bounded

# A cmd probe's output is only mined for its last line; keep a bounded tail.
MAX_CMD_OUTPUT_BYTES = 16 << 10


async def probe_cmd(health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
    """Run `health.target` through /bin/sh in `cwd` with exactly `env`; pass on exit 0."""
    try:
        done = await run_bounded(health.target, cwd, env, health.timeout, MAX_CMD_OUTPUT_BYTES)
    except NotStarted as exc:
        return fail(f"cannot run the command in {cwd}: {os_reason(exc.cause)}")
    except TimeoutError:
        return fail(f"timed out after {seconds(health.timeout)}")
    if done.code == 0:
        return ProbeResult(ok=True, error=None, response_time_ms=done.elapsed_ms, address=None)
    status = exit_status(done.code)
    return fail(f"{status}: {done.last_line}" if done.last_line else status, elapsed_ms=done.elapsed_ms)
