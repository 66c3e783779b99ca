"""The commands that look at a stack without running it: `config`, `probe` and `export`.

Only click glue: each command finds the stack through the group's options, calls into
devstack/export, prints, and picks the exit code (errors are raised as DevstackError for
cli.main to print). Everything heavier is imported inside the commands, so that loading the CLI
for `status` costs nothing here.
"""

from __future__ import annotations

import sys

import click

from devstack.cli.environment import os_env
from devstack.cli.group import Options, cli, complete_services, pass_options

KINDS = ("compose", "systemd", "kubernetes")


@cli.command(name="config")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved stack as JSON.")
@pass_options
def config_command(opts: Options, as_json: bool) -> None:
    """The resolved stack: every service with defaults filled in (.env values masked)."""
    import json

    from devstack.export.resolved import render_text, resolve

    stack = opts.stack()
    doc = resolve(stack, os_env())
    click.echo(json.dumps(doc, indent=2) if as_json else render_text(doc, stack.root))


@cli.command(name="probe")
@click.argument("name", shell_complete=complete_services)
@pass_options
def probe_command(opts: Options, name: str) -> None:
    """Run one service's health probe once: exit 0 when it passes, 1 when not."""
    from devstack.export.oneshot import probe_once

    stack = opts.stack()
    opts.names((name,))
    ok, line = probe_once(stack, name, os_env())
    click.echo(line)
    sys.exit(0 if ok else 1)


@cli.command(name="export")
@click.argument("kind", metavar="compose|systemd|kubernetes")
@click.option("-o", "--output", metavar="PATH",
              help="Output file or folder (default: stdout for compose, deploy/KIND/ for the others).")
@pass_options
def export_command(opts: Options, kind: str, output: str | None) -> None:
    """Write the stack for another engine: docker compose, systemd units or Kubernetes manifests."""
    from devstack.errors import UsageError
    from devstack.text.suggest import did_you_mean

    if kind not in KINDS:
        hint = did_you_mean(kind, list(KINDS))
        said = f"cannot export to '{kind}'; {hint}" if hint else f"cannot export to '{kind}'."
        raise UsageError(f"{said} Choose compose, systemd or kubernetes.")
    from pathlib import Path

    from devstack.export.runner import export

    stack = opts.stack()
    result = export(stack, kind, Path(output) if output else None, Path.cwd(), os_env())
    if result.stdout is not None:
        click.echo(result.stdout, nl=False)
    for line in result.notes.lines():
        click.echo(line, err=True)
