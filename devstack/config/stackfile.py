"""stack.toml → StackSpec: finding the stack file, reading it, and validating every key.

This module owns the meaning of stack.toml: which keys exist, their types and defaults
(taken from the dataclasses in `specs`, so they are written down once), how relative paths
are anchored, and the wording of every configuration problem. Validation never stops at
the first problem: each one is collected and they are raised together as one ConfigError,
so a user fixes a broken file in one pass. Nothing here starts a process or checks that a
path exists; that is pre-flight's job (`doctor` must be able to report it per service).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from devstack.config.durations import parse_duration
from devstack.config.specs import Condition, HealthSpec, ProbeKind, Restart, ServiceSpec, StackSpec
from devstack.errors import ConfigError, Problem
from devstack.text.suggest import closest

# Service names become file names (logs/NAME.log) and CLI arguments, hence the narrow set.
SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NAME_RULE = 'a service name of letters, digits, "_", "." and "-" that starts with a letter or digit'

_TOP_KEYS = ("stack", "services")
_STACK_KEYS = ("name", "env_file")
_SERVICE_KEYS = (
    "command", "cwd", "venv", "env_file", "env", "required_env", "port", "depends_on", "health",
    "restart", "max_restarts", "backoff", "backoff_max", "restart_on_unhealthy", "stop_signal",
    "stop_timeout", "setup", "optional",
)  # fmt: skip
_HTTP_ONLY_KEYS = ("expect_status", "expect_json", "expect_text")
_HEALTH_KEYS = (
    *(kind.value for kind in ProbeKind),
    *_HTTP_ONLY_KEYS,
    "interval",
    "timeout",
    "retries",
    "start_period",
)

# Defaults come from the specs themselves so that SPEC's defaults live in one place.
_SERVICE_DEFAULTS = ServiceSpec(name="", command="", cwd=Path("/"))
_HEALTH_DEFAULTS = HealthSpec(kind=ProbeKind.CMD, target="")

_T = TypeVar("_T")
_D = TypeVar("_D")


# --- how values and paths appear in messages -------------------------------------------------


def _show(value: object, limit: int = 60) -> str:
    """A value as TOML would spell it (strings in double quotes), cut short when long."""
    text = _render(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_render(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return repr(value)


def display_path(path: Path) -> str:
    """The file name for messages: relative to the working folder when inside it, else as given."""
    try:
        cwd = Path.cwd()
    except OSError:  # the working folder was deleted under us; the path as given still helps
        return str(path)
    for candidate, base in ((path.absolute(), cwd), (path.resolve(), cwd.resolve())):
        try:
            return str(candidate.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _suggest(word: str, known: Sequence[str], what: str) -> str:
    close = closest(word, list(known))
    return f"did you mean '{close}'?" if close else f"known {what}: {', '.join(known)}"


# --- value converters: each returns the typed value or raises _Invalid with the message ------


class _Invalid(ValueError):
    """A value of the wrong type or range; str() is the whole message.

    `subkey` names the entry of a table value that is wrong (an `env` name, a `depends_on`
    service), so the problem points at it rather than at the whole table.
    """

    def __init__(self, message: str, subkey: str = "") -> None:
        super().__init__(message)
        self.subkey = subkey


def _expected(what: str, value: object, subkey: str = "") -> _Invalid:
    return _Invalid(f"expected {what}, got {_show(value)}", subkey)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _expected("a non-empty string", value)
    return value


def _path(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _expected("a path (a non-empty string)", value)
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _expected("true or false", value)
    return value


def _int_at_least(low: int) -> Callable[[object], int]:
    def convert(value: object) -> int:
        # bool is an int in Python but never a count in a config file
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _expected(f"an integer of at least {low}", value)
        return value

    return convert


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _expected("an integer from 1 to 65535", value)
    return value


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _positive_duration(value: object) -> float:
    seconds = _duration(value)
    if seconds <= 0:  # a zero probe interval or timeout would spin or always fail
        raise _expected("a duration greater than zero", value)
    return seconds


def _command(value: object) -> str | tuple[str, ...]:
    """A shell string, or an argv array whose first word is not blank."""
    what = "a command string or a non-empty array of strings"
    if isinstance(value, str):
        if not value.strip():
            raise _expected(what, value)
        _check_quotes(value)
        return value
    if isinstance(value, list) and value and all(isinstance(word, str) for word in value):
        if not value[0].strip():
            raise _expected(f"{what} whose first word is not blank", value)
        return tuple(value)
    raise _expected(what, value)


def _check_quotes(command: str) -> None:
    # /bin/sh would fail on this only once started, as a confusing crash loop; say it now.
    # comments=True so that a quote inside a trailing "# it's" comment is not counted.
    try:
        shlex.split(command, comments=True)
    except ValueError as exc:
        raise _expected(f"a shell command with balanced quotes ({exc})", command) from None


def _string_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _expected("an array of non-empty strings", value)
    return tuple(value)


def _paths(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_path(value),)
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    raise _expected("a path or an array of paths", value)


def _venv(value: object) -> str | bool:
    if value is False:
        return False
    if isinstance(value, str) and value.strip():
        return value
    raise _expected("a path, or false to turn venv detection off", value)


def _env_value(value: object, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as TOML spells it, not Python's "True"
    if isinstance(value, int | float | str):
        return str(value)
    raise _expected("a string, number or boolean", value, name)


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _expected('a table of names to values, like { DEBUG = "1" }', value)
    env: dict[str, str] = {}
    for name, raw in value.items():
        if not name or "=" in name or "\0" in name:
            raise _expected('a variable name without "="', name)
        env[name] = _env_value(raw, name)
    return env


def _depends_on(value: object) -> dict[str, Condition]:
    conditions = [c.value for c in Condition]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value, Condition.HEALTHY)
    if isinstance(value, dict):
        deps: dict[str, Condition] = {}
        for name, raw in value.items():
            if raw not in conditions:
                raise _expected(_one_of(conditions), raw, name)
            deps[name] = Condition(raw)
        return deps
    raise _expected('an array of service names, or a table like { db = "healthy" }', value)


def _one_of(choices: Sequence[str]) -> str:
    """'"a", "b" or "c"': the allowed strings, quoted as in the file."""
    quoted = [json.dumps(c) for c in choices]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _restart(value: object) -> Restart:
    choices = [r.value for r in Restart]
    if value not in choices:
        raise _expected(_one_of(choices), value)
    return Restart(value)


def _signal(value: object) -> signal.Signals:
    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        # Signals lists this platform's signals only: a name from another OS is refused here,
        # not discovered when the service is being stopped
        if name in signal.Signals.__members__:
            return signal.Signals[name]
    raise _expected('a signal name like "SIGTERM" or "SIGINT"', value)


def _expect_status(value: object) -> tuple[int, ...]:
    codes: list[int] = []
    for code in value if isinstance(value, list) else [value]:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise _expected("an HTTP status from 100 to 599, or an array of them", value)
        codes.append(code)
    if not codes:
        raise _expected("an HTTP status from 100 to 599, or an array of them", value)
    return tuple(codes)


def _json_table(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _expected('a table like { status = "OK" }', value)
    return MappingProxyType(value)


# --- probe targets ----------------------------------------------------------------------------

_TCP_BRACKETED = re.compile(r"^\[([^\]]+)\]:(\d+)$")


def _http_target(value: object) -> str:
    text = _text(value)
    if not re.match(r"^https?://[^/\s]+", text, re.IGNORECASE):
        raise _expected('a URL starting with "http://" or "https://"', value)
    return text


def _tcp_target(value: object) -> str:
    text = _text(value).strip()
    match = _TCP_BRACKETED.match(text)
    host, _, port = (match.group(1), ":", match.group(2)) if match else text.rpartition(":")
    if not host or (":" in host and not match) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _expected('"host:port" like "127.0.0.1:5432" or "[::1]:5432"', value)
    return text


def _log_target(value: object) -> str:
    text = _text(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise _expected(f"a Python regular expression ({exc})", value) from None
    return text


_TARGETS: dict[ProbeKind, Callable[[object], str]] = {
    ProbeKind.HTTP: _http_target,
    ProbeKind.TCP: _tcp_target,
    ProbeKind.CMD: _text,
    ProbeKind.LOG: _log_target,
}


# --- reading one TOML table -------------------------------------------------------------------


class _Problems:
    """The problems found so far in one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(Problem(self.file, key, message))


