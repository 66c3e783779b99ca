from __future__ import annotations

import pytest

from devstack.engine.states import TRANSITIONS, ServiceStatus, StackState, State, is_legal, stack_state


def svc(state: State, optional: bool = False) -> ServiceStatus:
    return ServiceStatus(name="x", state=state, optional=optional)


def test_every_state_has_transitions_and_names_match_spec() -> None:
    assert set(TRANSITIONS) == set(State)
    assert [str(s) for s in State] == ["pending", "starting", "healthy", "running", "unhealthy",
                                       "backoff", "failed", "exited", "stopped"]


def test_no_jump_from_failed_to_healthy() -> None:
    assert not is_legal(State.FAILED, State.HEALTHY)
    assert is_legal(State.FAILED, State.STARTING)


@pytest.mark.parametrize(("services", "want"), [
    ([svc(State.HEALTHY), svc(State.RUNNING)], StackState.UP),
    ([svc(State.HEALTHY), svc(State.FAILED, optional=True)], StackState.DEGRADED),
    ([svc(State.HEALTHY), svc(State.FAILED)], StackState.FAILED),
    ([svc(State.HEALTHY), svc(State.UNHEALTHY)], StackState.FAILED),
    ([svc(State.HEALTHY), svc(State.STARTING)], StackState.STARTING),
    ([svc(State.PENDING), svc(State.HEALTHY)], StackState.STARTING),
    ([svc(State.HEALTHY), svc(State.STARTING, optional=True)], StackState.STARTING),
    ([svc(State.STOPPED), svc(State.STOPPED)], StackState.DOWN),
    ([svc(State.EXITED), svc(State.HEALTHY)], StackState.UP),
])
def test_stack_state(services: list[ServiceStatus], want: StackState) -> None:
    assert stack_state(services, running=True) == want


def test_no_supervisor_is_down() -> None:
    assert stack_state([svc(State.HEALTHY)], running=False) == StackState.DOWN
