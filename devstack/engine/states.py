"""Service and stack states as docs/status.md names them, and the frozen status snapshots built from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    PENDING = "pending"  # waiting for dependencies
    STARTING = "starting"  # process alive, probe not yet passing
    HEALTHY = "healthy"  # probe passing
    RUNNING = "running"  # no probe (or a log probe that matched): alive
    UNHEALTHY = "unhealthy"  # probe failing after it passed
    BACKOFF = "backoff"  # exited; restarting after a delay
    FAILED = "failed"  # gave up
    EXITED = "exited"  # finished with code 0, not restarted
    STOPPED = "stopped"  # stopped by the user, or no supervisor


class StackState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    STARTING = "starting"
    DOWN = "down"
    FAILED = "failed"


class HealthStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    ERROR = "ERROR"


UP_STATES = frozenset({State.HEALTHY, State.RUNNING})
# States in which the service has settled, so `up -d` may stop waiting for it.
SETTLED_STATES = frozenset({State.HEALTHY, State.RUNNING, State.FAILED, State.EXITED, State.STOPPED,
                            State.UNHEALTHY})
# States in which a process of the service may be alive.
LIVE_STATES = frozenset({State.STARTING, State.HEALTHY, State.RUNNING, State.UNHEALTHY})

# Legal transitions: a service never jumps, e.g., from `failed` to `healthy` without a new start.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.PENDING, State.STARTING, State.FAILED}),
    State.PENDING: frozenset({State.STARTING, State.FAILED, State.STOPPED}),
    State.STARTING: frozenset({State.HEALTHY, State.RUNNING, State.BACKOFF, State.FAILED, State.EXITED,
                               State.STOPPED}),
    State.HEALTHY: frozenset({State.UNHEALTHY, State.BACKOFF, State.FAILED, State.EXITED, State.STOPPED}),
    State.RUNNING: frozenset({State.BACKOFF, State.FAILED, State.EXITED, State.STOPPED}),
    State.UNHEALTHY: frozenset({State.HEALTHY, State.BACKOFF, State.FAILED, State.EXITED, State.STOPPED}),
    State.BACKOFF: frozenset({State.STARTING, State.FAILED, State.STOPPED}),
    State.FAILED: frozenset({State.PENDING, State.STARTING, State.STOPPED}),
    State.EXITED: frozenset({State.PENDING, State.STARTING, State.STOPPED}),
}


def is_legal(old: State, new: State) -> bool:
    return old == new or new in TRANSITIONS[old]


@dataclass(frozen=True)
class HealthSnapshot:
    status: HealthStatus | None = None
    last_checked: str | None = None  # ISO time, UTC
    response_time_ms: float | None = None
    error: str | None = None
    address: str | None = None  # which address answered the last probe


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: State
    optional: bool = False
    pid: int | None = None
    port: int | None = None
    restarts: int = 0
    started_at: str | None = None
    uptime_s: float | None = None
    exit_code: int | None = None
    cpu_percent: float = 0.0
    memory_rss: int = 0
    health: HealthSnapshot = field(default_factory=HealthSnapshot)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        data["health"]["status"] = str(self.health.status) if self.health.status else None
        return data


def stack_state(services: list[ServiceStatus], running: bool) -> StackState:
    """The stack's state from its services' states (up, degraded, starting, down, failed)."""
    if not running or not services or all(s.state == State.STOPPED for s in services):
        return StackState.DOWN
    required = [s for s in services if not s.optional]
    # A service in backoff is on its way to a new start: the stack is still starting.
    coming = {State.PENDING, State.STARTING, State.BACKOFF}
    if any(s.state in {State.FAILED, State.UNHEALTHY} for s in required):
        return StackState.FAILED
    if any(s.state in coming for s in required):
        return StackState.STARTING
    ok = UP_STATES | {State.EXITED}
    if all(s.state in ok for s in required):
        if all(s.state in ok for s in services if s.optional):
            return StackState.UP
        if any(s.state in coming for s in services if s.optional):
            return StackState.STARTING
        return StackState.DEGRADED
    return StackState.DEGRADED