class _Table:
    """One TOML table under a dotted key: reports its unknown keys and converts its values."""

    def __init__(self, problems: _Problems, key: str, data: dict[str, object], known: Sequence[str]) -> None:
        self.problems = problems
        self.key = key
        self.data = data
        self.first_problem = len(problems.items)
        self.suggested: set[str] = set()  # known keys that some unknown key was taken for
        for name in data:
            if name in known:
                continue
            self.problems.add(self.at(name), f"unknown key; {_suggest(name, known, 'keys')}")
            self.suggested.add(closest(name, list(known)) or "")

    def at(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, convert: Callable[[object], _T], default: _D) -> _T | _D:
        """The converted value of `name`, or `default` when it is absent or invalid (reported)."""
        if name not in self.data:
            return default
        try:
            return convert(self.data[name])
        except _Invalid as exc:
            key = self.at(name) + (f".{exc.subkey}" if exc.subkey else "")
            self.problems.add(key, str(exc))
            return default

    def sort_problems(self) -> None:
        """Put this table's problems in the order of its keys in the file (checks run in another)."""
        order = {name: i for i, name in enumerate(self.data)}

        def position(problem: Problem) -> int:
            if not problem.key.startswith(self.at("")):
                return -1  # about the table as a whole
            return order.get(problem.key[len(self.at("")) :].split(".")[0], len(order))

        items = self.problems.items
        items[self.first_problem :] = sorted(items[self.first_problem :], key=position)


