"""stack.toml → StackSpec: reading the file and validating every key.

This module owns the meaning of stack.toml: which keys exist, their types and defaults
(taken from the dataclasses in `specs`, so they are written down once), how relative paths
are anchored, and the wording of every configuration problem. Validation never stops at
the first problem: each one is collected and they are raised together as one ConfigError,
so a user fixes a broken file in one pass. Nothing here starts a process or checks that a
path exists; that is pre-flight's job (`doctor` must be able to report it per service).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from devstack.config.probes import health_spec
from devstack.config.specs import ServiceSpec, StackSpec
from devstack.config.tables import Problems, Table, as_table, suggest
from devstack.config.values import (
    ceiling,
    int_at_least,
    show,
    to_bool,
    to_command,
    to_depends_on,
    to_duration,
    to_env,
    to_path,
    to_paths,
    to_port,
    to_restart,
    to_signal,
    to_string_list,
    to_text,
    to_venv,
)
from devstack.errors import ConfigError, Problem
from devstack.text.places import relative

# Service names become file names (logs/NAME.log) and CLI arguments, hence the narrow set.
SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NAME_RULE = 'a service name of letters, digits, "_", "." and "-" that starts with a letter or digit'

TOP_KEYS = ("stack", "services")
STACK_KEYS = ("name", "env_file")
SERVICE_KEYS = (
    "command", "cwd", "venv", "env_file", "env", "required_env", "port", "depends_on", "health",
    "restart", "max_restarts", "backoff", "backoff_max", "restart_on_unhealthy", "stop_signal",
    "stop_timeout", "setup", "optional",
)  # fmt: skip

# Defaults come from the specs themselves so that the documented defaults live in one place.
_SERVICE_DEFAULTS = ServiceSpec(name="", command="", cwd=Path("/"))


def display_path(path: Path) -> str:
    """The file name for messages: relative to the working folder when inside it, else as given."""
    try:
        cwd = Path.cwd()
    except OSError:  # the working folder was deleted under us; the path as given still helps
        return str(path)
    found = relative(path.absolute(), cwd) or relative(path.resolve(), cwd.resolve())
    return str(path) if found is None else found


# --- value converters: each returns the typed value or raises Invalid with the message ------


# --- reading one TOML table -------------------------------------------------------------------


def _anchor(base: Path, relative: str) -> Path:
    """`relative` (which may start with ~ or be absolute) as an absolute path under `base`."""
    return Path(os.path.normpath(base / Path(relative).expanduser()))


def _service(table: Table, name: str, root: Path) -> ServiceSpec:
    """One service; its problems are recorded, and the spec returned is only used when none are."""
    data, d = table.data, _SERVICE_DEFAULTS
    command = table.get("command", to_command, "")
    if "command" not in data and "command" not in table.suggested:
        # when an unknown key was already taken for a misspelt command, that problem says it all
        table.problems.add(table.at("command"), "required: the command that starts the service")
    cwd = _anchor(root, table.get("cwd", to_path, ".")).resolve()
    venv = table.get("venv", to_venv, True)
    env_files = table.get("env_file", to_paths, None)
    backoff = table.get("backoff", to_duration, d.backoff)
    return ServiceSpec(
        name=name,
        command=command,
        cwd=cwd,
        venv=_anchor(cwd, venv) if isinstance(venv, str) else None,
        venv_disabled=venv is False,
        env_files=None if env_files is None else tuple(_anchor(cwd, p) for p in env_files),
        env=MappingProxyType(table.get("env", to_env, {})),
        required_env=table.get("required_env", to_string_list, d.required_env),
        port=table.get("port", to_port, d.port),
        depends_on=MappingProxyType(table.get("depends_on", to_depends_on, {})),
        health=health_spec(table.problems, table.at("health"), data["health"]) if "health" in data else None,
        restart=table.get("restart", to_restart, d.restart),
        max_restarts=table.get("max_restarts", int_at_least(0), d.max_restarts),
        backoff=backoff,
        backoff_max=table.get("backoff_max", ceiling(backoff), d.backoff_max),
        restart_on_unhealthy=table.get("restart_on_unhealthy", to_bool, d.restart_on_unhealthy),
        stop_signal=table.get("stop_signal", to_signal, d.stop_signal),
        stop_timeout=table.get("stop_timeout", to_duration, d.stop_timeout),
        setup=table.get("setup", to_command, d.setup),
        optional=table.get("optional", to_bool, d.optional),
    )


def _services(problems: Problems, value: object, root: Path) -> dict[str, ServiceSpec]:
    data = as_table(problems, "services", value, "a table of services like [services.api]")
    if not data:
        if data is not None:  # an empty table; a wrong type was reported above
            problems.add("services", "no services defined; add a [services.NAME] table with a command")
        return {}
    # every name counts as known, even one whose table is broken, so one mistake is reported once
    known = list(data)
    port_owners: dict[int, str] = {}
    services: dict[str, ServiceSpec] = {}
    for name, raw in data.items():
        if not SERVICE_NAME.match(name):
            problems.add("services", f"expected {_NAME_RULE}, got {show(name)}")
        body = as_table(problems, f"services.{name}", raw, "a table with at least a command")
        if body is None:
            continue
        table = Table(problems, f"services.{name}", body, SERVICE_KEYS)
        service = services[name] = _service(table, name, root)
        _check_dependencies(table, service, known)
        _check_port(table, service, port_owners)
        table.sort_problems()
    _check_cycles(problems, services)
    return services


def _check_dependencies(table: Table, service: ServiceSpec, known: list[str]) -> None:
    for dep in service.depends_on:
        if dep not in known:
            hint = suggest(dep, known, "services")
            table.problems.add(table.at("depends_on"), f"unknown service '{dep}'; {hint}")


def _check_port(table: Table, service: ServiceSpec, owners: dict[int, str]) -> None:
    """Record the service's port in `owners`; a port an earlier service declared is a problem."""
    if service.port is None:
        return
    first = owners.setdefault(service.port, service.name)
    if first != service.name:
        table.problems.add(table.at("port"), f"port {service.port} is also declared by service '{first}'")


