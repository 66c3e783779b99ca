"""The terminal sink: prefixed, coloured lines to stdout without ever stalling the supervisor.

Writes happen on one background thread fed by a bounded buffer: a terminal (or pipe) that
stops reading makes lines drop from the *terminal* (counted and reported), never from the
log files, and never blocks the event loop or the children's pipes.

A terminal that is only slower than a burst (a file on a busy disk, a terminal emulator
scrolling) is not a stalled one: past MAX_PENDING queued bytes, lines are dropped only once the
writer thread has made no progress for STALL_AFTER seconds, or past HARD_MAX_PENDING.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import BinaryIO

from devstack.logs.framing import prefixed
from devstack.logs.prefix import DEVSTACK_COLOUR, OTHER_COLOUR, name_prefix, palette
from devstack.text.stamps import SecondText

MAX_PENDING = 8 * 1024 * 1024  # bytes queued for the terminal before a stalled one drops lines
HARD_MAX_PENDING = 32 * 1024 * 1024  # …and before a slow one does
STALL_AFTER = 1.0  # seconds without a write completing: the terminal is stalled
WRITE_SLICE = 1024 * 1024  # the writer reports progress after each slice this big


class TerminalSink:
    def __init__(self, out: BinaryIO, names: list[str], colour: bool,
                 stall_after: float = STALL_AFTER) -> None:
        self._out = out
        self._stall_after = stall_after
        self._progress_at = time.monotonic()  # the writer's last sign of life: started or wrote a slice
        self.colour = colour
        self.width = max([len(n) for n in [*names, "devstack"]])
        self._prefixes: dict[str, bytes] = {}
        self.colours = palette(names)
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self.dropped_lines = 0
        self._reported_drops = 0
        self._cond = threading.Condition()
        self._closed = False
        self._clock = SecondText("%H:%M:%S", utc=False)
        self._thread = threading.Thread(target=self._drain, name="devstack-terminal", daemon=True)
        self._thread.start()

    def _time(self, ts: float) -> str:
        return self._clock(int(ts))

    def _name_part(self, name: str) -> bytes:
        part = self._prefixes.get(name)
        if part is None:
            colour = DEVSTACK_COLOUR if name == "devstack" else self.colours.get(name, OTHER_COLOUR)
            part = name_prefix(name, self.width, colour if self.colour else None).encode()
            self._prefixes[name] = part
        return part

    def _prefix(self, name: str, ts: float) -> bytes:
        return self._time(ts).encode() + b" " + self._name_part(name)

    def lines(self, name: str, lines: list[bytes], ts: float) -> None:
        """Queue `HH:MM:SS name | line` for each line (already decoded-safe UTF-8 bytes)."""
        if lines:
            prefix = self._prefix(name, ts)
            self._queue(prefix + (b"\n" + prefix).join(lines) + b"\n")

    def block(self, name: str, block: bytes, ts: float) -> None:
        """Like `lines` for lines joined by `\\n` (see `LineSplitter.feed_block`)."""
        self._queue(prefixed(self._prefix(name, ts), block))

    def _queue(self, data: bytes) -> None:
        with self._cond:
            queued = self._pending_bytes + len(data)  # including what the writer is writing now
            if queued > MAX_PENDING and (queued > HARD_MAX_PENDING
                                         or time.monotonic() - self._progress_at > self._stall_after):
                self.dropped_lines += data.count(b"\n")  # one per line: counted only when dropped
                return
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._cond.notify()

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                blocks = list(self._pending)
                self._pending.clear()
                self._progress_at = time.monotonic()
                drops = self.dropped_lines - self._reported_drops
                self._reported_drops = self.dropped_lines
            data = b"".join(blocks)
            if drops:
                data += self._time(time.time()).encode() + b" " + self._name_part("devstack") + (
                    f"the terminal fell behind: {drops} lines not shown here "
                    "(they are in `devstack logs`)\n").encode()
            try:
                self._write(data)
            except (OSError, ValueError):
                # The terminal is gone (closed tty, broken pipe): the logs are still in the files.
                with self._cond:
                    self._closed = True
                    self._pending.clear()
                return

    def _write(self, data: bytes) -> None:
        """Write in slices, each one a sign of progress (and room for more in the queue)."""
        view = memoryview(data)
        for start in range(0, len(view), WRITE_SLICE):
            piece = view[start:start + WRITE_SLICE]
            self._out.write(piece)
            self._out.flush()
            with self._cond:
                self._progress_at = time.monotonic()
                self._pending_bytes = max(0, self._pending_bytes - len(piece))

    def close(self, timeout: float = 2.0) -> None:
        """Flush what is queued (bounded in time) and stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)
