"""Waiting for the supervisor's own children, and what the platform offers for it: asyncio's
children waited for on pidfds (`PidfdWatcher`), the one list of them the subreaper (reaper.py)
needs, whether this machine has a child subreaper at all (`unavailable`), and /proc's clock.

Python 3.11's default watcher waits for each child on a thread of its own: 100 services make
100 threads, and every exit hops threads before the loop hears of it. 3.12 and 3.13 pick pidfds
by themselves, but only a watcher of our own says which children are asyncio's; 3.14 no longer
lets a program choose (then `unavailable` says so, and the subreaper stays off).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def prctl(option: int, value: int) -> bool:
    """prctl(2) with one argument, through libc (ctypes: no package for one call). True on success."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def unavailable() -> str | None:
    """Why this machine gives devstack no child subreaper, or None when it does."""
    if not sys.platform.startswith("linux"):
        return f"{sys.platform} has no child subreaper (a Linux feature)"
    if not hasattr(asyncio, "set_child_watcher"):
        return (f"Python {sys.version_info.major}.{sys.version_info.minor}'s asyncio no longer lets "
                "devstack wait for its own children, which a subreaper needs")
    if not hasattr(os, "pidfd_open"):
        return "this Python has no pidfd_open"
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return "the kernel has no pidfds (Linux 5.3+), or a sandbox forbids them"
    flag = ctypes.c_int(0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = int(libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        ok = False
    return None if ok else "prctl(PR_GET_CHILD_SUBREAPER) is refused here"


def ticks_now() -> int:
    """Now, in /proc's start-time unit: clock ticks since boot."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLK_TCK)


if TYPE_CHECKING or hasattr(asyncio, "AbstractChildWatcher"):
    _Watcher = asyncio.AbstractChildWatcher
else:  # Windows, and Python 3.14+: no child watchers (`unavailable` says so before any use)
    _Watcher = object

with warnings.catch_warnings():
    # Python 3.12 deprecates child watchers (and warns at subclassing).
    warnings.simplefilter("ignore", DeprecationWarning)

    class PidfdWatcher(_Watcher):
        """asyncio's children, each waited for on a pidfd in the event loop (as Python's
        PidfdChildWatcher does: no thread per child, no SIGCHLD), and the one list of them."""

        def __init__(self, loop: asyncio.AbstractEventLoop, forked: Callable[[int], None],
                     reaped: Callable[[int], None]) -> None:
            self._loop = loop
            self._forked = forked
            self._reaped = reaped
            self._children: dict[int, tuple[int, Callable[..., Any], tuple[Any, ...]]] = {}

        def owns(self, pid: int) -> bool:
            return pid in self._children

        def add_child_handler(self, pid: int, callback: Callable[..., Any], *args: Any) -> None:  # type: ignore[override]
            existing = self._children.get(pid)
            if existing is not None:
                self._children[pid] = existing[0], callback, args
                return
            pidfd = os.pidfd_open(pid)
            self._loop.add_reader(pidfd, self._wait, pid)
            self._children[pid] = pidfd, callback, args
            self._forked(pid)

        def _wait(self, pid: int) -> None:
            pidfd, callback, args = self._children.pop(pid)
            self._loop.remove_reader(pidfd)
            os.close(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # nobody else waits for our children: should never happen
                code = 255
            self._reaped(pid)
            callback(pid, code, *args)

        def remove_child_handler(self, pid: int) -> bool:
            entry = self._children.pop(pid, None)
            if entry is None:
                return False
            self._loop.remove_reader(entry[0])
            os.close(entry[0])
            return True

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            if loop is not None:
                self._loop = loop

        def close(self) -> None:
            for pidfd, _callback, _args in self._children.values():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(pidfd)
                os.close(pidfd)
            self._children.clear()

        def is_active(self) -> bool:
            return self._loop.is_running()

        def __enter__(self) -> PidfdWatcher:
            return self

        def __exit__(self, *exc: object) -> None:
            return None
