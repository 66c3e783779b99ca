"""The dashboard's buttons: start, stop, restart a service and take the stack down, through the
running supervisor's control socket as the commands do — or, when none runs, by starting one
(`devstack up -d NAME`, a process of its own: never a fork of this threaded server).
Blocking calls: the app runs them in a thread. Each answers when done, with the new status.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from devstack.config.specs import StackSpec
from devstack.control import client
from devstack.control.paths import StatePaths
from devstack.errors import DevstackError, NotRunning, UsageError
from devstack.text.suggest import unknown_service_message

SETTLE_WAIT = 300.0  # a start waits this long at most for the service to settle (a JVM may take minutes)


class Actions:
    def __init__(self, stack: StackSpec, offline: Callable[[], dict[str, Any]]) -> None:
        self.stack = stack
        self.socket = StatePaths.of(stack.root).socket
        self.offline = offline

    def check(self, name: str) -> None:
        if name not in self.stack.services:
            raise UsageError(unknown_service_message(name, list(self.stack.services)))

    def status(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = client.call(self.socket, "status", io_timeout=10)
            return result
        except NotRunning:
            return self.offline()

    def start(self, names: list[str]) -> dict[str, Any]:
        try:
            client.call(self.socket, "start", names=names)
        except NotRunning:
            self._up(names)
        return self._settled(names)

    def stop(self, name: str) -> dict[str, Any]:
        try:
            return _service(client.call(self.socket, "stop", io_timeout=None, names=[name]), name)
        except NotRunning:
            return _service(self.offline(), name)

    def restart(self, name: str) -> dict[str, Any]:
        try:
            result = client.call(self.socket, "restart", io_timeout=SETTLE_WAIT + 30, names=[name],
                                 timeout=SETTLE_WAIT)
            return _service(result["status"], name)
        except NotRunning:  # nothing to restart: start it
            return self.start([name])

    def down(self) -> dict[str, Any]:
        with contextlib.suppress(NotRunning):
            client.call(self.socket, "down", io_timeout=None)
        return self.offline()

    def _settled(self, names: list[str]) -> dict[str, Any]:
        result = client.call(self.socket, "wait", io_timeout=SETTLE_WAIT + 30, names=names,
                             timeout=SETTLE_WAIT)
        status: dict[str, Any] = result["status"]
        return _service(status, names[0]) if len(names) == 1 else status

    def _up(self, names: list[str]) -> None:
        """Start a supervisor for the stack, as `devstack up -d NAMES` would."""
        source = ("--procfile" if self.stack.source.name == "Procfile" else "-f", str(self.stack.source))
        done = subprocess.run([sys.executable, "-m", "devstack", *source, "up", "-d", *names],
                              cwd=self.stack.root, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=SETTLE_WAIT + 60)
        if done.returncode not in (0, 1):  # 1: a service failed; its state says why
            said = (done.stderr.strip().splitlines() or ["it said nothing"])[-1]
            raise DevstackError(f"devstack up -d failed: {said.removeprefix('Error: ')}")


def _service(status: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in status["services"] if s["name"] == name)
    return found
