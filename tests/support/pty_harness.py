"""Driving devstack on a real pseudo-terminal: the fault tests of
Ctrl-C, terminal close, prompts and terminal-control sequences share these."""

from __future__ import annotations

import os
import select
import subprocess
import threading
from dataclasses import dataclass

from tests.support.harness import PY, Stack

# Make the pty on fd 0 the controlling terminal of this new session, then become devstack.
CTTY = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
        "os.execv(sys.argv[1], sys.argv[1:])")


class PtyReader(threading.Thread):
    """Reads a pty master until EIO/EOF or stop(); stop() leaves the fd for the test to close."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.data = bytearray()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.data += chunk

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


@dataclass
class PtyRun:
    proc: subprocess.Popen[bytes]
    master: int
    reader: PtyReader


def on_pty(stack: Stack, *args: str) -> PtyRun:
    """`devstack ARGS` as the session leader of a new pty that is its controlling terminal."""
    master, slave = os.openpty()
    env = stack.env()
    env.pop("NO_COLOR", None)  # a real terminal: colours on
    env["TERM"] = "xterm"
    proc = subprocess.Popen([PY, "-c", CTTY, PY, "-m", "devstack", *args], cwd=stack.root, env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    stack.background.append(proc)
    reader = PtyReader(master)
    reader.start()
    return PtyRun(proc, master, reader)
