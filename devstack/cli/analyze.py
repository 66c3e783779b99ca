"""`analyze`: the startup timeline of the last `up` (kept under .devstack/timeline/ by the
supervisor), as a chart and the critical chain, `--compare`d with the run before, or `--json`."""

from __future__ import annotations

import json

import click

from devstack.cli.group import Options, cli, leave, pass_options


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the last run as JSON.")
@click.option("--compare", is_flag=True, help="Show each phase's change against the previous run.")
@pass_options
def analyze(opts: Options, as_json: bool, compare: bool) -> None:
    """Show what the last start of the stack waited for."""
    from devstack.cli.chart import chain_lines, chart
    from devstack.cli.chart import compare as compared
    from devstack.engine.runs import document, load_runs, runs_dir

    runs = load_runs(runs_dir(opts.paths().state_dir), 2)
    if not runs:
        click.echo(f"no start of {opts.stack().name} has been recorded yet; run `devstack up` first.",
                   err=True)
        leave(1)
    doc = document(runs[0])
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        leave(0)
    click.echo(chart(doc))
    click.echo("")
    click.echo(chain_lines(doc))
    if compare:
        click.echo("")
        click.echo(compared(doc, document(runs[1])) if len(runs) > 1 else
                   "no earlier run to compare with: this is the first one recorded.")
    leave(0)
