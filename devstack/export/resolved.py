"""The resolved stack as one document: what `devstack config` prints.

Every service with its defaults filled in, paths absolute, the venv found, the probe as devstack
runs it (its URL taken apart), dependencies with their conditions, restart and stop settings, and
the environment as layers: each variable stack.toml or devstack sets, with its layer and source,
values from `.env` files and secret-looking names masked by the same rule as `devstack env`. The
OS layer is left out: it is the caller's environment, not the stack's. Durations are seconds.

The document is also the reference the export tests compare each engine's output with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.config.durations import format_duration
from devstack.config.specs import HealthSpec, ProbeKind, ServiceSpec, StackSpec
from devstack.env.layers import Layer, build_env, masked
from devstack.export.model import Probe
from devstack.process.spawn import shell_argv


def _command(value: str | tuple[str, ...] | None) -> str | list[str] | None:
    return list(value) if isinstance(value, tuple) else value


def _json_safe(value: object) -> object:
    """expect_json as JSON: nested tables are read-only mappings, TOML dates become text."""
    return json.loads(json.dumps(value, default=lambda v: dict(v) if isinstance(v, Mapping) else str(v)))


def _health(health: HealthSpec) -> dict[str, Any]:
    probe = Probe.of(health)
    return {
        "kind": health.kind.value,
        "target": health.target,
        "host": probe.host,
        "port": probe.port,
        "path": probe.path or None,
        # http only: "200-399" is devstack's default range; a list means exactly those statuses
        "expect_status": (list(health.expect_status) if health.expect_status else probe.status_text())
        if health.kind is ProbeKind.HTTP else None,
        "expect_json": _json_safe(health.expect_json) if health.expect_json is not None else None,
        "expect_text": health.expect_text,
        "interval": health.interval,
        "timeout": health.timeout,
        "retries": health.retries,
        "start_period": health.start_period,
    }


def _service(stack: StackSpec, spec: ServiceSpec, os_env: Mapping[str, str]) -> dict[str, Any]:
    built = build_env(stack, spec, os_env)
    env = [
        {"name": var.name, "layer": var.layer.value, "source": var.source or None,
         "value": masked(var, show_values=False), "masked": masked(var, False) != var.value}
        for var in sorted(built.variables.values(), key=lambda v: (list(Layer).index(v.layer), v.name))
        if var.layer is not Layer.OS
    ]
    files = [{"path": str(p), "exists": True} for p in built.env_files]
    files += [{"path": str(p), "exists": False} for p in built.missing_env_files]
    return {
        "name": spec.name,
        "command": _command(spec.command),
        "argv": shell_argv(spec.command),
        "cwd": str(spec.cwd),
        "venv": str(built.venv) if built.venv is not None else None,
        "venv_detected": built.venv_auto,
        "port": spec.port,
        "depends_on": {name: cond.value for name, cond in spec.depends_on.items()},
        "health": _health(spec.health) if spec.health is not None else None,
        "restart": spec.restart.value,
        "max_restarts": spec.max_restarts,
        "backoff": spec.backoff,
        "backoff_max": spec.backoff_max,
        "restart_on_unhealthy": spec.restart_on_unhealthy,
        "stop_signal": spec.stop_signal.name,
        "stop_timeout": spec.stop_timeout,
        "optional": spec.optional,
        "setup": _command(spec.setup),
        "required_env": list(spec.required_env),
        "env_files": files,
        "env": env,
        "env_warnings": list(built.warnings),
    }


def resolve(stack: StackSpec, os_env: Mapping[str, str]) -> dict[str, Any]:
    """The document; `os_env` feeds `${VAR}` interpolation as it does for `devstack up`."""
    return {
        "stack": stack.name,
        "root": str(stack.root),
        "source": str(stack.source),
        "from_procfile": stack.from_procfile,
        "env_file": str(stack.env_file) if stack.env_file is not None else None,
        "start_order": stack.start_order(),
        "services": [_service(stack, spec, os_env) for spec in stack.services.values()],
    }


# --- as text ----------------------------------------------------------------------------------


def _words(value: str | list[str] | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        import shlex

        return shlex.join(value) + "  (argv, no shell)"
    return value


def _probe_text(health: dict[str, Any] | None) -> list[str]:
    if health is None:
        return ["none (running once alive for 1 s)"]
    lines = [f"{health['kind']} {health['target']}"]
    if health["kind"] == "http":
        status = health["expect_status"]
        expect = f"status {status if isinstance(status, str) else ', '.join(map(str, status))}"
        if health["expect_json"] is not None:
            expect += f", JSON containing {json.dumps(health['expect_json'])}"
        if health["expect_text"] is not None:
            expect += f", text containing {json.dumps(health['expect_text'])}"
        lines.append(f"expects {expect}")
    lines.append(f"every {format_duration(health['interval'])}, "
                 f"timeout {format_duration(health['timeout'])}, "
                 f"{health['retries']} retries, start period {format_duration(health['start_period'])}")
    return lines


def render_text(doc: dict[str, Any], root: Path | None = None) -> str:
    """The document for people: a head, then one block per service."""
    out = [f"stack {doc['stack']}  ({doc['source']})", f"start order: {', '.join(doc['start_order'])}"]
    if doc["env_file"]:
        out.append(f"stack env_file: {doc['env_file']}")
    for svc in doc["services"]:
        deps = ", ".join(f"{name} ({cond})" for name, cond in svc["depends_on"].items()) or "-"
        rows: list[tuple[str, list[str]]] = [
            ("command", [_words(svc["command"])]),
            ("cwd", [svc["cwd"]]),
            ("venv", [f"{svc['venv']}{' (found)' if svc['venv_detected'] else ''}" if svc["venv"] else "-"]),
            ("port", [str(svc["port"] or "-")]),
            ("depends_on", [deps]),
            ("health", _probe_text(svc["health"])),
            ("restart", [f"{svc['restart']}, at most {svc['max_restarts']} failed starts in a row, backoff "
                         f"{format_duration(svc['backoff'])} doubling to "
                         f"{format_duration(svc['backoff_max'])}"
                         + (", also when unhealthy" if svc["restart_on_unhealthy"] else "")]),
            ("stop", [f"{svc['stop_signal']}, then SIGKILL after {format_duration(svc['stop_timeout'])}"]),
            ("optional", ["yes" if svc["optional"] else "no"]),
            ("setup", [_words(svc["setup"])]),
        ]
        if svc["required_env"]:
            rows.append(("required_env", [", ".join(svc["required_env"])]))
        files = [f"{f['path']}{'' if f['exists'] else ' (missing)'}" for f in svc["env_files"]]
        if files:
            rows.append(("env_files", files))
        out += ["", svc["name"]]
        for key, values in rows:
            out.append(f"  {key:<13}{values[0]}")
            out += [f"  {'':<13}{v}" for v in values[1:]]
        if svc["env"]:
            width = max(len(v["name"]) for v in svc["env"])
            out.append("  env")
            for var in svc["env"]:
                source = f" ({_short(var['source'], root)})" if var["source"] else ""
                out.append(f"    {var['name']:<{width}}  {var['layer'] + source:<24}  {var['value']}")
    return "\n".join(out)


def _short(path: str, root: Path | None) -> str:
    if root is None:
        return path
    candidate = Path(path)
    return str(candidate.relative_to(root)) if candidate.is_relative_to(root) else path
