"""`devstack logs --since VALUE`: a duration ago, an ISO time, or a clock time today, as the
aware UTC time it means.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from devstack.config.durations import has_unit, parse_duration

_CLOCK_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*$")


def parse_since(value: str, now: datetime) -> datetime:
    """The aware UTC time `--since VALUE` means.

    Durations ago: "250ms", "10s", "5m", "2h", "1h30m", "1d" (a unit is required: a bare number is
    too easily a mistyped time). ISO times: "2026-11-26T05:00:00Z" or with an offset;
    without one they are local time, like "2026-11-26T05:00" and "2026-11-26".
    "HH:MM" or "HH:MM:SS" means that time today, local time (even if still to come).
    """
    local_now = now.astimezone()  # an aware `now` keeps its instant; a naive one is local
    if has_unit(value):
        return (local_now - timedelta(seconds=parse_duration(value))).astimezone(UTC)
    clock = _CLOCK_TIME.match(value)
    if clock:
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        micro = int((clock[4] or "0").ljust(6, "0"))
        if hour < 24 and minute < 60 and second < 60:
            naive = datetime.combine(local_now.date(), datetime.min.time()).replace(
                hour=hour, minute=minute, second=second, microsecond=micro
            )
            return naive.astimezone().astimezone(UTC)
    else:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return (when.astimezone() if when.tzinfo is None else when).astimezone(UTC)
    raise ValueError(
        f'expected a duration like "10m", "250ms" or "1h30m", or a time like "2026-11-26T05:00:00" '
        f'or "05:00", got {value!r}'
    )
