"""Shared test fixtures: a guard that fails any test leaving a process behind."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ground_truth import cmdline, tagged_pids
from tests.support.harness import Stack, open_stack

# Fixtures that the unit and integration halves of a module's tests share.
pytest_plugins = ["tests.support.doctor", "tests.support.probing"]

# A test run a shell started in the background (`scripts/test &`) inherits SIGINT ignored, and an
# ignored signal stays ignored across exec: every devstack the tests start would shrug off the
# Ctrl-C some tests press (`logs -f`, `status --watch`). A handler, unlike SIG_IGN, is reset to
# the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the long soak variants of the fault suite")


@pytest.fixture
def no_leftovers(request: pytest.FixtureRequest) -> object:
    """Every process started with this tag in its environment must be gone when the test ends."""
    tag = f"{os.getpid()}-{request.node.name}"
    yield tag
    left = tagged_pids(tag)
    if left:
        desc = "; ".join(f"{pid} {cmdline(pid)[:100]}" for pid in left)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"processes left behind by the test: {desc}")


@pytest.fixture
def stack(tmp_path: Path, no_leftovers: str) -> Iterator[Stack]:
    """A stack folder driven through the real CLI; `devstack down` and a leftover check after."""
    with open_stack(tmp_path / "stack", no_leftovers) as s:
        yield s
