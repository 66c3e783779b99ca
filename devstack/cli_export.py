"""The commands that look at a stack without running it: `config`, `probe` and `export`.

Only click glue: each command finds the stack through the group's options, calls into
devstack/export, prints, and picks the exit code (errors are raised as DevstackError for
cli.main to print). Everything heavier is imported inside the commands, so that loading the CLI
for `status` costs nothing here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from devstack.cli import Options

KINDS = ("compose", "systemd", "kubernetes")


def _os_env() -> dict[str, str]:
    from devstack.cli import _os_env as cli_os_env  # the CLI's view of the OS layer, defined once

    return cli_os_env()


@click.command(name="config")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved stack as JSON.")
@click.pass_obj
def config_command(opts: Options, as_json: bool) -> None:
    """The resolved stack: every service with defaults filled in (.env values masked)."""
    import json

    from devstack.export.resolved import render_text, resolve

    stack = opts.stack()
    doc = resolve(stack, _os_env())
    click.echo(json.dumps(doc, indent=2) if as_json else render_text(doc, stack.root))


@click.command(name="probe")
@click.argument("name")
@click.pass_obj
def probe_command(opts: Options, name: str) -> None:
    """Run one service's health probe once: exit 0 when it passes, 1 when not."""
    from devstack.export.oneshot import probe_once

    stack = opts.stack()
    opts.names((name,))
    ok, line = probe_once(stack, name, _os_env())
    click.echo(line)
    sys.exit(0 if ok else 1)


@click.command(name="export")
@click.argument("kind", metavar="compose|systemd|kubernetes")
@click.option("-o", "--output", metavar="PATH",
              help="Output file or folder (default: stdout for compose, deploy/KIND/ for the others).")
@click.pass_obj
def export_command(opts: Options, kind: str, output: str | None) -> None:
    """Write the stack for another engine: docker compose, systemd units or Kubernetes manifests."""
    from devstack.errors import UsageError
    from devstack.suggest import closest

    if kind not in KINDS:
        guess = closest(kind, list(KINDS))
        hint = f" Did you mean '{guess}'?" if guess else ""
        raise UsageError(f"cannot export to '{kind}'.{hint} Choose compose, systemd or kubernetes.")
    from pathlib import Path

    from devstack.export.runner import export

    stack = opts.stack()
    result = export(stack, kind, Path(output) if output else None, Path.cwd(), _os_env())
    if result.stdout is not None:
        click.echo(result.stdout, nl=False)
    for line in result.notes.lines():
        click.echo(line, err=True)


def register(cli: click.Group) -> None:
    for command in (config_command, probe_command, export_command):
        cli.add_command(command)
