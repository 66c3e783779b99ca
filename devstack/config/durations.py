"""Durations as stack.toml and the command line write them: "250ms", "5s", "2m", "1h", "1d",
compound forms like "1h30m" or "2m30s", or a number of seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)"  # "ms" before "m": the longest unit wins
# One regex for the whole text (also the JSON Schema's pattern): a bare number of seconds, or
# one or more number-unit parts ("1h30m", "1h 30m").
PATTERN = r"^\s*(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?\s*(?:ms|d|h|m|s)\s*)+)\s*$"
_WHOLE = re.compile(PATTERN)
_PARTS = re.compile(_PART)
EXPECTED = 'a duration like "5s", "250ms" or "1h30m"'


def has_unit(value: str) -> bool:
    """Whether `value` is a duration with a unit ("10m", "1h30m"), not a bare number."""
    return bool(_WHOLE.match(value)) and bool(_PARTS.search(value))


def parse_duration(value: object) -> float:
    """Seconds for a duration value; ValueError with a plain message when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"expected {EXPECTED}, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration that is not negative, got {value!r}")
        return float(value)
    if isinstance(value, str) and _WHOLE.match(value):
        parts = _PARTS.findall(value)
        if not parts:
            return float(value)
        return sum(float(number) * _UNITS[unit] for number, unit in parts)
    raise ValueError(f"expected {EXPECTED}, got {value!r}")


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