def _as_table(problems: _Problems, key: str, value: object, what: str) -> dict[str, object] | None:
    if isinstance(value, dict):
        return value
    problems.add(key, f"expected {what}, got {_show(value)}")
    return None


# --- services ---------------------------------------------------------------------------------


def _anchor(base: Path, relative: str) -> Path:
    """`relative` (which may start with ~ or be absolute) as an absolute path under `base`."""
    return Path(os.path.normpath(base / Path(relative).expanduser()))


def _health(problems: _Problems, key: str, value: object) -> HealthSpec | None:
    data = _as_table(problems, key, value, 'a table like { http = "http://localhost:8000/" }')
    if data is None:
        return None
    table = _Table(problems, key, data, _HEALTH_KEYS)
    # every target given is checked, even when there are two, so that no problem waits for a rerun
    targets = {kind: table.get(kind.value, _TARGETS[kind], "") for kind in ProbeKind if kind.value in data}
    single = len(targets) == 1
    if not single:
        got = " and ".join(targets) if targets else "none"
        problems.add(key, f"expected exactly one probe kind (http, tcp, cmd or log), got {got}")
    kind, target = next(iter(targets.items())) if single else (ProbeKind.CMD, "")
    if single and kind is not ProbeKind.HTTP:
        for name in _HTTP_ONLY_KEYS:
            if name in data:
                problems.add(table.at(name), f"only allowed with an http probe, not {kind.value}")
    d = _HEALTH_DEFAULTS
    health = HealthSpec(
        kind=kind,
        target=target,
        expect_status=table.get("expect_status", _expect_status, d.expect_status),
        expect_json=table.get("expect_json", _json_table, d.expect_json),
        expect_text=table.get("expect_text", _text, d.expect_text),
        interval=table.get("interval", _positive_duration, d.interval),
        timeout=table.get("timeout", _positive_duration, d.timeout),
        retries=table.get("retries", _int_at_least(1), d.retries),
        start_period=table.get("start_period", _duration, d.start_period),
    )
    table.sort_problems()
    return health if single else None


