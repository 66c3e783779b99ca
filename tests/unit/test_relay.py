"""The relay's two ways (whole blocks of plain lines, line by line for everything else) give the
same log file, terminal text and recent lines as cleaning each line on its own would."""

from __future__ import annotations

import io
import random
from pathlib import Path

from devstack import ansi
from devstack.logfile import LogFile, read_records
from devstack.logs import RING_BYTES, RING_LINES, RecentLines, ServiceLog
from devstack.terminal import TerminalSink


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
