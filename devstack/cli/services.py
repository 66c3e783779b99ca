"""`restart`, `stop` and `start`: act on single services of the running supervisor, then show
their rows of the status table."""

from __future__ import annotations

from typing import Any

import click

from devstack.cli.group import Options, cli, leave, pass_options
from devstack.cli.render import stack_ok, status_table
from devstack.control import client

# One option for the three commands, as the CLI has always had it; only `restart` uses it.
TIMEOUT_HELP = "restart: stop waiting after this long."


@cli.command(help="Restart services and wait until they are healthy again.")
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", metavar="DURATION", help=TIMEOUT_HELP)
@pass_options
def restart(opts: Options, names: tuple[str, ...], timeout: str | None) -> None:
    from devstack.config.durations import parse_duration

    wanted = opts.names(names)
    wait_s = parse_duration(timeout) if timeout else None
    result = client.call(opts.paths().socket, "restart", io_timeout=None, names=wanted, timeout=wait_s)
    _print_services(result["status"], wanted)
    leave(0 if result["ok"] else 1)


@cli.command(help="Stop services (the supervisor keeps running).")
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", metavar="DURATION", help=TIMEOUT_HELP)
@pass_options
def stop(opts: Options, names: tuple[str, ...], timeout: str | None) -> None:
    wanted = opts.names(names)
    data = client.call(opts.paths().socket, "stop", io_timeout=None, names=wanted)
    _print_services(data, wanted)


@cli.command(help="Start stopped services.")
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", metavar="DURATION", help=TIMEOUT_HELP)
@pass_options
def start(opts: Options, names: tuple[str, ...], timeout: str | None) -> None:
    wanted = opts.names(names)
    socket = opts.paths().socket
    client.call(socket, "start", names=wanted)
    result = client.call(socket, "wait", io_timeout=None, names=wanted)
    _print_services(result["status"], wanted)
    leave(0 if stack_ok(result["status"], wanted) else 1)


def _print_services(data: dict[str, Any], names: list[str]) -> None:
    subset = dict(data, services=[s for s in data["services"] if s["name"] in names])
    click.echo(status_table(subset))
