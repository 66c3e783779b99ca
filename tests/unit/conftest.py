"""Unit tests run in-process: no sockets, no child processes (those tests go to tests/integration).

A guard holds every unit test to that: during its setup, call and teardown, connecting or binding
a socket and starting a process (subprocess, asyncio's subprocesses, os.fork, os.posix_spawn,
os.system) raise AssertionError saying so. An attempt the code under test swallowed (a probe
turning any error into a failed result) still fails the test once the phase ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

WHERE = "a unit test opens no socket and starts no process: move this test to tests/integration"
# What a socket or a new process would go through; os.fork and os.posix_spawn cover
# multiprocessing and pty, subprocess.Popen covers asyncio's subprocesses too.
SOCKET_CALLS = ("bind", "connect", "connect_ex")
OS_CALLS = ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")


@contextlib.contextmanager
def refusing(phase: str) -> Iterator[None]:
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., NoReturn]:
        def refused(*args: Any, **kwargs: Any) -> NoReturn:
            given = [arg for arg in args if not isinstance(arg, socket.socket | subprocess.Popen)]
            shown = repr(given[0])[:80] if given else ""  # the address, the command
            attempts.append(f"{what}({shown})")
            raise AssertionError(f"{what}({shown}): {WHERE}")

        return refused

    with pytest.MonkeyPatch.context() as patch:
        for name in SOCKET_CALLS:
            patch.setattr(socket.socket, name, refuse(f"socket.{name}"))
        patch.setattr(subprocess.Popen, "_execute_child", refuse("subprocess.Popen"))
        for name in OS_CALLS:
            if hasattr(os, name):
                patch.setattr(os, name, refuse(f"os.{name}"))
        yield
    if attempts:  # reached only when the phase itself passed: the code under test swallowed it
        raise AssertionError(f"during {phase}: {'; '.join(attempts[:3])}: {WHERE}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with refusing("setup"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with refusing("the test"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    with refusing("teardown"):
        return (yield)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working folder, so that problems name the file as "stack.toml" or "Procfile"."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
