"""`init`: `devstack init [DIR] [--write] [--force] [--choose FOLDER=VALUE]`, the click glue around
devstack.init. It owns what the user sees: the stack.toml on stdout (or written), one stderr line
per service, skipped folder and note, the questions init will not answer alone, and the exit
codes (0 written or printed; 1 nothing found, or a choice to make; 2 a bad DIR or an existing
stack.toml without --force). devstack.init is imported only when the command runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from devstack.cli.group import cli, leave
from devstack.errors import UsageError

STACK_FILE = "stack.toml"


def _choices(values: tuple[str, ...]) -> dict[str, str]:
    picked: dict[str, str] = {}
    for value in values:
        folder, sep, choice = value.partition("=")
        if not sep or not choice:
            raise UsageError(f"--choose {value}: expected FOLDER=VALUE, e.g. --choose apps/api=main:app")
        folder = folder.strip().removeprefix("./").rstrip("/") or "."
        picked[folder] = choice.strip()
    return picked


def _folder(directory: str) -> Path:
    path = Path(directory)
    if not path.exists():
        raise UsageError(f"{directory}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{directory}: not a folder")
    try:
        with os.scandir(path) as entries:  # closed at once: a listing left open leaks its descriptor
            next(entries, None)
    except OSError as exc:
        raise UsageError(f"{directory}: cannot read it ({exc.strerror or exc})") from None
    return path


def say(line: str) -> None:
    click.echo(line, err=True)


def _write(target: Path, text: str) -> None:
    temporary = target.with_name(f".{target.name}.init-tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


@cli.command()
@click.argument("directory", default=".", metavar="[DIR]")
@click.option("--write", is_flag=True, help="Write DIR/stack.toml instead of printing it.")
@click.option("--force", is_flag=True, help="With --write: replace an existing stack.toml.")
@click.option("--choose", multiple=True, metavar="FOLDER=VALUE",
              help="Settle a question init asks (which app, which port), e.g. apps/api=main:app.")
def init(directory: str, write: bool, force: bool, choose: tuple[str, ...]) -> None:
    """Look through a repository and write the stack.toml that runs it."""
    root = _folder(directory)
    target = root / STACK_FILE
    if write and target.exists() and not force:
        raise UsageError(f"{target} exists; add --force to replace it")
    from devstack.init.detect import LOOKED_FOR, run
    from devstack.init.toml_out import render

    result = run(root, _choices(choose))
    for service in result.services:
        say(f"{service.name}: {service.found.headline()}")
    for line in result.skipped:
        say(line)
    for note in result.notes:
        say(f"note: {note}")
    if result.unused_choices:
        raise UsageError(f"--choose {', '.join(result.unused_choices)} matched no question init asked")
    if result.ambiguities:
        for question in result.ambiguities:
            for line in question.lines():
                say(line)
        say("nothing written: init does not guess; pick as above and run it again")
        leave(1)
    if not result.services:
        say(f"found no service in {directory}; looked for {LOOKED_FOR}")
        leave(1)
    text = render(result.services)
    if write:
        _write(target, text)
        say(f"wrote {target}")
    else:
        click.echo(text, nl=False)
