"""The errors devstack raises on purpose, each meant to reach the user as one or two sentences.

    DevstackError            anything devstack reports to the user; `exit_code` says how the CLI exits
    ├── ConfigError          stack.toml / Procfile problems, all of them at once (exit 2)
    ├── UsageError           a bad command line: unknown service name, bad option value (exit 2)
    ├── NotRunning           no supervisor runs for this stack (exit 3)
    ├── AlreadyRunning       a supervisor holds this stack's lock (internal: `up` then talks to it)
    ├── ControlError         the control channel failed or the supervisor answered with an error (exit 1)
    └── SpawnError           a service's process could not be started (becomes service state, not a crash)

Anything else escaping to the CLI is a bug and is shown as one, with the hint to run `--debug`.
"""

from __future__ import annotations

from typing import NamedTuple  # not a dataclass: `status` imports this module, and must start fast


class DevstackError(Exception):
    exit_code = 1

    @property
    def message(self) -> str:
        return str(self)


class Problem(NamedTuple):
    """One configuration problem: where it is and what is wrong."""

    file: str
    key: str  # dotted key path, e.g. "services.api.port"; "" for the whole file
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.message}"


class ConfigError(DevstackError):
    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(DevstackError):
    exit_code = 2


class NotRunning(DevstackError):
    exit_code = 3


class AlreadyRunning(DevstackError):
    exit_code = 1

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        super().__init__(f"a supervisor is already running for this stack (pid {pid})")


class ControlError(DevstackError):
    exit_code = 1


class SpawnError(DevstackError):
    exit_code = 1
