"""Durations as stack.toml writes them: "250ms", "5s", "2m", "1h", or a number of seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds for a duration value; ValueError with a plain message when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like \"5s\" or \"250ms\", got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration that is not negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"expected a duration like \"5s\" or \"250ms\", got {value!r}")


def format_duration(seconds: float) -> str:
    """A short human form: 0.4 s, 12 s, 3m05s, 2h01m."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
