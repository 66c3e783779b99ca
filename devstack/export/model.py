"""The neutral model every engine exports from: ExportStack, built once from the specs.

It holds what devstack itself would do with each service, worked out with devstack's own code:
the argv `spawn.shell_argv` runs, the executable found on the service's PATH (its venv first),
the probe with its URL taken apart, the runtime, and an env plan that sorts every variable into
what may be written (stack.toml's `env` and devstack's own, when not secret), what may only be
named (secret-looking names, values built from secrets), and the env files to reference. Values
read from env files stay in memory here, only to find problems; no engine gets them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from devstack.config.specs import HealthSpec, ProbeKind, ServiceSpec, StackSpec
from devstack.env.executables import resolve_executable
from devstack.env.layers import Layer, ServiceEnv, build_env
from devstack.export import links
from devstack.export.runtime import Runtime, detect
from devstack.probes.target import probe_target
from devstack.process.spawn import shell_argv

DEFAULT_STATUS = (200, 399)  # an http probe passes on 200–399 unless expect_status says
_FILE_LAYERS = (Layer.STACK_ENV_FILE, Layer.SERVICE_ENV_FILE)
# devstack's own variables that a service may rely on and an engine can set the same way;
# PATH and VIRTUAL_ENV (the venv) each engine sets its own way, FORCE_COLOR follows a terminal.
_CARRIED_DEVSTACK_VARS = ("PORT", "PYTHONUNBUFFERED")


def span(seconds: float) -> str:
    """A duration as compose and systemd both read it: "30s", "500ms", "1.5s"."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    millis = seconds * 1000
    if abs(millis - round(millis)) < 1e-6:
        return f"{round(millis)}ms"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Probe:
    """A service's probe with its target taken apart (host, port, path)."""

    health: HealthSpec
    host: str | None = None
    port: int | None = None
    path: str = ""  # http: path and query, "/" at least
    scheme: str = ""  # http: "http" or "https"

    @property
    def kind(self) -> ProbeKind:
        return self.health.kind

    @property
    def statuses(self) -> tuple[int, ...] | None:
        """The statuses that pass, or None for the default range 200–399."""
        return self.health.expect_status

    def status_text(self) -> str:
        if self.statuses is None:
            return f"{DEFAULT_STATUS[0]}-{DEFAULT_STATUS[1]}"
        return ",".join(str(code) for code in self.statuses)

    @property
    def checks_body(self) -> bool:
        return self.health.expect_json is not None or self.health.expect_text is not None

    @classmethod
    def of(cls, health: HealthSpec) -> Probe:
        target = probe_target(health)
        if health.kind is ProbeKind.HTTP:
            parts = urlsplit(health.target)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            return cls(health, target.host if target else None, target.port if target else None, path,
                       parts.scheme.lower())
        if target is not None:
            return cls(health, target.host, target.port)
        return cls(health)


@dataclass(frozen=True)
class EnvFile:
    path: Path  # absolute
    layer: Layer
    exists: bool
    # it has `${VAR}` references, which devstack (and compose) expand and systemd and kubectl do not
    interpolates: bool = False

    @classmethod
    def of(cls, path: Path, layer: Layer) -> EnvFile:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls(path, layer, False)
        return cls(path, layer, True, "${" in text)


@dataclass(frozen=True)
class FileLink:
    """A variable of an env file whose value reaches another service through localhost."""

    variable: str
    file: Path
    service: str


@dataclass(frozen=True)
class EnvPlan:
    files: tuple[EnvFile, ...]  # to reference, lowest layer first (missing ones too: the service needs them)
    plain: Mapping[str, str]  # may be written: stack.toml `env` and devstack's own, none secret
    secret: tuple[str, ...]  # stack.toml `env` names whose values must never be written
    interpolated: tuple[str, ...]  # plain names whose value `${…}` took from this machine
    shadowed: tuple[str, ...]  # names an env file sets and stack.toml's `env` overrides
    file_links: tuple[FileLink, ...]


