"""Immutable descriptions of a stack, as read from stack.toml or a Procfile.

A *spec* is configuration after validation: every path absolute, every duration in
seconds, every default filled in. Nothing here touches the file system or the clock.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType


class Restart(StrEnum):
    ON_FAILURE = "on-failure"
    ALWAYS = "always"
    NO = "no"


class Condition(StrEnum):
    """What a dependent waits for in its dependency."""

    HEALTHY = "healthy"
    STARTED = "started"
    COMPLETED = "completed"


class ProbeKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    CMD = "cmd"
    LOG = "log"


def _frozen_map(data: Mapping[str, object] | None = None) -> Mapping[str, object]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class HealthSpec:
    kind: ProbeKind
    target: str  # URL (http), "host:port" (tcp), shell command (cmd), regex (log)
    expect_status: tuple[int, ...] | None = None  # None: any status from 200 to 399
    expect_json: Mapping[str, object] | None = None  # subset match on the JSON body
    expect_text: str | None = None
    interval: float = 2.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 60.0


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    command: str | tuple[str, ...]  # str: through /bin/sh -c; tuple: exec'd directly
    cwd: Path  # absolute
    venv: Path | None = None  # absolute; None: auto-detect in cwd
    venv_disabled: bool = False  # `venv = false`
    env_files: tuple[Path, ...] | None = None  # absolute; None: cwd/.env when present
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    required_env: tuple[str, ...] = ()
    port: int | None = None
    depends_on: Mapping[str, Condition] = field(default_factory=lambda: MappingProxyType({}))
    health: HealthSpec | None = None
    restart: Restart = Restart.ON_FAILURE
    max_restarts: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    restart_on_unhealthy: bool = False
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 10.0
    setup: str | tuple[str, ...] | None = None
    optional: bool = False

    @property
    def command_text(self) -> str:
        """The command as one line, for messages."""
        import shlex

        return self.command if isinstance(self.command, str) else shlex.join(self.command)


@dataclass(frozen=True)
class StackSpec:
    name: str
    root: Path  # the folder that holds stack.toml (or the Procfile): absolute
    source: Path  # the file the stack was read from
    services: Mapping[str, ServiceSpec]  # in file order
    env_file: Path | None = None  # the stack-wide env file, absolute
    from_procfile: bool = False

    @property
    def state_dir(self) -> Path:
        return self.root / ".devstack"

    def start_order(self) -> list[str]:
        """Service names so that each comes after its dependencies (file order breaks ties)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for dep in self.services[name].depends_on:
                if dep in self.services:
                    visit(dep)
            order.append(name)

        for name in self.services:
            visit(name)
        return order

    def with_dependencies(self, names: list[str]) -> list[str]:
        """The named services and everything they depend on, in start order."""
        wanted: set[str] = set()

        def visit(name: str) -> None:
            if name in wanted:
                return
            wanted.add(name)
            for dep in self.services[name].depends_on:
                visit(dep)

        for name in names:
            visit(name)
        return [n for n in self.start_order() if n in wanted]
