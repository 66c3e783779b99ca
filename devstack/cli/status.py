"""`status`: every service's state, health and resources, from the running supervisor, or
built offline (every service stopped, a declared port's holder named) when none runs."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from devstack.cli.group import Options, cli, leave, pass_options
from devstack.cli.render import status_code, status_table
from devstack.config.specs import StackSpec
from devstack.control import client
from devstack.errors import NotRunning


def _offline_status(stack: StackSpec) -> dict[str, Any]:
    """Status without a supervisor: every service stopped; a declared port held by someone is named."""
    from devstack.engine.states import HealthSnapshot, ServiceStatus, StackState, State
    from devstack.process.ports import port_holder

    services = []
    for name, spec in stack.services.items():
        holder = port_holder(spec.port) if spec.port else None
        note = f"port {spec.port} is held by {holder}" if holder else None
        services.append(ServiceStatus(name=name, state=State.STOPPED, optional=spec.optional, port=spec.port,
                                      health=HealthSnapshot(error=note)).to_json())
    return {"stack": stack.name, "supervisor": {"pid": None, "started_at": None, "running": False},
            "state": str(StackState.DOWN), "services": services}


def _status_once(opts: Options, as_json: bool) -> int:
    stack = opts.stack()
    try:
        data = client.call(opts.paths().socket, "status", io_timeout=10)
        code = status_code(data)
    except NotRunning:
        data = _offline_status(stack)
        code = 3
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(status_table(data))
    return code


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--watch", is_flag=True, help="Redraw every second until Ctrl-C.")
@pass_options
def status(opts: Options, as_json: bool, watch: bool) -> None:
    """Show every service's state, health and resources."""
    if not watch:
        leave(_status_once(opts, as_json))
    code = 0
    try:
        while True:
            click.clear()
            code = _status_once(opts, as_json)
            time.sleep(1.0)
    except KeyboardInterrupt:
        leave(code)


# docker compose's name for it, with every option
cli.add_command(status, name="ps")
