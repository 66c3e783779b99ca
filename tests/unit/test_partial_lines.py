"""The idle flush of an unfinished line (`Password:`), driven by a fake timer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devstack.logs.hub import IDLE_FLUSH, ServiceLog
from devstack.logs.writer import LogFile


class FakeTimers:
    def __init__(self) -> None:
        self.now = 0.0
        self.pending: list[tuple[float, Callable[[], None], FakeHandle]] = []

    def schedule(self, delay: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle()
        self.pending.append((self.now + delay, callback, handle))
        return handle

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.pending if t[0] <= self.now + 1e-9]
        self.pending = [t for t in self.pending if t[0] > self.now + 1e-9]
        for _when, callback, handle in due:
            if not handle.cancelled:
                callback()


class FakeHandle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def service_log(tmp_path: Path, timers: FakeTimers) -> tuple[ServiceLog, list[str]]:
    log = ServiceLog("svc", LogFile(tmp_path / "svc.log"), None, schedule=timers.schedule,
                     monotonic=lambda: timers.now)
    seen: list[str] = []
    log.add_listener(lambda _stream, lines: seen.extend(lines))
    return log, seen


def test_an_unfinished_line_shows_after_the_idle_delay_marked_partial(tmp_path: Path) -> None:
    timers = FakeTimers()
    log, seen = service_log(tmp_path, timers)
    log.output("stdout", b"ready\nPassword: ")
    assert seen == ["ready"]
    timers.advance(IDLE_FLUSH - 0.01)
    assert seen == ["ready"]
    timers.advance(0.02)
    assert seen == ["ready", "Password:  [partial]"]
    log.output("stdout", b"ok\n")  # the rest of the line is a line of its own
    assert seen[-1] == "ok"


def test_more_bytes_postpone_the_flush_and_a_finished_line_is_not_repeated(tmp_path: Path) -> None:
    timers = FakeTimers()
    log, seen = service_log(tmp_path, timers)
    log.output("stdout", b"Compil")
    timers.advance(0.2)
    log.output("stdout", b"ing")
    timers.advance(0.1)  # the first timer fires, but bytes came 0.1 s ago: it waits on
    assert seen == []
    log.output("stdout", b" done\n")
    timers.advance(1.0)
    assert seen == ["Compiling done"]


def test_a_new_run_cancels_the_last_run_s_timer(tmp_path: Path) -> None:
    timers = FakeTimers()
    log, seen = service_log(tmp_path, timers)
    log.output("stderr", b"half")
    log.new_run()
    timers.advance(1.0)
    assert seen == []
