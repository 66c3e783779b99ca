"""The click group every command hangs on, the options they share (-f, --procfile, --ansi,
--debug and the stack they find), the value types of options (durations), the completion of
service names, and `leave`, the one way a command picks its exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from click.shell_completion import CompletionItem

from devstack.config.locate import FILE_VAR
from devstack.config.specs import StackSpec
from devstack.control.paths import StatePaths
from devstack.errors import UsageError
from devstack.text.suggest import unknown_service_message

CONTEXT = {"help_option_names": ["-h", "--help"]}
ANSI_MODES = ("auto", "always", "never")


class Options:
    def __init__(self, file: str | None, procfile: str | None, debug: bool, ansi: str = "auto") -> None:
        self.file = file
        self.procfile = procfile
        self.debug = debug
        self.ansi = ansi
        self._stack: StackSpec | None = None

    def stack(self) -> StackSpec:
        if self._stack is None:
            self._stack = _find_stack(self.file, self.procfile)
        return self._stack

    def root(self) -> Path | None:
        """The stack's folder, found without reading its file (`down` of a stack whose file no
        longer loads): the folder of the file -f/--procfile names, or of the nearest one."""
        from devstack.config.locate import named_stack_file, nearest_stack_file

        cwd = Path.cwd()
        found: Path | None
        if self.procfile:
            found = cwd / self.procfile
        elif self.file:
            found = named_stack_file(cwd, Path(self.file))
        else:
            found = nearest_stack_file(cwd)
        return found.absolute().parent.resolve() if found is not None and found.is_file() else None

    def paths(self) -> StatePaths:
        return StatePaths.of(self.stack().root)

    def names(self, names: tuple[str, ...]) -> list[str]:
        known = list(self.stack().services)
        for name in names:
            if name not in known:
                raise UsageError(unknown_service_message(name, known))
        return list(names)

    def colour(self) -> bool:
        """Whether devstack's own output to stdout is coloured (--ansi, NO_COLOR, FORCE_COLOR)."""
        from devstack.logs.prefix import use_colour

        return use_colour(mode=self.ansi)


def _find_stack(file: str | None, procfile: str | None) -> StackSpec:
    from devstack.config.load import find_stack

    return find_stack(Path.cwd(), Path(file) if file else None, Path(procfile) if procfile else None)


pass_options = click.make_pass_decorator(Options)


class Duration(click.ParamType[float]):
    """A duration option: "30s", "1h30m", "250ms" or seconds; a bad one is a usage error (exit 2)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        from devstack.config.durations import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


def complete_services(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The stack's service names that start with what was typed (shell completion)."""
    root = ctx.find_root().params
    try:
        stack = _find_stack(root.get("file"), root.get("procfile"))
    except Exception:  # no stack here, or a broken one: nothing to offer, never a traceback
        return []
    return [CompletionItem(name) for name in stack.services if name.startswith(incomplete)]


def _set_ansi(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`--ansi` given after a command's name: the same as before it."""
    if value is None or ctx.resilient_parsing:
        return
    opts = ctx.find_object(Options)
    if opts is not None:
        opts.ansi = value


class Group(click.Group):
    """The devstack group: every command also takes `--ansi`, where docker compose users put it."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(param.name == "ansi" for param in cmd.params):  # once, also for an alias
            cmd.params.append(click.Option(["--ansi"], type=click.Choice(ANSI_MODES), expose_value=False,
                                           callback=_set_ansi,
                                           help="Colour: auto (default), always or never."))
        super().add_command(cmd, name)


@click.group(cls=Group, context_settings=CONTEXT)
@click.option("-f", "--file", metavar="PATH", envvar=FILE_VAR, show_envvar=True,
              help="The stack.toml to use, or the folder that holds it (default: the nearest one).")
@click.option("--procfile", metavar="PATH", help="Run the services of this Procfile.")
@click.option("--ansi", type=click.Choice(ANSI_MODES), default="auto", show_default=True,
              help="Colour: always, never, or auto (a terminal, unless NO_COLOR is set or FORCE_COLOR is).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="devstack")
@click.pass_context
def cli(ctx: click.Context, file: str | None, procfile: str | None, ansi: str, debug: bool) -> None:
    """Start a multi-service development stack and keep it running."""
    ctx.obj = Options(file, procfile, debug, ansi)


def leave(code: int) -> NoReturn:
    sys.exit(code)
