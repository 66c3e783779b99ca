"""`restart`, `stop` and `start`: act on single services of the running supervisor, then show
their rows of the status table."""

from __future__ import annotations

from typing import Any

import click

from devstack.cli.group import DURATION, Options, cli, complete_services, leave, pass_options
from devstack.cli.render import stack_ok, status_table
from devstack.control import client

WAIT_HELP = "Stop waiting for them to be up after this long (e.g. 30s, 2m); exit 1 if they are not."


@cli.command(help="Restart services and wait until they are healthy again.")
@click.argument("names", nargs=-1, required=True, shell_complete=complete_services)
@click.option("--timeout", type=DURATION, metavar="DURATION", help=WAIT_HELP)
@pass_options
def restart(opts: Options, names: tuple[str, ...], timeout: float | None) -> None:
    wanted = opts.names(names)
    result = client.call(opts.paths().socket, "restart", io_timeout=None, names=wanted, timeout=timeout)
    _print_services(result["status"], wanted)
    leave(0 if result["ok"] else 1)


@cli.command(help="Stop services (the supervisor keeps running).")
@click.argument("names", nargs=-1, required=True, shell_complete=complete_services)
@click.option("--timeout", type=DURATION, metavar="DURATION",
              help="How long each service gets to stop before it is killed (default: its stop_timeout).")
@pass_options
def stop(opts: Options, names: tuple[str, ...], timeout: float | None) -> None:
    wanted = opts.names(names)
    data = client.call(opts.paths().socket, "stop", io_timeout=None, names=wanted, timeout=timeout)
    _print_services(data, wanted)


@cli.command(help="Start stopped services and wait until they are up.")
@click.argument("names", nargs=-1, required=True, shell_complete=complete_services)
@click.option("--timeout", type=DURATION, metavar="DURATION", help=WAIT_HELP)
@pass_options
def start(opts: Options, names: tuple[str, ...], timeout: float | None) -> None:
    wanted = opts.names(names)
    socket = opts.paths().socket
    client.call(socket, "start", names=wanted)
    result = client.call(socket, "wait", io_timeout=None, names=wanted, timeout=timeout)
    _print_services(result["status"], wanted)
    if not result["settled"]:
        click.echo(f"Not every service was up after {timeout:g} s; see `devstack logs` for why.", err=True)
        leave(1)
    leave(0 if stack_ok(result["status"], wanted) else 1)


def _print_services(data: dict[str, Any], names: list[str]) -> None:
    subset = dict(data, services=[s for s in data["services"] if s["name"] in names])
    click.echo(status_table(subset))
