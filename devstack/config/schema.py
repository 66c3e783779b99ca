"""stack.toml's keys described once: for each key the loader knows (stackfile.py's and
probes.py's key lists), its JSON Schema, its type and default as the reference writes them, and
what it means. `devstack schema` prints the JSON Schema (draft 2020-12) that editors use
(Taplo, Even Better TOML); docs/stack-toml.md's key tables are generated from the same rows.
Building either fails on a key the loader knows and this module does not: they cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.config.durations import PATTERN as DURATION_PATTERN
from devstack.config.probes import HEALTH_KEYS, HTTP_ONLY_KEYS
from devstack.config.specs import Condition, HealthSpec, ProbeKind, Restart, ServiceSpec
from devstack.config.stackfile import SERVICE_KEYS, SERVICE_NAME, STACK_KEYS, TOP_KEYS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_SERVICE = ServiceSpec(name="", command="", cwd=Path("/"))
_HEALTH = HealthSpec(kind=ProbeKind.CMD, target="")


@dataclass(frozen=True)
class Key:
    """One key of stack.toml."""

    schema: Mapping[str, Any]  # its JSON Schema (without the description)
    type: str  # as the reference writes it
    text: str  # what it means: the reference's words and the editor's hover text
    default: str = ""  # as the reference writes it ("" when there is none)
    json_default: Any = None  # the schema's `default`, where one value is the default
    extra: Mapping[str, Any] = field(default_factory=dict)


def seconds_text(seconds: float) -> str:
    """A default duration as stack.toml would write it: 0.5 → "500ms", 30.0 → "30s"."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


_STRING = {"type": "string", "minLength": 1}
_STRINGS = {"type": "array", "items": _STRING}
_DURATION = {"$ref": "#/$defs/duration"}
_COMMAND = {"$ref": "#/$defs/command"}


def _duration(text: str, seconds: float) -> Key:
    return Key(_DURATION, "duration", text, f'"{seconds_text(seconds)}"', seconds_text(seconds))


STACK: dict[str, Key] = {
    "name": Key(_STRING, "string", "The stack's name in status, logs and exports.", "the folder's name"),
    "env_file": Key(_STRING, "path",
                    "An env file loaded for every service, below each service's own env files. Relative "
                    "to the folder of stack.toml."),
}

