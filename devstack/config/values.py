"""stack.toml's value converters: each returns the typed value or raises `Invalid` with the
whole message ("expected an integer from 1 to 65535, got 70000"), quoting the bad value as
TOML spells it.
"""

from __future__ import annotations

import json
import shlex
import signal
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from types import MappingProxyType

from devstack.config.durations import parse_duration
from devstack.config.specs import Condition, Restart


def show(value: object, limit: int = 60) -> str:
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


class Invalid(ValueError):
    """A value of the wrong type or range; str() is the whole message.

    `subkey` names the entry of a table value that is wrong (an `env` name, a `depends_on`
    service), so the problem points at it rather than at the whole table.
    """

    def __init__(self, message: str, subkey: str = "") -> None:
        super().__init__(message)
        self.subkey = subkey


def expected(what: str, value: object, subkey: str = "") -> Invalid:
    return Invalid(f"expected {what}, got {show(value)}", subkey)


def to_text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise expected("a non-empty string", value)
    return value


def to_path(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise expected("a path (a non-empty string)", value)
    return value


def to_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise expected("true or false", value)
    return value


def int_at_least(low: int) -> Callable[[object], int]:
    def convert(value: object) -> int:
        # bool is an int in Python but never a count in a config file
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise expected(f"an integer of at least {low}", value)
        return value

    return convert


def to_port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise expected("an integer from 1 to 65535", value)
    return value


def to_duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def to_positive_duration(value: object) -> float:
    seconds = to_duration(value)
    if seconds <= 0:  # a zero probe interval or timeout would spin or always fail
        raise expected("a duration greater than zero", value)
    return seconds


def to_command(value: object) -> str | tuple[str, ...]:
    """A shell string, or an argv array whose first word is not blank."""
    what = "a command string or a non-empty array of strings"
    if isinstance(value, str):
        if not value.strip():
            raise expected(what, value)
        _check_quotes(value)
        return value
    if isinstance(value, list) and value and all(isinstance(word, str) for word in value):
        if not value[0].strip():
            raise expected(f"{what} whose first word is not blank", value)
        return tuple(value)
    raise expected(what, value)


def _check_quotes(command: str) -> None:
    # /bin/sh would fail on this only once started, as a confusing crash loop; say it now.
    # comments=True so that a quote inside a trailing "# it's" comment is not counted.
    try:
        shlex.split(command, comments=True)
    except ValueError as exc:
        raise expected(f"a shell command with balanced quotes ({exc})", command) from None


def to_string_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise expected("an array of non-empty strings", value)
    return tuple(value)


def to_paths(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (to_path(value),)
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    raise expected("a path or an array of paths", value)


def to_venv(value: object) -> str | bool:
    if value is False:
        return False
    if isinstance(value, str) and value.strip():
        return value
    raise expected("a path, or false to turn venv detection off", value)


def _env_value(value: object, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as TOML spells it, not Python's "True"
    if isinstance(value, int | float | str):
        return str(value)
    raise expected("a string, number or boolean", value, name)


def to_env(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise expected('a table of names to values, like { DEBUG = "1" }', value)
    env: dict[str, str] = {}
    for name, raw in value.items():
        if not name or "=" in name or "\0" in name:
            raise expected('a variable name without "="', name)
        env[name] = _env_value(raw, name)
    return env


def to_depends_on(value: object) -> dict[str, Condition]:
    conditions = [c.value for c in Condition]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value, Condition.HEALTHY)
    if isinstance(value, dict):
        deps: dict[str, Condition] = {}
        for name, raw in value.items():
            if raw not in conditions:
                raise expected(one_of(conditions), raw, name)
            deps[name] = Condition(raw)
        return deps
    raise expected('an array of service names, or a table like { db = "healthy" }', value)


def one_of(choices: Sequence[str]) -> str:
    """'"a", "b" or "c"': the allowed strings, quoted as in the file."""
    quoted = [json.dumps(c) for c in choices]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def to_restart(value: object) -> Restart:
    choices = [r.value for r in Restart]
    if value not in choices:
        raise expected(one_of(choices), value)
    return Restart(value)


def to_signal(value: object) -> signal.Signals:
    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        # Signals lists this platform's signals only: a name from another OS is refused here,
        # not discovered when the service is being stopped
        if name in signal.Signals.__members__:
            return signal.Signals[name]
    raise expected('a signal name like "SIGTERM" or "SIGINT"', value)


def to_expect_status(value: object) -> tuple[int, ...]:
    codes: list[int] = []
    for code in value if isinstance(value, list) else [value]:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise expected("an HTTP status from 100 to 599, or an array of them", value)
        codes.append(code)
    if not codes:
        raise expected("an HTTP status from 100 to 599, or an array of them", value)
    return tuple(codes)


def to_json_table(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise expected('a table like { status = "OK" }', value)
    return MappingProxyType(value)


def ceiling(backoff: float) -> Callable[[object], float]:
    def convert(value: object) -> float:
        seconds = to_duration(value)
        if seconds < backoff:  # the delay doubles up to the ceiling; below the start it means nothing
            raise expected(f"a duration of at least backoff ({backoff:g}s)", value)
        return seconds

    return convert
