"""What the fault tests report: the `figure` callback's type, percentiles, and KnownBug."""

from __future__ import annotations

import math
from collections.abc import Callable

# figure(name, value, unit, threshold): one JSON line per figure (tests/fault/conftest.py).
Figure = Callable[..., None]


class KnownBug(AssertionError):
    """The failure of a devstack bug that a fault test found, raised on the bug's symptom; a
    subclass (or the message) describes the bug. The bugs found so far are fixed and their tests
    pass: one that comes back fails with its description, while any other failure (a broken
    helper, a timeout) stays a plain AssertionError."""


def pctl(values: list[float], p: float) -> float:
    """The value at rank round(p% × (n − 1)) of the sorted values; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the value at rank ⌈pct% × n⌉; NaN for none (a test that failed
    before it measured anything)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]
