"""`ui`: the dashboard, a live page of the stack on 127.0.0.1 (devstack/ui), with or without a
running supervisor; and the dashboard that `up --ui` starts beside the stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from devstack.cli.group import Options, cli, leave, pass_options
from devstack.config.specs import StackSpec
from devstack.errors import DevstackError


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port on 127.0.0.1 (default 7878, or a free one when it is taken; 0: any free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option("--until-down", is_flag=True, hidden=True,
              help="Exit once the supervisor it saw is gone (the dashboard of `up --ui`).")
@pass_options
def ui(opts: Options, port: int | None, no_browser: bool, until_down: bool) -> None:
    """Serve a live dashboard of the stack on 127.0.0.1."""
    from devstack.ui.serve import serve

    leave(serve(opts.stack(), port, not no_browser, until_down))


def start_dashboard(stack: StackSpec, log: Path) -> subprocess.Popen[bytes]:
    """`devstack ui` beside the stack `up --ui` starts: it prints its line (echoed here) and ends
    once that supervisor is gone."""
    source = ("--procfile" if stack.source.name == "Procfile" else "-f", str(stack.source))
    with open(log, "ab") as err:
        argv = [sys.executable, "-m", "devstack", *source, "ui", "--no-browser", "--until-down"]
        proc = subprocess.Popen(argv, cwd=stack.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode(errors="replace").strip()
    proc.stdout.close()
    if not line.startswith("dashboard: "):
        proc.wait()
        raise DevstackError(f"the dashboard did not start; see {log}")
    click.echo(line)
    return proc
