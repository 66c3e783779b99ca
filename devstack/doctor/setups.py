"""The record of the setups devstack ran: `.devstack/setup/NAME.json` per service, written when
a service's setup succeeds (`devstack setup`, or `up` running it first), holding the setup
command. It tells a setup that never ran, or whose command has changed since, where nothing it
builds can be looked at (a database initialised by a script, a code generator).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import NamedTuple

from devstack.config.specs import ServiceSpec, StackSpec


class SetupRecord(NamedTuple):
    command: str  # the setup as it ran, one line
    at: float  # when it finished (the record file's time)


def setup_text(spec: ServiceSpec) -> str:
    """The service's setup command as one line ("" without one)."""
    import shlex

    if spec.setup is None:
        return ""
    return spec.setup if isinstance(spec.setup, str) else shlex.join(spec.setup)


def record_path(stack: StackSpec, name: str) -> Path:
    return stack.state_dir / "setup" / f"{name}.json"


def read_record(stack: StackSpec, spec: ServiceSpec) -> SetupRecord | None:
    """The last successful setup of `spec`, or None (never ran, or the record is unreadable)."""
    path = record_path(stack, spec.name)
    try:
        data = json.loads(path.read_text())
        return SetupRecord(str(data["command"]), path.stat().st_mtime)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(stack: StackSpec, spec: ServiceSpec) -> None:
    """Record that `spec`'s setup just succeeded (never raises: a record is a hint, not state
    that anything depends on)."""
    path = record_path(stack, spec.name)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"command": setup_text(spec)}) + "\n")
        os.replace(temporary, path)
