"""`schema`: the JSON Schema of stack.toml (draft 2020-12), for editors and CI checks."""

from __future__ import annotations

import click

from devstack.cli.group import cli


@cli.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of stack.toml (for Taplo, Even Better TOML, check-jsonschema)."""
    import json

    from devstack.config.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