SERVICE: dict[str, Key] = {
    "command": Key(_COMMAND, "string or array of strings",
                   "What starts the service (required). A string with shell syntax (quotes, `$`, `&&`, "
                   "redirections, globs) runs through `/bin/sh -c`; plain words and arrays are executed "
                   "directly. The first word is looked up on the service's PATH, its venv first."),
    "cwd": Key(_STRING, "path", "The folder the service runs in, relative to the folder of stack.toml. "
               "venv, env_file and a relative command are relative to it.", '"."', "."),
    "venv": Key({"oneOf": [_STRING, {"enum": [False]}]}, "path or false",
                "The Python virtualenv to activate, relative to cwd: its bin/ first on PATH, VIRTUAL_ENV "
                "set, PYTHONHOME unset. Without it, `venv/` or `.venv/` in cwd is used when it holds "
                "pyvenv.cfg; `false` turns that off.", "found in cwd"),
    "env_file": Key({"oneOf": [_STRING, {**_STRINGS, "minItems": 1}]}, "path or array of paths",
                    "Env files of the service, relative to cwd, in python-dotenv syntax with `${VAR}` "
                    "interpolation; later files win.", '".env" when it exists'),
    "env": Key({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
               "table", "Variables set last, above every env file; `${VAR}` is interpolated.", "{}"),
    "required_env": Key(_STRINGS, "array of strings",
                        "Names that must be set (by any layer) before the service starts.", "[]"),
    "port": Key({"type": "integer", "minimum": 1, "maximum": 65535}, "integer",
                "The port the service listens on: checked free before it starts (else its holder is "
                "named), and given to it as PORT unless env sets PORT."),
    "depends_on": Key({"oneOf": [_STRINGS, {"type": "object", "additionalProperties": {
        "enum": [c.value for c in Condition]}}]}, "array, or table of name → condition",
        "Services to wait for before starting. An array waits until each is healthy; a table names the "
        'condition for each: "healthy", "started" (its process runs) or "completed" (it exited with '
        "code 0). A cycle is a configuration error.", "[]"),
    "health": Key({"$ref": "#/$defs/health"}, "table",
                  "How devstack knows the service is ready: exactly one probe kind (below). Without it, a "
                  "service is `running` once its process has stayed alive for 1 s.", "none"),
    "restart": Key({"enum": [r.value for r in Restart]}, "string",
                   'What happens when the process exits: "on-failure" restarts it after a failure (a '
                   'non-zero exit, or a start that never became healthy), "always" also after exit 0, '
                   '"no" never.', f'"{_SERVICE.restart}"', str(_SERVICE.restart)),
    "max_restarts": Key({"type": "integer", "minimum": 0}, "integer",
                        "Failed starts in a row after which the service is `failed` and left alone. The "
                        "count is forgotten once it has been up for 30 s.", str(_SERVICE.max_restarts),
                        _SERVICE.max_restarts),
    "backoff": _duration("The delay before the first restart; it doubles after each failed start.",
                         _SERVICE.backoff),
    "backoff_max": _duration("The longest delay between two restarts (at least backoff).",
                             _SERVICE.backoff_max),
    "restart_on_unhealthy": Key({"type": "boolean"}, "boolean",
                                "Restart a service whose probe fails `retries` times in a row after it "
                                "was healthy (otherwise it stays `unhealthy` and keeps being probed).",
                                "false", False),
    "stop_signal": Key({"type": "string", "pattern": "^\\s*(?:[Ss][Ii][Gg])?[A-Za-z0-9+]+\\s*$"},
                       "signal name", 'The signal that asks the service to stop ("SIGTERM", "SIGINT", '
                       '"INT", …). After stop_timeout, its whole process tree gets SIGKILL.',
                       f'"{_SERVICE.stop_signal.name}"', _SERVICE.stop_signal.name),
    "stop_timeout": _duration("How long a service gets to stop before its process tree is killed.",
                              _SERVICE.stop_timeout),
    "setup": Key(_COMMAND, "string or array of strings",
                 "What prepares the service (`npm ci`, `pip install -r requirements.txt`, a build), in its "
                 "cwd, venv and env: run by `devstack setup`, and by `devstack up` when it never ran or "
                 "what it builds is missing or older than its inputs.", "none"),
    "optional": Key({"type": "boolean"}, "boolean",
                    "Its failure leaves the stack `degraded` instead of failed: it never stops the others "
                    "and never fails `up -d` or `status`.", "false", False),
}

HEALTH: dict[str, Key] = {
    "http": Key({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/\\s]+"}, "URL",
                "Passes when a GET of the URL answers with an expected status (and body). `localhost` is "
                "dialled over IPv4 and IPv6 at once."),
    "tcp": Key({"type": "string", "pattern": "^\\s*(?:\\[[^\\]]+\\]|[^:\\s\\[\\]]+):\\d+\\s*$"},
               '"host:port"', 'Passes when a connection is accepted ("127.0.0.1:5432", "[::1]:5432").'),
    "cmd": Key(_STRING, "shell command",
               "Passes when the command exits 0; it runs in the service's cwd, venv and env."),
    "log": Key(_STRING, "regular expression",
               "Passes once a line of the service's output matches (Python `re.search` syntax). Not "
               "polled: the service is then watched as `running`."),
    "expect_status": Key({"oneOf": [{"$ref": "#/$defs/status"},
                                    {"type": "array", "items": {"$ref": "#/$defs/status"}, "minItems": 1}]},
                         "integer or array (http)", "The statuses that pass.", "200–399"),
    "expect_json": Key({"type": "object"}, "table (http)",
                       "The JSON body must contain this table (a subset match, nested tables too)."),
    "expect_text": Key(_STRING, "string (http)", "The body must contain this text."),
    "interval": _duration("How often a service that is up is probed. While it starts, devstack probes "
                          "far more often (from every 10 ms), so that readiness is seen at once.",
                          _HEALTH.interval),
    "timeout": _duration("How long one probe may take.", _HEALTH.timeout),
    "retries": Key({"type": "integer", "minimum": 1}, "integer",
                   "Failed probes in a row that make a healthy service `unhealthy`.", str(_HEALTH.retries),
                   _HEALTH.retries),
    "start_period": _duration("How long a start may take to pass its first probe before it counts as a "
                              "failed start.", _HEALTH.start_period),
}

TOP: dict[str, Key] = {
    "stack": Key({"$ref": "#/$defs/stack"}, "table", "The stack as a whole (optional)."),
    "services": Key({"$ref": "#/$defs/services"}, "table of tables",
                    "One table per service, `[services.NAME]`: a name of letters, digits, `_`, `.` and `-`."),
}


def _properties(keys: Mapping[str, Key], known: Sequence[str], where: str) -> dict[str, Any]:
    """The schema's properties for the loader's `known` keys, in the loader's order."""
    missing = [name for name in known if name not in keys]
    extra = [name for name in keys if name not in known]
    if missing or extra:
        raise AssertionError(f"{where}: the schema lacks {missing} / has unknown {extra}")
    properties: dict[str, Any] = {}
    for name in known:
        key = keys[name]
        prop = {**key.schema, "description": key.text}
        if key.json_default is not None:
            prop["default"] = key.json_default
        properties[name] = prop
    return properties


def _table(keys: Mapping[str, Key], known: Sequence[str], where: str, **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": _properties(keys, known, where), "additionalProperties": False,
            **more}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of stack.toml (draft 2020-12)."""
    kinds = [kind.value for kind in ProbeKind]
    # Exactly one probe kind, and the http-only keys only with http: written with keywords every
    # draft knows (Taplo's validator is not a 2020-12 one), not dependentRequired.
    http_only = {"not": {"anyOf": [{"required": [name]} for name in HTTP_ONLY_KEYS]}}
    health = _table(HEALTH, HEALTH_KEYS, "health", oneOf=[{"required": [kind]} for kind in kinds],
                    anyOf=[{"required": ["http"]}, http_only])
    return {
        "$schema": DRAFT,
        "title": "devstack stack.toml",
        "description": "The services of a development stack, as devstack runs them (docs/stack-toml.md).",
        **_table(TOP, TOP_KEYS, "top level"),
        "$defs": {
            "stack": _table(STACK, STACK_KEYS, "stack"),
            "services": {"type": "object", "minProperties": 1,
                         "propertyNames": {"pattern": SERVICE_NAME.pattern},
                         "additionalProperties": {"$ref": "#/$defs/service"}},
            "service": _table(SERVICE, SERVICE_KEYS, "service", required=["command"]),
            "health": health,
            "command": {"oneOf": [{"type": "string", "pattern": "\\S"},
                                  {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                   "prefixItems": [{"type": "string", "pattern": "\\S"}]}]},
            "duration": {"oneOf": [{"type": "string", "pattern": DURATION_PATTERN},
                                   {"type": "number", "minimum": 0}],
                         "description": 'A duration: "250ms", "5s", "2m", "1h", "1d", compound like '
                                        '"1h30m", or a number of seconds.'},
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
        },
    }
