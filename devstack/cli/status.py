"""`status`: every service's state, health and resources, from the running supervisor, or
built offline (every service stopped, a declared port's holder named) when none runs."""

from __future__ import annotations

import json
import time

import click

from devstack.cli.group import Options, cli, leave, pass_options
from devstack.cli.render import status_code, status_table
from devstack.control import client
from devstack.errors import NotRunning


def _status_once(opts: Options, as_json: bool) -> int:
    stack = opts.stack()
    try:
        data = client.call(opts.paths().socket, "status", io_timeout=10)
        code = status_code(data)
    except NotRunning:
        from devstack.engine.offline import offline_status

        data = offline_status(stack)
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
