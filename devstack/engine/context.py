"""What every service of a stack shares: the seams to the outside world (clock, spawner, probe,
environment, diagnosis, timeline) and the notifier that wakes whoever waits for a state change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.config.specs import HealthSpec, ServiceSpec, StackSpec
from devstack.engine.clock import Clock
from devstack.engine.diagnosis import Diagnostics
from devstack.engine.timeline import NoTimeline, Timeline
from devstack.probes.result import ProbeResult
from devstack.process.spawn import Spawner

# One polled probe: (health, cwd, env) → its result. probes.run.run_probe, or a test's fake network.
Prober = Callable[[HealthSpec, Path, Mapping[str, str]], Awaitable[ProbeResult]]


class Notifier:
    """Wakes every waiter when anything changed; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.wait()


@dataclass
class Context:
    """What every service shares: the seams to the outside world, and the stack's notifier."""

    stack: StackSpec
    clock: Clock
    spawner: Spawner
    probe: Prober
    notifier: Notifier
    event: Callable[[str], None]  # devstack's own event lines
    build_env: Callable[[ServiceSpec], Mapping[str, str]]
    doctor: Diagnostics  # pre-flight checks, and why a service is not up (diagnosis.py)
    tag_prefix: str  # "<stack id>/": the env tag of every child of this stack
    timeline: Timeline = field(default_factory=NoTimeline)  # the startup timeline (timeline.py)
