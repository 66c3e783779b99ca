"""The pre-flight checks' tests (devstack/doctor), unit and integration alike: a stack folder,
an OS PATH of one folder, the reference stack's ai-api as the default service, and findings as
(severity, message, fix) rows. Its fixtures are registered for every suite by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import pytest

from devstack.config.specs import StackSpec
from devstack.doctor.checks import check_service
from devstack.doctor.findings import Finding, Severity
from devstack.process import owners
from devstack.process.owners import PortHolder
from tests.support import specs

SECRET = "s3cr3t-value-123"

Env = dict[str, str]
Row = tuple[Severity, str, str | None]  # a finding without its service and check


def no_holders(port: int) -> list[PortHolder]:
    return []


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "stack"
    path.mkdir()
    return path


@pytest.fixture
def sysbin(tmp_path: Path) -> Path:
    """The only folder on the OS PATH the checks see, so that lookups are deterministic."""
    path = tmp_path / "sysbin"
    path.mkdir()
    return path


@pytest.fixture
def os_env(sysbin: Path) -> dict[str, str]:
    return {"PATH": str(sysbin)}


# The services of these tests are the reference stack's ai-api unless a test says otherwise.
make_service = partial(specs.make_service, name="ai-api", cwd="apps/ai-api", command="sh -c true")


def check(stack: StackSpec, os_env: Mapping[str, str], name: str | None = None,
          port_owner: owners.PortOwner = no_holders) -> list[Finding]:
    service = stack.services[name] if name else next(iter(stack.services.values()))
    return check_service(stack, service, os_env, port_owner=port_owner)


def of(findings: Sequence[Finding], *checks: str) -> list[Row]:
    return [(f.severity, f.message, f.fix) for f in findings if f.check in checks]
