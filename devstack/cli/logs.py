"""`logs`: the kept logs of the named services, merged in time order, then followed."""

from __future__ import annotations

import time
from typing import Any

import click

from devstack.cli.group import Options, cli, complete_services, pass_options
from devstack.errors import UsageError
from devstack.text.suggest import unknown_service_message


@cli.command()
@click.argument("names", nargs=-1, shell_complete=complete_services)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--tail", "lines", type=click.IntRange(min=0), default=100, show_default=True,
              help="How many lines to print first.")
@click.option("--since", metavar="DURATION|TIME", help="Only lines newer than this (10m, 2026-11-26T05:00).")
@click.option("-t", "--timestamps", is_flag=True, help="Show each line's time.")
@click.option("--no-color", is_flag=True, help="No colours (the same as --ansi never).")
@pass_options
def logs(opts: Options, names: tuple[str, ...], follow: bool, lines: int, since: str | None,
         timestamps: bool, no_color: bool) -> None:
    """Print the kept logs of the named services (default: all), merged in time order."""
    from datetime import UTC, datetime

    from devstack.logs import ansi
    from devstack.logs.follower import Follower
    from devstack.logs.prefix import OTHER_COLOUR, name_prefix, palette
    from devstack.logs.reader import tail
    from devstack.logs.since import parse_since

    stack = opts.stack()
    known = [*stack.services, "devstack"]
    for name in names:
        if name not in known:
            raise UsageError(unknown_service_message(name, list(stack.services)))
    wanted = list(names) or list(stack.services)
    try:
        since_at = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    colour = not no_color and opts.colour()
    width = max(len(n) for n in wanted)
    colours = palette(list(stack.services))
    log_dir = opts.paths().log_dir

    def show(record: Any) -> None:
        own = colours.get(record.service, OTHER_COLOUR) if colour else None
        prefix = name_prefix(record.service, width, own)
        if timestamps:
            prefix = record.ts.astimezone().isoformat(timespec="milliseconds") + " " + prefix
        text = record.text
        if ansi.needs_cleaning(text.encode()):  # older files, or bytes a service wrote itself
            text = ansi.for_terminal(text.encode(), colour).decode("utf-8", "replace")
        click.echo(prefix + text, color=colour)  # click would strip the colour off a pipe

    if not follow:
        for record in tail(log_dir, wanted, lines, since_at):
            show(record)
        return
    # backlog-then-poll from one Follower: no line missed or repeated between the two.
    follower = Follower(log_dir, wanted)
    try:
        for record in follower.backlog(lines, since_at):
            show(record)
        while True:
            for record in follower.poll():
                show(record)
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
