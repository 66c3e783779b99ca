"""Waiting on a condition with a deadline, never sleeping and hoping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `predicate` every `interval` s until it returns something truthy, and return that;
    AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def watch_for(seconds: float, check: Callable[[], list[Any]]) -> list[Any]:
    """Prove an absence: poll `check` for `seconds`, returning at its first non-empty answer."""
    deadline = time.monotonic() + seconds
    found: list[Any] = []
    while time.monotonic() < deadline and not found:
        found = check()
        time.sleep(0.02)
    return found or check()


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """wait_until inside a coroutine: the event loop runs between the polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
