"""Running a service's setup before its first start, as `up` does when the setup never ran or
what it built is older than its inputs (doctor/setup.py says which): one child through the same
spawner as the service (its output in the service's log, its processes tagged as the service's),
waited for, and stopped with everything it started if the service is stopped meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from devstack.config.specs import ServiceSpec
from devstack.engine.clock import Clock
from devstack.process.spawn import OutputCallback, Spawner, shell_argv


async def run_setup(spawner: Spawner, clock: Clock, spec: ServiceSpec, env: Mapping[str, str],
                    on_output: OutputCallback) -> int:
    """The exit code of the service's setup, run in its cwd with `env`."""
    assert spec.setup is not None
    child = await spawner.spawn(shell_argv(spec.setup), spec.cwd, env, on_output)
    try:
        code = await child.wait()
    finally:
        # whatever the setup left running (a cancelled `npm ci`, a daemon it started) goes with it
        await asyncio.shield(child.stop(int(spec.stop_signal), spec.stop_timeout, clock.sleep))
    await child.drained(1.0)
    return code
