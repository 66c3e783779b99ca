"""Pre-flight checks: what would keep a service from starting, found before it starts.

This module runs them: `doctor` runs `check_stack` and prints `report.render_findings`; `up`
runs `check_service` before a service's first start and fails the service with
`blocking_error` when there is one. Each check family has its module: cwd, venv, executable,
packages (requirements.txt), envfiles (env files, their example's keys, required_env), setup
(what setup builds is there and current), jvm (a new enough Java), port and localhost;
findings.py holds what they share.

Checks never print and never raise for a problem in the user's project. A value from a
.env file never enters a finding: checks speak of names, paths and packages only, and
text taken from outside (another process's command line, the venv python's error
output) is redacted of secret values first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.doctor.cwd import check_cwd
from devstack.doctor.envfiles import check_env_files, check_env_keys, check_required_env, check_stack_env_file
from devstack.doctor.executable import check_executable
from devstack.doctor.findings import Context, Finding, Severity
from devstack.doctor.jvm import check_java
from devstack.doctor.localhost import LocalhostResolver, check_localhost, resolve_localhost
from devstack.doctor.packages import check_requirements
from devstack.doctor.port import check_port
from devstack.doctor.setup import check_setup
from devstack.doctor.venv import check_venv, venv_ok
from devstack.env.layers import build_env
from devstack.process.owners import PortOwner, system_port_owner


def _service_checks(ctx: Context, port_owner: PortOwner) -> list[Finding]:
    cwd = check_cwd(ctx)
    if cwd:
        # Everything else lives in cwd: its findings would only repeat this one.
        return cwd + check_port(ctx, port_owner)
    venv = check_venv(ctx)
    venv_usable = venv_ok(venv)
    return [
        *venv,
        # A broken venv's fix recreates it and installs requirements: that covers both.
        *(check_executable(ctx) if venv_usable else []),
        *check_requirements(ctx, venv_usable),
        *check_env_files(ctx),
        *check_env_keys(ctx),
        *check_required_env(ctx),
        *check_setup(ctx),
        *check_java(ctx),
        *check_port(ctx, port_owner),
    ]


def check_service(
    stack: StackSpec,
    service: ServiceSpec,
    os_env: Mapping[str, str],
    *,
    port_owner: PortOwner | None = None,
) -> list[Finding]:
    """Everything that keeps `service` from starting, including the stack env file's
    problems (filed under the service). `port_owner`: None for the real one."""
    ctx = Context(stack, service, build_env(stack, service, os_env))
    owner = port_owner or system_port_owner(stack)
    return check_stack_env_file(ctx, service.name) + _service_checks(ctx, owner)


def check_stack(
    stack: StackSpec,
    os_env: Mapping[str, str],
    *,
    names: Sequence[str] | None = None,
    port_owner: PortOwner | None = None,
    resolve: LocalhostResolver = resolve_localhost,
) -> list[Finding]:
    """Every check for the named services (default: all), then the stack-wide ones (the
    stack env file once, localhost)."""
    owner = port_owner or system_port_owner(stack)
    findings: list[Finding] = []
    first: Context | None = None
    for name in names if names is not None else list(stack.services):
        service = stack.services[name]
        ctx = Context(stack, service, build_env(stack, service, os_env))
        first = first or ctx
        findings += _service_checks(ctx, owner)
    if first is not None:
        findings += check_stack_env_file(first, None)
    return findings + check_localhost(stack, resolve)


def blocking_error(findings: list[Finding]) -> str | None:
    """The first error as one line, "message (fix: …)": why `up` does not start a service."""
    for finding in findings:
        if finding.severity is Severity.ERROR:
            return finding.message + (f" (fix: {finding.fix})" if finding.fix else "")
    return None


