"""The stack.toml text: a header, then per service a comment naming its evidence and its table,
keys in one fixed order, strings quoted so that tomllib reads back exactly what was meant
(multi-line scripts as literal ''' strings, everything else as basic strings).
"""

from __future__ import annotations

import json
import re

from devstack.init.model import Service

HEADER = """\
# Written by `devstack init`: the services found in this repository, each with what it was
# found from. Edit freely. `devstack doctor` checks it, `devstack setup` prepares each service
# (venvs, packages, the database), `devstack up` runs them.
"""
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def string(value: str) -> str:
    """A TOML string for `value`: a multi-line literal for scripts, else a basic string."""
    if "\n" in value and "'''" not in value and not _CONTROL.search(value) and not value.endswith("'"):
        return "'''\n" + value + "'''"
    text = json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's, but for DEL
    return text.replace("\x7f", "\\u007f")


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else string(name)


def _health(service: Service) -> str:
    probe = service.found.probe
    parts = [f"{probe.kind} = {string(probe.target)}"]
    if probe.start_period:
        parts.append(f"start_period = {string(probe.start_period)}")
    return "{ " + ", ".join(parts) + " }"


def _comment(service: Service) -> list[str]:
    lines = [f"# {service.name}: {service.found.headline()}"]
    lines += [f"#   {line}" for line in [*service.found.evidence, *service.evidence] if line]
    return lines


def service_table(service: Service) -> list[str]:
    found = service.found
    table = f"services.{key(service.name)}"
    lines = [*_comment(service), f"[{table}]"]
    pairs: list[tuple[str, str]] = []
    if found.folder != ".":
        pairs.append(("cwd", string(found.folder)))
    if found.venv:
        pairs.append(("venv", string(found.venv)))
    if found.env_file:
        pairs.append(("env_file", string(found.env_file)))
    if found.setup:
        pairs.append(("setup", string(found.setup)))
    pairs.append(("command", string(found.command)))
    if service.depends_on:
        pairs.append(("depends_on", "[" + ", ".join(string(d) for d in service.depends_on) + "]"))
    pairs.append(("port", str(found.port)))
    if found.stop_signal:
        pairs.append(("stop_signal", string(found.stop_signal)))
    pairs.append(("health", _health(service)))
    lines += [f"{name} = {value}" for name, value in pairs]
    env = [*found.env, *service.env]
    if env:
        lines += ["", f"[{table}.env]"] + [f"{key(name)} = {string(value)}" for name, value in env]
    return lines


def render(services: list[Service]) -> str:
    out = [HEADER.rstrip("\n")]
    for service in services:
        out += ["", *service_table(service)]
    return "\n".join(out) + "\n"