def _service(table: _Table, name: str, root: Path) -> ServiceSpec:
    """One service; its problems are recorded, and the spec returned is only used when none are."""
    data, d = table.data, _SERVICE_DEFAULTS
    command = table.get("command", _command, "")
    if "command" not in data and "command" not in table.suggested:
        # when an unknown key was already taken for a misspelt command, that problem says it all
        table.problems.add(table.at("command"), "required: the command that starts the service")
    cwd = _anchor(root, table.get("cwd", _path, ".")).resolve()
    venv = table.get("venv", _venv, True)
    env_files = table.get("env_file", _paths, None)
    backoff = table.get("backoff", _duration, d.backoff)
    return ServiceSpec(
        name=name,
        command=command,
        cwd=cwd,
        venv=_anchor(cwd, venv) if isinstance(venv, str) else None,
        venv_disabled=venv is False,
        env_files=None if env_files is None else tuple(_anchor(cwd, p) for p in env_files),
        env=MappingProxyType(table.get("env", _env, {})),
        required_env=table.get("required_env", _string_list, d.required_env),
        port=table.get("port", _port, d.port),
        depends_on=MappingProxyType(table.get("depends_on", _depends_on, {})),
        health=_health(table.problems, table.at("health"), data["health"]) if "health" in data else None,
        restart=table.get("restart", _restart, d.restart),
        max_restarts=table.get("max_restarts", _int_at_least(0), d.max_restarts),
        backoff=backoff,
        backoff_max=table.get("backoff_max", _ceiling(backoff), d.backoff_max),
        restart_on_unhealthy=table.get("restart_on_unhealthy", _boolean, d.restart_on_unhealthy),
        stop_signal=table.get("stop_signal", _signal, d.stop_signal),
        stop_timeout=table.get("stop_timeout", _duration, d.stop_timeout),
        setup=table.get("setup", _command, d.setup),
        optional=table.get("optional", _boolean, d.optional),
    )


def _ceiling(backoff: float) -> Callable[[object], float]:
    def convert(value: object) -> float:
        seconds = _duration(value)
        if seconds < backoff:  # the delay doubles up to the ceiling; below the start it means nothing
            raise _expected(f"a duration of at least backoff ({backoff:g}s)", value)
        return seconds

    return convert


def _services(problems: _Problems, value: object, root: Path) -> dict[str, ServiceSpec]:
    data = _as_table(problems, "services", value, "a table of services like [services.api]")
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
            problems.add("services", f"expected {_NAME_RULE}, got {_show(name)}")
        body = _as_table(problems, f"services.{name}", raw, "a table with at least a command")
        if body is None:
            continue
        table = _Table(problems, f"services.{name}", body, _SERVICE_KEYS)
        service = services[name] = _service(table, name, root)
        _check_dependencies(table, service, known)
        _check_port(table, service, port_owners)
        table.sort_problems()
    _check_cycles(problems, services)
    return services


def _check_dependencies(table: _Table, service: ServiceSpec, known: list[str]) -> None:
    for dep in service.depends_on:
        if dep not in known:
            hint = _suggest(dep, known, "services")
            table.problems.add(table.at("depends_on"), f"unknown service '{dep}'; {hint}")


def _check_port(table: _Table, service: ServiceSpec, owners: dict[int, str]) -> None:
    """Record the service's port in `owners`; a port an earlier service declared is a problem."""
    if service.port is None:
        return
    first = owners.setdefault(service.port, service.name)
    if first != service.name:
        table.problems.add(table.at("port"), f"port {service.port} is also declared by service '{first}'")


def _check_cycles(problems: _Problems, services: Mapping[str, ServiceSpec]) -> None:
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


# --- the file ---------------------------------------------------------------------------------

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
    problems = _Problems(file)
    top = _Table(problems, "", data, _TOP_KEYS)
    stack = _as_table(problems, "stack", data.get("stack", {}), "a table like [stack]") or {}
    head = _Table(problems, "stack", stack, _STACK_KEYS)
    name = head.get("name", _text, root.name)
    env_file = head.get("env_file", _path, None)
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
