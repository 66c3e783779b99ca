"""Procfile → StackSpec: the honcho adapter, and the only module that imports honcho.

Each line goes through honcho's own parser so that devstack reads a Procfile exactly as
honcho and foreman do. Unlike honcho, no line is dropped in silence: a line that is not
blank, not a comment and not `name: command` is a problem with its line number, and so is
a name used twice (honcho would stop on an assertion there).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from honcho.environ import parse_procfile

from devstack.config.specs import Restart, ServiceSpec, StackSpec
from devstack.config.stackfile import SERVICE_NAME, display_path
from devstack.errors import ConfigError, Problem

# honcho gives the Nth process type PORT = 5000 + 100 * N; keep that so apps behave the same
BASE_PORT = 5000
PORT_STEP = 100

NOT_A_LINE = "not a Procfile line; expected 'name: command'"


def load_procfile(path: Path) -> StackSpec:
    """The stack described by the Procfile at `path`; ConfigError listing every bad line."""
    file = display_path(path)
    commands = _parse(file, _read(path, file))
    root = path.absolute().parent.resolve()
    services = {
        name: ServiceSpec(
            name=name,
            command=command,
            cwd=root,
            restart=Restart.ON_FAILURE,
            env=MappingProxyType({"PORT": str(BASE_PORT + PORT_STEP * index)}),
        )
        for index, (name, command) in enumerate(commands.items())
    }
    env_file = root / ".env"
    return StackSpec(
        name=root.name,
        root=root,
        source=root / path.name,
        services=MappingProxyType(services),
        env_file=env_file if env_file.is_file() else None,
        from_procfile=True,
    )


def _read(path: Path, file: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None


def _parse(file: str, text: str) -> dict[str, str]:
    """Process name → command, in file order; ConfigError naming every line that is not one."""
    commands: dict[str, str] = {}
    first_line: dict[str, int] = {}
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        # One line at a time through honcho's parser: it skips what it cannot read, and an
        # empty result is how we learn that this line was such a line.
        parsed = parse_procfile(line).processes
        if not parsed:
            problems.append(Problem(file, "", NOT_A_LINE, line=number))
            continue
        [(name, command)] = parsed.items()
        problem = _check(name, command.strip(), first_line)
        if problem:
            problems.append(Problem(file, "", problem, line=number))
            continue
        commands[name] = command.strip()
        first_line[name] = number
    if not commands and not problems:
        problems.append(Problem(file, "", "no processes defined; add a line like 'web: python app.py'"))
    if problems:
        raise ConfigError(problems)
    return commands


def _check(name: str, command: str, first_line: dict[str, int]) -> str | None:
    if not command:
        return NOT_A_LINE  # "web:" followed by blanks: honcho would run an empty command
    if name in first_line:
        return f"process '{name}' is already defined on line {first_line[name]}"
    if not SERVICE_NAME.match(name):
        # honcho accepts "-web" or "_web"; as a service name it would read like a CLI option
        return f"process name '{name}' must start with a letter or digit"
    return None
