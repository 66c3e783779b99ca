"""Restart, backoff and probe decisions as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.specs import Condition, Restart, ServiceSpec
from devstack.engine import policy
from devstack.engine.states import State


def spec(**kw: object) -> ServiceSpec:
    return ServiceSpec(name="svc", command="true", cwd=Path("/"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("restart", "code", "failures", "up_for", "want"), [
    # on-failure: a clean exit ends it; a crash backs off; the streak gives up at max_restarts
    (Restart.ON_FAILURE, 0, 0, None, policy.ExitDecision(State.EXITED)),
    (Restart.ON_FAILURE, 1, 0, None, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    (Restart.ON_FAILURE, 1, 1, None, policy.ExitDecision(State.BACKOFF, 1.0, 2, 3)),
    (Restart.ON_FAILURE, 1, 3, None, policy.ExitDecision(State.BACKOFF, 4.0, 4, 5)),
    (Restart.ON_FAILURE, 1, 4, None, policy.ExitDecision(State.FAILED, 0.0, 5)),
    # 30 s up forgets the streak
    (Restart.ON_FAILURE, 1, 4, 30.0, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    (Restart.ON_FAILURE, 1, 4, 29.9, policy.ExitDecision(State.FAILED, 0.0, 5)),
    # killed by a signal counts as a failure
    (Restart.ON_FAILURE, -9, 0, None, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    # always: even a clean exit restarts, and a clean exit never gives up
    (Restart.ALWAYS, 0, 0, None, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    (Restart.ALWAYS, 0, 9, None, policy.ExitDecision(State.BACKOFF, 30.0, 10, 11)),
    (Restart.ALWAYS, 1, 4, None, policy.ExitDecision(State.FAILED, 0.0, 5)),
    # no: never restart
    (Restart.NO, 0, 0, None, policy.ExitDecision(State.EXITED)),
    (Restart.NO, 1, 0, None, policy.ExitDecision(State.FAILED, 0.0, 1)),
    # command not found (127) or not runnable (126) by a start that never came up: no restart
    # can change that, whatever the policy; once it has been up, it is an ordinary crash
    (Restart.ON_FAILURE, 127, 0, None, policy.ExitDecision(State.FAILED, 0.0, 1, hopeless=True)),
    (Restart.ALWAYS, 126, 2, None, policy.ExitDecision(State.FAILED, 0.0, 3, hopeless=True)),
    (Restart.ON_FAILURE, 127, 0, 5.0, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    (Restart.ON_FAILURE, 125, 0, None, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
])
def test_after_exit(restart: Restart, code: int, failures: int, up_for: float | None,
                    want: policy.ExitDecision) -> None:
    assert policy.after_exit(spec(restart=restart), code, failures, up_for) == want


def test_a_start_devstack_ended_is_a_failure_even_with_code_0() -> None:
    decision = policy.after_exit(spec(), 0, 0, None, start_failed=True)
    assert decision.state == State.BACKOFF


@pytest.mark.parametrize(("restart", "code", "want"), [
    # exit 0 while a process it started runs on: it daemonized; a new start would do it again
    (Restart.ON_FAILURE, 0, policy.ExitDecision(State.FAILED, 0.0, 1)),
    (Restart.ALWAYS, 0, policy.ExitDecision(State.FAILED, 0.0, 1)),
    (Restart.NO, 0, policy.ExitDecision(State.FAILED, 0.0, 1)),
    # any other exit is a crash that left a server behind: restarted as crashes are
    (Restart.ON_FAILURE, 1, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    (Restart.ALWAYS, -15, policy.ExitDecision(State.BACKOFF, 0.5, 1, 2)),
    (Restart.NO, 1, policy.ExitDecision(State.FAILED, 0.0, 1)),
])
def test_an_exit_that_left_a_process_running(restart: Restart, code: int, want: policy.ExitDecision) -> None:
    assert policy.after_exit(spec(restart=restart), code, 0, None, left_behind=True) == want


def test_backoff_doubles_up_to_the_ceiling() -> None:
    s = spec(backoff=0.25, backoff_max=2.0)
    assert [policy.backoff_delay(s, n) for n in range(0, 7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert policy.backoff_delay(spec(backoff=0.0), 3) == 0.0
    assert policy.backoff_delay(spec(backoff=1.0), 10_000) == 30.0  # no overflow


def test_max_restarts_zero_means_one_start() -> None:
    assert policy.after_exit(spec(max_restarts=0), 1, 0, None).state == State.FAILED


@pytest.mark.parametrize(("state", "since", "interval", "want"), [
    (State.STARTING, 0.0, 2.0, 0.01),
    (State.STARTING, 4.9, 2.0, 0.01),
    (State.STARTING, 5.0, 2.0, 0.05),
    (State.STARTING, 31.0, 2.0, 0.25),
    (State.STARTING, 0.0, 0.005, 0.005),
    (State.HEALTHY, 0.0, 2.0, 2.0),
    (State.UNHEALTHY, 100.0, 3.0, 3.0),
])
def test_probe_delay(state: State, since: float, interval: float, want: float) -> None:
    assert policy.probe_delay(state, since, interval) == want


@pytest.mark.parametrize(("now", "period", "want"), [
    (100.0, 2.0, 2.0),  # on a tick: the next one, a whole period away
    (100.5, 2.0, 1.5),
    (101.999, 2.0, 0.001),
    (7.25, 0.5, 0.25),
    (3.0, 0.0, 0.0),  # no period: no wait
])
def test_next_tick(now: float, period: float, want: float) -> None:
    assert policy.next_tick(now, period) == pytest.approx(want)


def test_next_tick_brings_services_probed_at_one_interval_to_the_same_instant() -> None:
    wakes = {round(now + policy.next_tick(now, 2.0), 9) for now in (1000.01, 1000.7, 1001.3, 1001.99)}
    assert wakes == {1002.0}


@pytest.mark.parametrize(("state", "ok", "failures", "want"), [
    (State.STARTING, True, 0, policy.ProbeVerdict(State.HEALTHY, 0)),
    (State.STARTING, False, 7, policy.ProbeVerdict(State.STARTING, 8)),
    (State.HEALTHY, False, 0, policy.ProbeVerdict(State.HEALTHY, 1)),
    (State.HEALTHY, False, 2, policy.ProbeVerdict(State.UNHEALTHY, 3)),
    (State.UNHEALTHY, False, 3, policy.ProbeVerdict(State.UNHEALTHY, 4)),
    (State.UNHEALTHY, True, 4, policy.ProbeVerdict(State.HEALTHY, 0)),
])
def test_after_probe(state: State, ok: bool, failures: int, want: policy.ProbeVerdict) -> None:
    assert policy.after_probe(state, ok, failures, retries=3) == want


@pytest.mark.parametrize(("state", "ok", "since", "restart", "want"), [
    # starting: a failure inside the start period waits; past it the run ends
    (State.STARTING, False, 5.0, False, policy.ProbeVerdict(State.STARTING, 1)),
    (State.STARTING, False, 60.0, False, policy.ProbeVerdict(State.STARTING, 1, gave_up=True)),
    (State.STARTING, True, 60.0, False, policy.ProbeVerdict(State.HEALTHY, 0)),
    # the third failure in a row makes it unhealthy; with restart_on_unhealthy the run ends
    (State.HEALTHY, False, 100.0, False, policy.ProbeVerdict(State.UNHEALTHY, 3)),
    (State.HEALTHY, False, 100.0, True, policy.ProbeVerdict(State.UNHEALTHY, 3, restart=True)),
    # already unhealthy: no second restart request for the same spell
    (State.UNHEALTHY, False, 100.0, True, policy.ProbeVerdict(State.UNHEALTHY, 3)),
])
def test_judge_probe(state: State, ok: bool, since: float, restart: bool, want: policy.ProbeVerdict) -> None:
    assert policy.judge_probe(state, ok, failures=2 if state != State.STARTING else 0, retries=3,
                              since_start=since, start_period=60.0, restart_on_unhealthy=restart) == want


def dep(state: State, optional: bool = False, started: bool = True) -> policy.Dependency:
    return policy.Dependency(state, optional, started)


H, C, S = Condition.HEALTHY, Condition.COMPLETED, Condition.STARTED


@pytest.mark.parametrize(("conditions", "seen", "want"), [
    # healthy: any up state counts, a start in progress does not
    ({"db": H}, {"db": dep(State.HEALTHY)}, (True, None)),
    ({"db": H}, {"db": dep(State.RUNNING)}, (True, None)),
    ({"db": H}, {"db": dep(State.STARTING)}, (False, None)),
    # completed: only a clean exit; started: once spawned, whatever came after
    ({"migrate": C}, {"migrate": dep(State.EXITED)}, (True, None)),
    ({"migrate": C}, {"migrate": dep(State.HEALTHY)}, (False, None)),
    ({"db": S}, {"db": dep(State.BACKOFF)}, (True, None)),
    ({"db": S}, {"db": dep(State.PENDING, started=False)}, (False, None)),
    # a required dependency's failure ends the wait with the reason; an optional one's is ignored
    ({"db": H, "cache": H}, {"db": dep(State.FAILED), "cache": dep(State.HEALTHY)},
     (True, "dependency db failed")),
    ({"db": H, "cache": H}, {"db": dep(State.HEALTHY), "cache": dep(State.FAILED, optional=True)},
     (True, None)),
    # every condition must hold
    ({"db": H, "cache": H}, {"db": dep(State.HEALTHY), "cache": dep(State.STARTING)}, (False, None)),
])
def test_dependencies_met(conditions: dict[str, Condition], seen: dict[str, policy.Dependency],
                          want: tuple[bool, str | None]) -> None:
    assert policy.dependencies_met(conditions, seen) == want
