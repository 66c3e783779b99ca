"""Drive the real `devstack` CLI against a stack of real processes in a temporary folder.

Every devstack invocation runs with an env tag, so every process it starts carries it and the
`no_leftovers` fixture can prove nothing outlived the test. Waits poll conditions with deadlines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.files import write
from tests.support.waiting import wait_until

PY = sys.executable
# In the environment of every process a test starts: how `no_leftovers` finds what outlived it.
TEST_TAG = "DEVSTACK_TEST_RUN"


def q(value: object) -> str:
    """A TOML literal (JSON syntax is valid TOML for strings, numbers, lists, booleans)."""
    return json.dumps(value)


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Stack:
    def __init__(self, root: Path, tag: str) -> None:
        self.root = root
        self.tag = tag
        self.background: list[subprocess.Popen[bytes]] = []

    def write(self, relpath: str, text: str) -> Path:
        return write(self.root / relpath, text)

    def toml(self, text: str) -> None:
        self.write("stack.toml", text)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env["NO_COLOR"] = "1"
        env[TEST_TAG] = self.tag
        return env

    def run(self, *args: str, timeout: float = 60, cwd: Path | None = None) -> Run:
        proc = subprocess.run([PY, "-m", "devstack", *args], cwd=cwd or self.root, env=self.env(),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout.decode(errors="replace"),
                   proc.stderr.decode(errors="replace"))

    def spawn(self, *args: str, out: Path | None = None) -> subprocess.Popen[bytes]:
        """`devstack ARGS` in the background, its own session, output to a file."""
        # The child has its own copy of the file's descriptor: ours is closed at once.
        with open(out or self.root.parent / f"{self.root.name}-fg.out", "wb") as log:
            proc = subprocess.Popen([PY, "-m", "devstack", *args], cwd=self.root, env=self.env(),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.background.append(proc)
        return proc

    def status(self) -> dict[str, Any]:
        r = self.run("status", "--json")
        return json.loads(r.out)  # type: ignore[no-any-return]

    def service(self, name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        data = data or self.status()
        for svc in data["services"]:
            if svc["name"] == name:
                return svc  # type: ignore[no-any-return]
        raise AssertionError(f"no service {name} in {data}")

    def wait_state(self, name: str, states: set[str] | str, timeout: float = 30) -> dict[str, Any]:
        wanted = {states} if isinstance(states, str) else states

        def check() -> dict[str, Any] | None:
            svc = self.service(name)
            return svc if svc["state"] in wanted else None

        return wait_until(check, timeout, f"{name} in {sorted(wanted)}", interval=0.05)

    def log_text(self, name: str) -> str:
        path = self.root / ".devstack" / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cleanup(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if (self.root / "stack.toml").exists() or (self.root / "Procfile").exists():
            self.run("down", timeout=60)


@contextlib.contextmanager
def open_stack(root: Path, tag: str) -> Iterator[Stack]:
    """A Stack in the folder `root` (made if missing); at the end its background commands are
    stopped and `devstack down` runs."""
    root.mkdir(parents=True, exist_ok=True)
    stack = Stack(root, tag)
    try:
        yield stack
    finally:
        stack.cleanup()