@dataclass(frozen=True)
class ExportService:
    spec: ServiceSpec
    argv: tuple[str, ...]  # what devstack executes (spawn.shell_argv)
    executable: str | None  # argv[0] found on the service's PATH; None when not found
    venv: Path | None
    runtime: Runtime
    probe: Probe | None
    env: EnvPlan

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class ExportStack:
    spec: StackSpec
    services: tuple[ExportService, ...]  # in start order
    owners: Mapping[int, str]  # port → the service that owns it (links.port_owners)

    @property
    def name(self) -> str:
        return self.spec.name

    def service(self, name: str) -> ExportService:
        return next(s for s in self.services if s.name == name)

    def waited_on(self, name: str) -> set[str]:
        """The conditions other services wait for in `name` ("healthy", "completed", …)."""
        return {s.spec.depends_on[name].value for s in self.services if name in s.spec.depends_on}


def build(stack: StackSpec, os_env: Mapping[str, str]) -> ExportStack:
    """The model of `stack`; `os_env` only feeds `${VAR}` interpolation, as for `devstack up`."""
    owners = links.port_owners(stack)
    envs = {name: build_env(stack, spec, os_env) for name, spec in stack.services.items()}
    plans = {name: _env_plan(stack, spec, envs[name], os_env, owners)
             for name, spec in stack.services.items()}
    services = []
    for name in stack.start_order():
        spec, built = stack.services[name], envs[name]
        argv = tuple(shell_argv(spec.command))
        others = [dict(p.plain) for n, p in plans.items() if n != name]
        runtime = detect(spec, built.venv, argv, plans[name].plain, others)
        executable = (argv[0] if argv[0].startswith("/")
                      else resolve_executable(argv, built.as_dict(), spec.cwd))
        probe = Probe.of(spec.health) if spec.health is not None else None
        services.append(ExportService(spec, argv, executable, built.venv, runtime, probe, plans[name]))
    return ExportStack(stack, tuple(services), MappingProxyType(owners))


def _env_plan(stack: StackSpec, spec: ServiceSpec, built: ServiceEnv, os_env: Mapping[str, str],
              owners: Mapping[int, str]) -> EnvPlan:
    # The same service without its `env` table: which names the files alone set, and to what.
    files_only = build_env(stack, dataclasses.replace(spec, env=MappingProxyType({})), os_env)
    from_files = {v.name: v for v in files_only.variables.values() if v.layer in _FILE_LAYERS}
    plain: dict[str, str] = {}
    secret: list[str] = []
    interpolated: list[str] = []
    for name, raw in spec.env.items():
        var = built.get(name)
        if var is None or var.layer is not Layer.ENV:
            continue  # a name the OS refuses (reported by `doctor`), or replaced by devstack's own
        if var.secret:
            secret.append(var.name)
            continue
        plain[var.name] = var.value
        if var.value != raw:
            interpolated.append(var.name)
    for name in _CARRIED_DEVSTACK_VARS:
        var = built.get(name)
        if var is not None and var.layer is Layer.DEVSTACK:
            plain[var.name] = var.value
    files = [EnvFile.of(p, Layer.STACK_ENV_FILE if p == stack.env_file else Layer.SERVICE_ENV_FILE)
             for p in (*built.env_files, *built.missing_env_files)]
    files.sort(key=lambda f: f.layer is Layer.SERVICE_ENV_FILE)  # stable: the stack's file first
    file_links = tuple(
        FileLink(var.name, Path(var.source), link.service)
        for var in from_files.values()
        for link in links.find(var.value, owners, spec.name)[:1]
    )
    shadowed = tuple(name for name in spec.env if name in from_files)
    return EnvPlan(tuple(files), MappingProxyType(plain), tuple(secret), tuple(interpolated), shadowed,
                   file_links)
