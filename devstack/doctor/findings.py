"""What a pre-flight check returns, `Finding` (what is wrong, where, the fix to type), and the
`Context` every per-service check looks at: the service, its stack, and the environment
`build_env` gives it, with the ways findings show paths (relative to the stack folder, so that
every fix can be typed there as is) and keep secret values out.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.env.layers import ServiceEnv
from devstack.env.secrets import Redactor
from devstack.env.venv import venv_bin_dir, venv_python
from devstack.text.lines import no_line_breaks
from devstack.text.places import shown


class Severity(StrEnum):
    ERROR = "error"  # the service cannot start (or would fail at once); `up` does not start it
    WARNING = "warning"  # likely to hurt, but the service may start
    INFO = "info"  # what devstack found, to explain later behaviour


RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    service: str | None  # None for stack-wide findings
    severity: Severity
    check: str  # "cwd", "executable", "venv", "requirements", "env_file", "env_keys", …
    message: str  # one line: what is wrong (or, for info, what was found)
    fix: str | None  # the command or action to type


@dataclass(frozen=True)
class Context:
    """What every per-service check looks at: the service, its stack, and the
    environment `build_env` gives it."""

    stack: StackSpec
    service: ServiceSpec
    env: ServiceEnv

    def show(self, path: Path) -> str:
        return shown(path, self.stack.root)

    def arg(self, path: Path) -> str:
        """A path as a word of a shell command typed in the stack folder."""
        return shlex.quote(self.show(path))

    def finding(self, severity: Severity, check: str, message: str, fix: str | None = None) -> Finding:
        return make_finding(self.service.name, severity, check, message, fix)

    def redact(self, text: str) -> str:
        return Redactor(self.env.secrets()).text(text)

    def pip(self) -> str:
        """The venv's pip as a command word; a venv made without pip (uv, --without-pip)
        gets it first."""
        assert self.env.venv is not None
        bin_dir = venv_bin_dir(self.env.venv, self.env.windows)
        pip = self.arg(bin_dir / "pip")
        if any((bin_dir / name).is_file() for name in ("pip", "pip.exe")):
            return pip
        return f"{self.arg(venv_python(self.env.venv, self.env.windows))} -m ensurepip && {pip}"

    def venv_fix(self, venv: Path, clear: bool) -> str:
        """The command that (re)creates `venv` and installs the service's requirements."""
        python = "python" if self.env.windows else "python3"
        fix = f"{python} -m venv {'--clear ' if clear else ''}{self.arg(venv)}"
        requirements = self.service.cwd / "requirements.txt"
        if requirements.is_file():
            pip = self.arg(venv_bin_dir(venv, self.env.windows) / "pip")
            fix += f" && {pip} install -r {self.arg(requirements)}"
        return fix


def make_finding(service: str | None, severity: Severity, check: str, message: str,
                 fix: str | None) -> Finding:
    # Messages are one line by contract: a newline in a path must not break the report.
    return Finding(service, severity, check, no_line_breaks(message),
                   None if fix is None else no_line_breaks(fix))
