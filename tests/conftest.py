"""Shared test fixtures: a guard that fails any test leaving a process behind."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.harness import TEST_TAG, Stack, open_stack

# Fixtures that the unit and integration halves of a module's tests share.
pytest_plugins = ["tests.support.doctor", "tests.support.probing"]

# A test run a shell started in the background (`scripts/test &`) inherits SIGINT ignored, and an
# ignored signal stays ignored across exec: every devstack the tests start would shrug off the
# Ctrl-C some tests press (`logs -f`, `status --watch`). A handler, unlike SIG_IGN, is reset to
# the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _tagged(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(TEST_TAG) == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the long soak variants of the fault suite")


@pytest.fixture
def no_leftovers(request: pytest.FixtureRequest) -> object:
    """Every process started with this tag in its environment must be gone when the test ends."""
    tag = f"{os.getpid()}-{request.node.name}"
    yield tag
    left = _tagged(tag)
    if left:
        desc = "; ".join(f"{p.pid} {' '.join(p.cmdline())[:100]}" for p in left)
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        pytest.fail(f"processes left behind by the test: {desc}")


@pytest.fixture
def stack(tmp_path: Path, no_leftovers: str) -> Iterator[Stack]:
    """A stack folder driven through the real CLI; `devstack down` and a leftover check after."""
    with open_stack(tmp_path / "stack", no_leftovers) as s:
        yield s