def _check_cycles(problems: Problems, services: Mapping[str, ServiceSpec]) -> None:
    for cycle in _find_cycles({name: list(s.depends_on) for name, s in services.items()}):
        problems.add("services", "dependency cycle: " + " → ".join([*cycle, cycle[0]]))


def _find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Dependency cycles, each once, each starting at its member that comes first in `graph`'s order.

    One cycle per back edge of a depth-first walk: enough to show every knot to untie without
    listing the (possibly exponentially many) cycles of a tangled graph.
    """
    position = {name: i for i, name in enumerate(graph)}
    done: set[str] = set()
    path: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        path.append(name)
        for dep in graph[name]:
            if dep in path:
                cycle = path[path.index(dep) :]
                first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
                rotated = cycle[first:] + cycle[:first]
                if rotated not in found:
                    found.append(rotated)
            elif dep in graph and dep not in done:
                visit(dep)
        path.pop()
        done.add(name)

    for name in graph:
        if name not in done:
            visit(name)
    return sorted(found, key=lambda cycle: position[cycle[0]])


_TOML_POSITION = re.compile(
    r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$", re.S
)


def _toml_problem(file: str, text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """tomllib's message as a Problem, its "(at line N, column M)" moved into the location."""
    match = _TOML_POSITION.match(str(exc))
    if match is None:
        return Problem(file, "", f"invalid TOML: {exc}")
    if match.group("line"):
        line, column = int(match.group("line")), int(match.group("column"))
    else:  # "end of document": point at it the way tomllib counts lines and columns
        line = text.count("\n") + 1
        column = len(text) - text.rfind("\n")
    return Problem(file, "", f"invalid TOML: {match.group('message')}", line=line, column=column)


def _read_toml(path: Path, file: str) -> dict[str, object]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(file, text, exc)]) from None


def load_stack(path: Path) -> StackSpec:
    """The stack described by the stack.toml at `path`; ConfigError listing every problem."""
    file = display_path(path)
    data = _read_toml(path, file)
    root = path.absolute().parent.resolve()
    problems = Problems(file)
    top = Table(problems, "", data, TOP_KEYS)
    stack = as_table(problems, "stack", data.get("stack", {}), "a table like [stack]") or {}
    head = Table(problems, "stack", stack, STACK_KEYS)
    name = head.get("name", to_text, root.name)
    env_file = head.get("env_file", to_path, None)
    services = _services(problems, data.get("services", {}), root)
    top.sort_problems()
    if problems.items:
        raise ConfigError(problems.items)
    return StackSpec(
        name=name,
        root=root,
        source=root / path.name,
        services=MappingProxyType(services),
        env_file=None if env_file is None else _anchor(root, env_file),
    )
