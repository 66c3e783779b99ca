"""Pure decisions of the supervisor: restarts, backoff, probe pacing and health thresholds.

Every function takes plain values (with `now`/elapsed times passed in) and returns a value,
so the rules can be tested as tables without processes or clocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devstack.config.specs import Condition, Restart, ServiceSpec
from devstack.engine.states import UP_STATES, State

# A service counts as stable (its failure streak is forgotten) after this long up.
STABLE_AFTER = 30.0
# Without a probe, a process that stays alive this long is `running`.
ALIVE_WINDOW = 1.0
# After a service's main process exits, how long what it started may take to end by itself
# before it counts as left behind (a pipeline's last reader, a child finishing its write).
LEFT_BEHIND_GRACE = 0.25
# While a service starts, a line of its output brings its next probe forward, but never closer
# than this to the last one: a service flooding its output is not probed back to back.
OUTPUT_FLOOR = 0.01


@dataclass(frozen=True)
class ExitDecision:
    """What to do after a service's process exited (or was stopped for failing its probe)."""

    state: State  # BACKOFF (restart after `delay`), EXITED or FAILED
    delay: float = 0.0
    failures: int = 0  # the consecutive-failure count after this exit
    attempt: int = 0  # the number of the start that comes next, within the streak
    hopeless: bool = False  # FAILED at once: no restart could change how it ended


# A start that never came up and ended so: the shell found no such command (127), or could not
# run it (126). Nothing a restart does changes that; only an edit or a setup does.
HOPELESS_EXITS = frozenset({126, 127})


def after_exit(spec: ServiceSpec, exit_code: int | None, failures: int, up_for: float | None,
               start_failed: bool = False, left_behind: bool = False) -> ExitDecision:
    """Decide the next step after an exit.

    `failures` is the streak so far; `up_for` how long the service had been healthy/running
    before the exit (None if it never got there); `start_failed` means devstack itself ended
    the start (probe never passed within `start_period`, or unhealthy with restart_on_unhealthy);
    `left_behind` that its main process exited while a process it started kept running.
    """
    if up_for is not None and up_for >= STABLE_AFTER:
        failures = 0
    if exit_code == 0 and left_behind:
        # It daemonized: the program runs, but not as the service. Every start would end the
        # same way (and the next one would find its port taken): a retry cannot change it.
        return ExitDecision(State.FAILED, failures=failures + 1)
    clean = exit_code == 0 and not start_failed and not left_behind
    if clean and spec.restart != Restart.ALWAYS:
        return ExitDecision(State.EXITED, failures=0)
    if spec.restart == Restart.NO:
        return ExitDecision(State.FAILED, failures=failures + 1)
    if exit_code in HOPELESS_EXITS and up_for is None and not start_failed:
        return ExitDecision(State.FAILED, failures=failures + 1, hopeless=True)
    failures += 1
    if failures >= max(1, spec.max_restarts) and not clean:
        return ExitDecision(State.FAILED, failures=failures)
    return ExitDecision(State.BACKOFF, delay=backoff_delay(spec, failures), failures=failures,
                        attempt=failures + 1)


def backoff_delay(spec: ServiceSpec, failures: int) -> float:
    """The delay before the next start: `backoff`, doubling with each failure, up to `backoff_max`."""
    if failures <= 0 or spec.backoff <= 0:
        return 0.0
    return float(min(spec.backoff * (2.0 ** min(failures - 1, 32)), max(spec.backoff_max, spec.backoff)))


def probe_delay(state: State, since_start: float, interval: float) -> float:
    """How long to wait before the next probe.

    While a service starts, probe often so that readiness is seen within tens of
    milliseconds; slow down for long starts (a JVM may take minutes) so a waiting
    probe costs little; once up, probe every `interval`.
    """
    if state == State.STARTING:
        if since_start < 5.0:
            fast = 0.01
        elif since_start < 30.0:
            fast = 0.05
        else:
            fast = 0.25
        return min(fast, interval)
    return interval


def next_tick(now: float, period: float) -> float:
    """Seconds from `now` (monotonic) to the next multiple of `period`: the wait after a passing
    probe of a service that is up. Every service probed at that interval wakes the supervisor at
    the same instant, once for all of them rather than once each: fewer wake-ups on a laptop, and
    ~30% less supervisor CPU per probe (W2). A gap is then at most `period`."""
    if period <= 0:
        return 0.0
    return (now // period + 1) * period - now


@dataclass(frozen=True)
class ProbeVerdict:
    state: State
    failures: int  # consecutive probe failures after this result
    gave_up: bool = False  # it was starting and its start period is over: end this run
    restart: bool = False  # it became unhealthy and restart_on_unhealthy is set: end this run


def after_probe(state: State, ok: bool, failures: int, retries: int) -> ProbeVerdict:
    """Apply one probe result to a started service's state."""
    if ok:
        if state in {State.STARTING, State.HEALTHY, State.UNHEALTHY}:
            return ProbeVerdict(State.HEALTHY, 0)
        return ProbeVerdict(state, 0)
    failures += 1
    if state == State.HEALTHY and failures >= max(1, retries):
        return ProbeVerdict(State.UNHEALTHY, failures)
    return ProbeVerdict(state, failures)


def judge_probe(state: State, ok: bool, failures: int, retries: int, since_start: float,
                start_period: float, restart_on_unhealthy: bool) -> ProbeVerdict:
    """The whole verdict on one probe result: the state it leads to, and whether the run must end
    (a start that took too long, or an unhealthy service that is to be restarted)."""
    if state == State.STARTING and not ok and since_start >= start_period:
        return ProbeVerdict(state, failures + 1, gave_up=True)
    verdict = after_probe(state, ok, failures, retries)
    if verdict.state == State.UNHEALTHY and state != State.UNHEALTHY and restart_on_unhealthy:
        return ProbeVerdict(verdict.state, verdict.failures, restart=True)
    return verdict


@dataclass(frozen=True)
class Dependency:
    """What a dependent sees of one of its dependencies."""

    state: State
    optional: bool
    ever_started: bool


def dependencies_met(depends_on: Mapping[str, Condition],
                     seen: Mapping[str, Dependency]) -> tuple[bool, str | None]:
    """(whether every condition holds, why it never will): a required dependency that failed
    ends the wait; an optional one's failure never stops the others."""
    met = True
    for name, condition in depends_on.items():
        dep = seen[name]
        if dep.state == State.FAILED:
            if dep.optional:
                continue
            return True, f"dependency {name} failed"
        if condition == Condition.COMPLETED:
            met &= dep.state == State.EXITED
        elif condition == Condition.STARTED:
            met &= dep.ever_started
        else:
            met &= dep.state in UP_STATES
    return met, None
