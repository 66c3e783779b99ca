"""The click group every command hangs on, the options they share (-f, --procfile, --debug and
the stack they find), and `leave`, the one way a command picks its exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from devstack.config.specs import StackSpec
from devstack.control.paths import StatePaths
from devstack.errors import UsageError
from devstack.text.suggest import unknown_service_message

CONTEXT = {"help_option_names": ["-h", "--help"]}


class Options:
    def __init__(self, file: str | None, procfile: str | None, debug: bool) -> None:
        self.file = file
        self.procfile = procfile
        self.debug = debug
        self._stack: StackSpec | None = None

    def stack(self) -> StackSpec:
        if self._stack is None:
            from devstack.config.load import find_stack

            self._stack = find_stack(Path.cwd(), Path(self.file) if self.file else None,
                                     Path(self.procfile) if self.procfile else None)
        return self._stack

    def paths(self) -> StatePaths:
        return StatePaths.of(self.stack().root)

    def names(self, names: tuple[str, ...]) -> list[str]:
        known = list(self.stack().services)
        for name in names:
            if name not in known:
                raise UsageError(unknown_service_message(name, known))
        return list(names)


pass_options = click.make_pass_decorator(Options)


@click.group(context_settings=CONTEXT)
@click.option("-f", "--file", metavar="PATH", help="The stack.toml to use (default: the nearest one).")
@click.option("--procfile", metavar="PATH", help="Run the services of this Procfile.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="devstack")
@click.pass_context
def cli(ctx: click.Context, file: str | None, procfile: str | None, debug: bool) -> None:
    """Start a multi-service development stack and keep it running."""
    ctx.obj = Options(file, procfile, debug)


def leave(code: int) -> NoReturn:
    sys.exit(code)
