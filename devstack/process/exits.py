"""How a process ended, in words: an exit code, or the signal that killed it (a negative
returncode, as asyncio and subprocess report it)."""

from __future__ import annotations

import signal


def _killer(code: int) -> str:
    """`SIGKILL` for -9; `signal 42` for a number no signal of this platform has."""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def exit_text(code: int | None) -> str:
    """A service's exit as its events say it: "exited with code 1", "was killed by SIGKILL"."""
    if code is None:
        return "exited"
    if code < 0:
        return f"was killed by {_killer(code)}"
    return f"exited with code {code}"


def exit_status(code: int) -> str:
    """A command's exit in a probe's error: "exit code 1", "killed by SIGKILL"."""
    return f"killed by {_killer(code)}" if code < 0 else f"exit code {code}"
