"""Status without a supervisor (`status`, the dashboard): every service stopped; a declared port
held by some other process is named with its pid and command line."""

from __future__ import annotations

from typing import Any

from devstack.config.specs import StackSpec
from devstack.engine.states import HealthSnapshot, ServiceStatus, StackState, State
from devstack.process.ports import port_holder


def offline_status(stack: StackSpec) -> dict[str, Any]:
    """Status without a supervisor: every service stopped; a declared port held by someone is named."""
    services = []
    for name, spec in stack.services.items():
        holder = port_holder(spec.port) if spec.port else None
        note = f"port {spec.port} is held by {holder}" if holder else None
        services.append(ServiceStatus(name=name, state=State.STOPPED, optional=spec.optional, port=spec.port,
                                      health=HealthSnapshot(error=note)).to_json())
    return {"stack": stack.name, "supervisor": {"pid": None, "started_at": None, "running": False},
            "state": str(StackState.DOWN), "services": services}
