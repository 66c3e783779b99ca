"""The relay's two ways (whole blocks of plain lines, line by line for everything else) give the
same log file, terminal text and recent lines as cleaning each line on its own would."""

from __future__ import annotations

import io
import random
import threading
import time
from pathlib import Path

from devstack.logs import ansi
from devstack.logs.hub import RING_BYTES, RING_LINES, RecentLines, ServiceLog
from devstack.logs.reader import read_records
from devstack.logs.terminal import HARD_MAX_PENDING, MAX_PENDING, TerminalSink
from devstack.logs.writer import LogFile


class Collected(io.BytesIO):
    def close(self) -> None:  # the sink closes nothing it does not own; keep the bytes readable
        pass


def random_output(rng: random.Random) -> bytes:
    """Mostly plain lines (the block way), with what takes the line way sprinkled in: colour
    and cursor sequences, CRLF, a `\\r` progress bar, invalid UTF-8, a split multi-byte character."""
    specials = [b"\x1b[31mred\x1b[0m", b"\r", b"10%\r20%", b"\xff", b"\xe2\x80\xa6", b"\x1b]0;title\x07"]
    lines = []
    for i in range(rng.randint(50, 400)):
        text = b"line %d %s" % (i, b"x" * rng.randint(0, 120))
        if rng.random() < 0.05:
            text += rng.choice(specials)
        lines.append(text)
    return b"\n".join(lines) + b"\n"


def expected(data: bytes) -> tuple[list[str], list[str]]:
    """(log file texts, terminal texts) cleaning each line on its own."""
    files, shown = [], []
    for raw in data.split(b"\n")[:-1]:
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        line = raw.decode("utf-8", "replace").encode("utf-8")
        files.append(ansi.for_file(line).decode())
        shown.append(ansi.for_terminal(line, colour=False).decode())
    return files, shown


def test_blocks_and_lines_give_what_line_by_line_cleaning_gives(tmp_path: Path) -> None:
    rng = random.Random(11)
    for run in range(40):
        data = random_output(rng)
        out = Collected()
        terminal = TerminalSink(out, ["svc"], colour=False)
        log_dir = tmp_path / str(run)
        log = ServiceLog("svc", LogFile(log_dir / "svc.log"), terminal)
        pos = 0
        while pos < len(data):
            size = rng.choice([1, 7, 100, 4096, 65536])
            log.output("stdout", data[pos : pos + size])
            pos += size
        log.output("stdout", b"")
        recent = log.recent
        log.close()
        terminal.close()
        files, shown = expected(data)
        assert [r.text for r in read_records(log_dir, "svc")] == files
        prefix_len = len("HH:MM:SS svc      | ")
        assert [line[prefix_len:] for line in out.getvalue().decode().split("\n")[:-1]] == shown
        assert recent == files[-len(recent):] and len(recent) == min(RING_LINES, len(files))


def test_recent_lines_keep_the_last_lines_within_the_byte_bound() -> None:
    ring = RecentLines()
    for i in range(5000):
        ring.add(b"\n".join(b"%d.%d" % (i, j) for j in range(3)))
    assert ring.lines() == [f"{i}.{j}" for i in range(5000) for j in range(3)][-RING_LINES:]
    big = RecentLines()
    for i in range(100):
        big.add(b"%d " % i + b"y" * 10_000)
    kept = big.lines()
    assert kept[-1].startswith("99 ") and len(kept) <= 8  # ~RING_BYTES of 10 kB lines, not 200
    assert sum(len(line) for line in kept) < 2 * RING_BYTES


class SlowTerminal(io.BytesIO):
    """A terminal that takes `delay` seconds per write: slower than the burst, never stalled."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def write(self, data: bytes) -> int:  # type: ignore[override]
        time.sleep(self.delay)
        return super().write(data)

    def close(self) -> None:
        pass


class StalledTerminal(io.BytesIO):
    """A terminal that stops reading (Ctrl-S, a pipe nobody reads) until `resume` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.resume = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.resume.wait(30)
        return super().write(data)

    def close(self) -> None:
        pass


def burst(terminal: TerminalSink, megabytes: int) -> int:
    """Queue `megabytes` MB of 100-byte lines as fast as possible; the number of lines."""
    block = b"\n".join(b"%099d" % i for i in range(10_000))  # 1 MB
    for _ in range(megabytes):
        terminal.block("svc", block, time.time())
    return megabytes * 10_000


def test_a_slow_terminal_gets_every_line_of_a_burst_past_the_soft_limit() -> None:
    out = SlowTerminal(delay=0.02)  # ~50 MB/s in 1 MiB slices: slower than the burst
    terminal = TerminalSink(out, ["svc"], colour=False, stall_after=0.5)
    lines = burst(terminal, (MAX_PENDING // 1_000_000) * 2)  # twice the soft limit, under the hard one
    terminal.close(timeout=30)
    assert terminal.dropped_lines == 0
    assert out.getvalue().count(b"\n") == lines


def test_a_stalled_terminal_drops_lines_and_says_how_many() -> None:
    out = StalledTerminal()
    terminal = TerminalSink(out, ["svc"], colour=False, stall_after=0.2)
    lines = burst(terminal, 1)  # the writer takes it and blocks on the stalled terminal
    deadline = time.monotonic() + 5
    while terminal.dropped_lines == 0 and time.monotonic() < deadline:
        burst(terminal, 1)
        time.sleep(0.01)
    assert terminal.dropped_lines > 0  # once the writer made no progress for stall_after
    queued = terminal._pending_bytes
    assert queued <= HARD_MAX_PENDING
    burst(terminal, 3)
    assert terminal._pending_bytes == queued  # stalled: nothing more is queued, all of it dropped
    dropped = terminal.dropped_lines
    out.resume.set()
    terminal.close(timeout=30)
    text = out.getvalue()
    assert f"the terminal fell behind: {dropped} lines not shown here".encode() in text
    assert lines > 0 and text.count(b"\n") > 0


def test_a_slow_terminal_is_still_bounded_by_the_hard_limit() -> None:
    out = StalledTerminal()
    terminal = TerminalSink(out, ["svc"], colour=False, stall_after=3600)  # never "stalled"
    burst(terminal, HARD_MAX_PENDING // 1_000_000 + 5)
    assert terminal.dropped_lines > 0 and terminal._pending_bytes <= HARD_MAX_PENDING
    out.resume.set()
    terminal.close(timeout=30)
