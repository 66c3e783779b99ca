"""The log hub: every line a service prints goes to its log file, the terminal (if any), a small
ring of recent lines (for failure reasons) and any listeners (log probes), in that order.

The pumps call `ServiceLog.output()` with raw pipe chunks; nothing here blocks or awaits, so
a slow terminal or reader can never stall a child (see terminal.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from devstack.env.secrets import Redactor
from devstack.logs import ansi
from devstack.logs.framing import LineSplitter
from devstack.logs.terminal import TerminalSink
from devstack.logs.writer import LogFile

RING_LINES = 200
RING_BYTES = 64 * 1024  # …of the last lines, for the failure reasons: a bound on memory too
IDLE_FLUSH = 0.25  # a line left unfinished this long is shown anyway (`Password:`, `Compiling…`)
PARTIAL_MARK = b" [partial]"  # marks such a line: the rest of it follows as a line of its own
LineListener = Callable[[str, list[str]], None]  # (stream, lines)


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


# (delay, callback) -> a cancellable handle: the event loop's call_later in the supervisor
Schedule = Callable[[float, Callable[[], None]], TimerHandle]


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def clean_utf8(lines: list[bytes], block: bytes) -> list[bytes]:
    """The lines (joined: `block`) with invalid UTF-8 replaced by U+FFFD (fast path: valid)."""
    if is_utf8(block):
        return lines
    return [line.decode("utf-8", "replace").encode("utf-8") for line in lines]


class RecentLines:
    """The last RING_LINES lines a run printed, within about RING_BYTES: kept as the blocks they
    came in (split and decoded only when a crash needs explaining, not for every chunk)."""

    def __init__(self) -> None:
        self._blocks: deque[bytes] = deque()  # each: whole lines joined by \n
        self._bytes = 0

    def add(self, block: bytes) -> None:
        self._blocks.append(block)
        self._bytes += len(block)
        # Drop the oldest block while the rest alone hold RING_BYTES, or RING_LINES blocks
        # (at least one line each).
        while len(self._blocks) > 1 and (self._bytes - len(self._blocks[0]) >= RING_BYTES
                                         or len(self._blocks) > RING_LINES):
            self._bytes -= len(self._blocks.popleft())

    def lines(self) -> list[str]:
        lines = b"\n".join(self._blocks).split(b"\n")[-RING_LINES:]
        return [line.decode("utf-8", "replace") for line in lines]

    def clear(self) -> None:
        self._blocks.clear()
        self._bytes = 0


class ServiceLog:
    """One service's output: framing per stream, then the sinks."""

    def __init__(self, name: str, file: LogFile, terminal: TerminalSink | None,
                 on_event: Callable[[str], None] | None = None, schedule: Schedule | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._schedule = schedule  # None: no idle flush (unit tests of the framing alone)
        self._monotonic = monotonic
        self._timers: dict[str, TimerHandle] = {}
        self._last_chunk = {"stdout": 0.0, "stderr": 0.0}
        self._file = file
        self._on_event = on_event
        self._degraded = False  # what was last said about the file
        self._terminal = terminal
        self._splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
        self._recent = RecentLines()
        self._listeners: list[LineListener] = []

    def add_listener(self, listener: LineListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def output(self, stream: str, chunk: bytes) -> None:
        """A raw chunk from a pipe; b"" means the pipe closed (flush a last partial line)."""
        splitter = self._splitters[stream]
        block = splitter.feed_block(chunk) if chunk else None
        if block is not None:
            self.block(stream, block)
        else:
            lines = splitter.feed(chunk) if chunk else splitter.flush()
            if lines:
                self.lines(stream, lines)
        if splitter.pending and self._schedule is not None:
            self._last_chunk[stream] = self._monotonic()
            if stream not in self._timers:
                self._timers[stream] = self._schedule(IDLE_FLUSH, lambda: self._idle(stream, splitter))

    def _idle(self, stream: str, splitter: LineSplitter) -> None:
        """The idle timer of `stream`: show its unfinished line once nothing came for IDLE_FLUSH."""
        del self._timers[stream]
        if splitter is not self._splitters[stream] or not splitter.pending:
            return  # a new run, or the line was finished meanwhile
        quiet = self._monotonic() - self._last_chunk[stream]
        if quiet < IDLE_FLUSH:
            assert self._schedule is not None
            self._timers[stream] = self._schedule(IDLE_FLUSH - quiet, lambda: self._idle(stream, splitter))
            return
        lines = splitter.flush()
        if lines and lines[0]:
            self.lines(stream, [lines[0] + PARTIAL_MARK])

    def block(self, stream: str, block: bytes) -> None:
        """Complete lines joined by `\\n`: the common case (valid UTF-8 text, nothing for the
        terminal to interpret, no log probe listening) goes to the sinks without ever being
        split into lines; anything else takes the line by line way."""
        if self._listeners or ansi.needs_cleaning(block) or not is_utf8(block):
            self.lines(stream, block.split(b"\n"), block)
            return
        now = time.time()
        self._file.write_block(stream, block, now)
        self._check_file()
        if self._terminal is not None:
            self._terminal.block(self.name, block, now)
        self._recent.add(block)

    def lines(self, stream: str, lines: list[bytes], block: bytes | None = None) -> None:
        """Complete lines; `block`: the same lines joined by `\\n`, when the caller has it."""
        block = b"\n".join(lines) if block is None else block
        framed = lines
        lines = clean_utf8(lines, block)
        shown = lines
        if ansi.needs_cleaning(block):  # terminal-control bytes: text for the file, safe for the tty
            colour = self._terminal is not None and self._terminal.colour
            shown = [ansi.for_terminal(line, colour) for line in lines]
            lines = [ansi.for_file(line) for line in lines]
        now = time.time()
        self._file.write(stream, lines, now, framed=True)
        self._check_file()
        if self._terminal is not None:
            self._terminal.lines(self.name, shown, now)
        self._recent.add(block if lines is framed else b"\n".join(lines))
        if self._listeners:
            text = [line.decode("utf-8") for line in lines]
            for listener in list(self._listeners):
                listener(stream, text)

    def _check_file(self) -> None:
        """Say when the log file starts or stops failing (once per change)."""
        if self._file.degraded != self._degraded and self._on_event is not None:
            self._degraded = self._file.degraded
            self._on_event(f"{self.name}: file logging degraded: {self._file.last_error}; its lines are "
                           "not being kept" if self._degraded else f"{self.name}: file logging resumed")

    @property
    def recent(self) -> list[str]:
        """The last lines of the current run (for a crash's explanation), see RecentLines."""
        return self._recent.lines()

    def new_run(self) -> None:
        """A new process starts: forget the framing state and recent lines of the last one."""
        self._cancel_timers()
        self._splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
        self._recent.clear()

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def close(self) -> None:
        self._cancel_timers()
        self._file.close()


class LogHub:
    def __init__(self, log_dir: Path, names: list[str], terminal: TerminalSink | None,
                 redactor: Redactor | None = None, schedule: Schedule | None = None) -> None:
        self.log_dir = log_dir
        self.redactor = redactor or Redactor()
        self.terminal = terminal
        self._schedule = schedule
        self.services: dict[str, ServiceLog] = {}
        for name in names:
            self.add(name)
        self._events = LogFile(log_dir / "devstack.log")

    def add(self, name: str) -> ServiceLog:
        """The log of service `name`, made on first use (a service added by `up` after an edit)."""
        if name not in self.services:
            self.services[name] = ServiceLog(name, LogFile(self.log_dir / f"{name}.log"), self.terminal,
                                             self.event, self._schedule)
        return self.services[name]

    def event(self, text: str) -> None:
        """One of devstack's own event lines, on the terminal and in devstack.log."""
        now = time.time()
        line = [self.redactor.text(text).encode("utf-8", "replace")]
        self._events.write("devstack", line, now)
        if self.terminal is not None:
            self.terminal.lines("devstack", line, now)

    def close(self) -> None:
        for log in self.services.values():
            log.close()
        self._events.close()
        if self.terminal is not None:
            self.terminal.close()
