"""The guard of tests/unit/conftest.py: a unit test that opens a socket or starts a process fails,
saying where the test belongs, even when the code under test swallowed the refusal."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess

import pytest

from tests.unit.conftest import WHERE, refusing


def test_the_guard_is_on_during_a_unit_test() -> None:
    # Looked at, not called: a refused call, even caught here, fails the test that made it.
    assert socket.socket.connect.__name__ == "refused"
    assert subprocess.Popen._execute_child.__name__ == "refused"  # type: ignore[attr-defined]
    assert os.fork.__name__ == "refused"


def test_a_socket_bind_is_refused_and_a_swallowed_refusal_still_fails() -> None:
    with (pytest.raises(AssertionError, match=r"^during the probe: socket\.bind\(\('127\.0\.0\.1', 0\)\)"),
          refusing("the probe"), socket.socket() as s, contextlib.suppress(AssertionError)):
        s.bind(("127.0.0.1", 0))  # as a probe turning every error into "unhealthy" would


def test_a_child_process_is_refused() -> None:
    with (pytest.raises(AssertionError, match=r"during the call: subprocess\.Popen\(\['true'\]\)"),
          refusing("the call"), pytest.raises(AssertionError, match=WHERE)):
        subprocess.run(["true"], check=True)


def test_a_fork_is_refused() -> None:
    with (pytest.raises(AssertionError, match=r"during the fork: os\.fork"),
          refusing("the fork"), pytest.raises(AssertionError, match=WHERE)):
        if os.fork() == 0:  # only were the guard off: the child leaves at once
            os._exit(0)
