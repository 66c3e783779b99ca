"""Log framing, the record file format, rotation and reading back (devstack/logfile.py).

Real files in tmp_path, no sleeps: LogFile takes its clock as an argument.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.logs.follower import Follower
from devstack.logs.framing import LineSplitter, decode_lines
from devstack.logs.reader import LogRecord, log_files, parse_record, read_records, tail
from devstack.logs.since import parse_since
from devstack.logs.writer import LogFile, format_timestamp
from tests.support.fakes import FakeClock

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z, a fixed POSIX time


# --------------------------------------------------------------------------- framing


def expected_lines(data: bytes, max_line: int) -> list[bytes]:
    """The framing contract, stated offline: split on \\n, one \\r stripped, long lines cut."""
    raws = data.split(b"\n")
    last = raws.pop()
    if last:
        raws.append(last)
    out: list[bytes] = []
    for raw in raws:
        if len(raw) <= max_line:
            out.append(raw[:-1] if raw.endswith(b"\r") else raw)
            continue
        pieces = [raw[i : i + max_line] for i in range(0, len(raw), max_line)]
        if pieces[-1].endswith(b"\r"):
            pieces[-1] = pieces[-1][:-1]
            if not pieces[-1]:
                pieces.pop()
        out.extend(pieces)
    return out


def split_all(data: bytes, chunk_sizes: Iterator[int], max_line: int, blocks: bool = False) -> list[bytes]:
    """Frame `data` fed in chunks; `blocks`: as the relay does, `feed_block` first, `feed` where
    it declines."""
    splitter = LineSplitter(max_line=max_line)
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = next(chunk_sizes)
        chunk = data[pos : pos + size]
        block = splitter.feed_block(chunk) if blocks else None
        out.extend(splitter.feed(chunk) if block is None else block.split(b"\n"))
        pos += size
    out.extend(splitter.flush())
    return out


def random_stream(rng: random.Random, max_line: int) -> bytes:
    alphabet = [b"a", b"b", b"\r", b"\n", b"\r\n", b"\x00", b"\xe2\x80\xa6", b"\xff", b" "]
    parts: list[bytes] = []
    for _ in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.1:
            # around max_line: exactly at, one over, with \r at the cut
            n = max_line + rng.choice([-1, 0, 1, 2, max_line, max_line + 1])
            parts.append(b"L" * (n - 1) + rng.choice([b"x", b"\r"]) + b"\n")
        else:
            parts.append(b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
    return b"".join(parts)


@pytest.mark.parametrize("blocks", [False, True], ids=["feed", "feed_block"])
@pytest.mark.parametrize("max_line", [1, 2, 7, 64, 1000])
def test_splitter_random_chunkings_match_the_offline_framing(max_line: int, blocks: bool) -> None:
    rng = random.Random(1234 + max_line)
    for _ in range(300):
        data = random_stream(rng, max_line)
        want = expected_lines(data, max_line)
        whole = len(data) or 1
        for low, high in ((1, 1), (1, 9), (1, 3 * max_line + 5), (whole, whole)):
            sizes = iter(lambda: rng.randint(low, high), None)  # noqa: B023 (used right away)
            assert split_all(data, sizes, max_line, blocks) == want, (data, max_line)


def test_feed_block_frames_plain_lines_in_one_block_and_declines_the_rest() -> None:
    splitter = LineSplitter(max_line=16)
    assert splitter.feed_block(b"one\ntw") == b"one"
    assert splitter.feed_block(b"o\nthree\nfo") == b"two\nthree"  # the held-back tail joins
    assert splitter.pending == 2
    assert splitter.feed_block(b"ur") is None  # no newline: feed() keeps it
    assert splitter.feed(b"ur") == []
    assert splitter.feed_block(b"\r\n") is None  # a \r to strip: feed()'s job
    assert splitter.feed(b"\r\n") == [b"four"]
    assert splitter.feed_block(b"x" * 16 + b"\n") is None  # could reach max_line: feed() cuts it
    assert splitter.pending == 0


def test_format_timestamp_matches_datetime_to_the_microsecond() -> None:
    rng = random.Random(5)
    stamps = [T0, T0 + 0.9999996, T0 + 0.9999994, T0 - 0.0000004, 0.0, 1.5, 86_399.9999999]
    stamps += [T0 + rng.uniform(0, 10_000_000) for _ in range(2000)]
    for ts in stamps:
        want = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert format_timestamp(ts) == want, ts


def test_splitter_lines_concatenate_back_to_the_stream() -> None:
    rng = random.Random(7)
    lines = [
        bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))).replace(b"\n", b"") for _ in range(500)
    ]
    lines = [ln.rstrip(b"\r") for ln in lines]
    data = b"\n".join(lines) + b"\n"
    got = split_all(data, iter(lambda: rng.randint(1, 700), None), max_line=1024 * 1024)
    assert got == lines


def test_line_over_asyncio_limit_is_kept_whole() -> None:
    line = bytes(range(32, 127)) * 800  # 76 000 bytes, over 64 KiB
    splitter = LineSplitter()
    out: list[bytes] = []
    for i in range(0, len(line), 1000):
        out += splitter.feed(line[i : i + 1000])
    out += splitter.feed(b"\nnext\n")
    assert out == [line, b"next"]
    assert splitter.split_lines == 0


def test_line_over_max_line_is_cut_into_max_line_pieces_never_dropped() -> None:
    mib = 1024 * 1024
    line = os.urandom(2_000_000).replace(b"\n", b"n")
    splitter = LineSplitter()
    out: list[bytes] = []
    # 100-byte chunks: 20 000 feeds of a 2 MB line finish fast only if feed is O(chunk).
    for i in range(0, len(line), 100):
        out += splitter.feed(line[i : i + 100])
        assert splitter.pending <= mib  # memory stays bounded
    out += splitter.feed(b"\nafter\n")
    assert [len(p) for p in out] == [mib, 2_000_000 - mib, 5]
    assert b"".join(out[:2]) == line and out[2] == b"after"
    assert splitter.split_lines == 1


def test_crlf_and_trailing_partial_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r\ntwo\r") == [b"one"]
    assert splitter.feed(b"\nthree\r\r\nA\nB") == [b"two", b"three\r", b"A"]
    assert splitter.peek() == b"B"
    assert splitter.flush() == [b"B"]
    assert splitter.flush() == []


def test_multibyte_character_split_across_feeds_is_reassembled() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"wait\xe2\x80") == []
    lines = splitter.feed(b"\xa6\n")
    assert decode_lines(lines) == ["wait…"]


def test_invalid_utf8_is_replaced_and_nul_kept() -> None:
    lines = LineSplitter().feed(b"bad \xff\xfe end\nnul\x00byte\ncut \xe2\x80\n")
    assert decode_lines(lines) == ["bad \ufffd\ufffd end", "nul\x00byte", "cut \ufffd"]
    assert decode_lines([]) == []
    assert decode_lines([b"has\nnewline", b"x"]) == ["has\nnewline", "x"]


# --------------------------------------------------------------------------- writing


def file_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a file must end with a whole record"
    return data.split(b"\n")[:-1]


def test_record_format(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "logs" / "api.log")
    log.write("stdout", [b"hello", b"", b"  indented"], T0 + 0.123456)
    log.write("devstack", ["started"], T0 + 1)
    log.close()
    stamp = format_timestamp(T0 + 0.123456)
    assert stamp == "2026-11-18T11:06:40.123456Z"
    assert file_lines(tmp_path / "logs" / "api.log") == [
        f"{stamp} stdout hello".encode(),
        f"{stamp} stdout ".encode(),
        f"{stamp} stdout   indented".encode(),
        b"2026-11-18T11:06:41.000000Z devstack started",
    ]
    records = read_records(tmp_path / "logs", "api")
    assert [(r.stream, r.text) for r in records] == [
        ("stdout", "hello"),
        ("stdout", ""),
        ("stdout", "  indented"),
        ("devstack", "started"),
    ]
    assert records[0].ts == datetime(2026, 11, 18, 11, 6, 40, 123456, tzinfo=UTC)


def test_file_is_created_lazily_and_appended_by_a_restarted_writer(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "logs" / "api.log"
    log = LogFile(path)
    assert not path.parent.exists()
    log.write("stdout", [b"first"], T0)
    log.close()
    # A crash mid-record left a torn line: the next writer must not glue onto it.
    with open(path, "ab") as f:
        f.write(b"2026-11-18T08:26:40.000000Z stdout tor")
    log = LogFile(path)
    log.write("stderr", [b"second"], T0 + 1)
    log.close()
    assert [r.text for r in read_records(path.parent, "api")] == ["first", "tor", "second"]
    if os.name == "posix":
        assert path.parent.stat().st_mode & 0o777 == 0o700


def test_lines_with_embedded_newlines_become_separate_records(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "a.log")
    log.write("devstack", ["exited 1\nlast words\r\n"], T0)
    log.write("stdout", [b"x\ny"], T0)
    log.close()
    assert [r.text for r in read_records(tmp_path, "a")] == ["exited 1", "last words", "", "x", "y"]


def test_bad_stream_name_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one ASCII word"):
        LogFile(tmp_path / "a.log").write("std out", [b"x"], T0)


def test_round_trip_200k_lines_without_loss(tmp_path: Path) -> None:
    rng = random.Random(42)
    lines = [f"line {i:06d} {'x' * rng.randint(0, 80)}".encode() for i in range(200_000)]
    data = b"\n".join(lines) + b"\n"
    splitter = LineSplitter()
    log = LogFile(tmp_path / "svc.log", max_bytes=10**9)
    pos, tick = 0, 0
    while pos < len(data):
        size = rng.randint(1, 70_000)
        tick += 1
        log.write("stdout", splitter.feed(data[pos : pos + size]), T0 + tick / 1000)
        pos += size
    log.write("stdout", splitter.flush(), T0 + tick)
    log.close()
    assert log.dropped_lines == 0
    records = read_records(tmp_path, "svc")
    assert [r.text.encode() for r in records] == lines
    assert [r.text.encode() for r in tail(tmp_path, ["svc"], 100, None)] == lines[-100:]


def test_rotation_keeps_at_most_backups_plus_one_files_and_never_splits_a_record(tmp_path: Path) -> None:
    rng = random.Random(3)
    log = LogFile(tmp_path / "svc.log", max_bytes=10_000, backups=3)
    written: list[str] = []
    for batch in range(400):
        lines = [f"{len(written) + i} {'y' * rng.randint(0, 300)}" for i in range(rng.randint(1, 30))]
        written += lines
        log.write("stdout", lines, T0 + batch)
    log.close()
    files = log_files(tmp_path, "svc")
    assert [p.name for p in files] == ["svc.log", "svc.log.1", "svc.log.2", "svc.log.3"]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in files)
    for path in files:
        assert path.stat().st_size <= 10_000
        for raw in file_lines(path):  # every line is a whole, parsable record
            record = parse_record("svc", raw.decode())
            assert record is not None and record.text.split(" ")[0].isdigit()
    kept = [r.text for r in read_records(tmp_path, "svc")]
    # The kept window is exactly the newest written lines: no loss, no duplicate at a boundary.
    assert kept == written[-len(kept) :]
    assert len(kept) > 3 * 10_000 // 400
    # A tail longer than the current file goes back into the rotated ones.
    current = len(file_lines(tmp_path / "svc.log"))
    n = current + 50
    assert [r.text for r in tail(tmp_path, ["svc"], n, None)] == written[-n:]
    assert [r.text for r in tail(tmp_path, ["svc"], 10**6, None)] == kept


def test_record_bigger_than_max_bytes_gets_a_file_of_its_own(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "svc.log", max_bytes=1000, backups=2)
    log.write("stdout", [b"small", b"B" * 5000, b"after"], T0)
    log.close()
    assert [r.text[:5] for r in read_records(tmp_path, "svc")] == ["small", "BBBBB", "after"]
    assert len(file_lines(tmp_path / "svc.log.1")) == 1


def test_no_backups_means_the_file_starts_over(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "svc.log", max_bytes=200, backups=0)
    for i in range(20):
        log.write("stdout", [f"line {i}"], T0)
    log.close()
    assert os.listdir(tmp_path) == ["svc.log"]
    assert read_records(tmp_path, "svc")[-1].text == "line 19"


def test_unwritable_log_dir_never_raises_counts_drops_and_recovers(tmp_path: Path) -> None:
    # A regular file where the folder should be: fails even for root (chmod would not).
    blocker = tmp_path / "logs"
    blocker.write_text("not a folder")
    clock = FakeClock()
    log = LogFile(blocker / "api.log", clock=clock)
    log.write("stdout", [b"a", b"b"], T0)
    assert log.degraded and log.last_error is not None
    assert "\n" not in log.last_error and str(blocker) in log.last_error
    log.write("stdout", [b"c"], T0)  # within the retry interval: no attempt, just counted
    assert log.dropped_lines == 3
    clock.now += 0.5
    log.write("stdout", [b"d"], T0)
    assert log.dropped_lines == 4
    blocker.unlink()
    clock.now += 1.0
    log.write("stdout", [b"e"], T0 + 1)
    log.close()
    assert not log.degraded and log.dropped_lines == 4
    records = read_records(blocker, "api")
    assert [r.stream for r in records] == ["devstack", "stdout"]
    assert "4 lines not written" in records[0].text and records[1].text == "e"


@pytest.mark.skipif(not os.path.exists("/dev/full") or os.geteuid() != 0,
                    reason="needs root, to make a /dev/full device node (a symlink is refused)")
def test_disk_full_drops_exact_counts_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    os.mknod(path, stat.S_IFCHR | 0o600, os.stat("/dev/full").st_rdev)  # every write: ENOSPC
    clock = FakeClock()
    log = LogFile(path, clock=clock)
    log.write("stdout", [b"x"] * 10, T0)
    assert log.last_error is not None and log.last_error.startswith("ENOSPC")
    assert log.dropped_lines == 10
    clock.now += 1.0
    log.write("stdout", [b"y"] * 5, T0)  # retried, still full: the recovery note is not counted
    assert log.dropped_lines == 15 and log.degraded
    path.unlink()
    clock.now += 1.0
    log.write("stdout", [b"back"], T0)
    log.close()
    records = read_records(tmp_path, "api")
    assert [r.text for r in records][1:] == ["back"]
    assert records[0].stream == "devstack" and "ENOSPC" in records[0].text
    assert "15 lines not written" in records[0].text
    assert log.dropped_lines == 15 and not log.degraded


def test_a_symlink_in_place_of_the_log_file_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "api.log").symlink_to(victim)
    log = LogFile(tmp_path / "api.log", clock=FakeClock())
    log.write("stdout", [b"x"], T0)
    log.close()
    assert victim.read_text() == "precious\n"
    assert log.last_error is not None and "symbolic link" in log.last_error


def test_log_dir_removed_while_running_is_recreated(tmp_path: Path) -> None:
    clock = FakeClock()
    log_dir = tmp_path / "logs"
    log = LogFile(log_dir / "api.log", clock=clock)
    log.write("stdout", [b"before"], T0)
    shutil.rmtree(log_dir)
    clock.now += 1.0
    log.write("stdout", [b"after"], T0 + 1)
    log.close()
    records = read_records(log_dir, "api")
    assert [r.stream for r in records] == ["devstack", "stdout"]
    assert records[1].text == "after"


def test_failed_rename_keeps_writing_to_the_current_file(tmp_path: Path) -> None:
    clock = FakeClock()
    log = LogFile(tmp_path / "svc.log", max_bytes=300, backups=1, clock=clock)
    (tmp_path / "svc.log.1").mkdir()  # renaming the file onto a folder fails
    (tmp_path / "svc.log.1" / "x").write_text("keeps it non-empty")
    for i in range(10):
        log.write("stdout", [f"line {i} " + "z" * 50], T0)
    log.close()
    assert log.dropped_lines == 0
    assert len(file_lines(tmp_path / "svc.log")) == 10


# --------------------------------------------------------------------------- reading


def test_parse_record_tolerates_junk() -> None:
    assert parse_record("a", "") is None
    assert parse_record("a", "hello world") is None
    assert parse_record("a", "2026-13-99T00:00:00Z stdout x") is None
    assert parse_record("a", "2026-11-26T05:39:45.123456Z") is None
    record = parse_record("a", "2026-11-26T05:39:45.123456Z stderr  two  spaces \n")
    assert record == LogRecord(
        "a", datetime(2026, 11, 26, 5, 39, 45, 123456, tzinfo=UTC), "stderr", " two  spaces "
    )


def test_readers_skip_junk_and_replace_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(
        b"garbage\n2026-11-26T05:00:00.000000Z stdout ok \xff\n\n2026-11-26T05:00:01.000000Z stdout end\n"
    )
    assert [r.text for r in read_records(tmp_path, "a")] == ["ok \ufffd", "end"]
    assert [r.text for r in tail(tmp_path, ["a"], 5, None)] == ["ok \ufffd", "end"]
    assert read_records(tmp_path, "missing") == [] and tail(tmp_path / "nope", ["a"], 5, None) == []


def write_records(path: Path, rows: list[tuple[float, str]]) -> None:
    log = LogFile(path)
    for ts, text in rows:
        log.write("stdout", [text], ts)
    log.close()


def test_tail_merges_services_in_time_order_stably(tmp_path: Path) -> None:
    write_records(
        tmp_path / "api.log", [(T0 + 1, "api1"), (T0 + 3, "api3"), (T0 + 3, "api3b"), (T0 + 5, "api5")]
    )
    write_records(tmp_path / "db.log", [(T0 + 2, "db2"), (T0 + 3, "db3"), (T0 + 6, "db6")])
    texts = [r.text for r in tail(tmp_path, ["api", "db"], 100, None)]
    assert texts == ["api1", "db2", "api3", "api3b", "db3", "api5", "db6"]
    # On equal timestamps the service named first comes first; each file keeps its order.
    assert [r.text for r in tail(tmp_path, ["db", "api"], 100, None)][2:5] == ["db3", "api3", "api3b"]
    assert [r.text for r in tail(tmp_path, ["api", "db"], 3, None)] == ["db3", "api5", "db6"]
    assert tail(tmp_path, ["api", "db"], 0, None) == []
    since = datetime.fromtimestamp(T0 + 3, UTC)
    assert [r.text for r in tail(tmp_path, ["api", "db"], 100, since)] == [
        "api3",
        "api3b",
        "db3",
        "api5",
        "db6",
    ]
    assert [r.text for r in read_records(tmp_path, "api", since)] == ["api3", "api3b", "api5"]


def test_tail_reads_back_through_a_long_line_and_skips_old_rotated_files(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "svc.log", max_bytes=300_000, backups=3)
    log.write("stdout", ["old"], T0)
    log.write("stdout", ["L" * 200_000], T0 + 10)  # spans several reverse-read blocks
    log.write("stdout", ["new"], T0 + 20)
    log.close()
    assert [r.text[:3] for r in tail(tmp_path, ["svc"], 2, None)] == ["LLL", "new"]
    assert len(tail(tmp_path, ["svc"], 2, None)[0].text) == 200_000
    since = datetime.fromtimestamp(T0 + 5, UTC)
    assert [r.text[:3] for r in read_records(tmp_path, "svc", since)] == ["LLL", "new"]


# --------------------------------------------------------------------------- following


def test_follower_holds_back_a_partial_line_until_it_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    write_records(path, [(T0, "before")])
    follower = Follower(tmp_path, ["api"])
    assert follower.poll() == []
    with open(path, "ab") as f:
        f.write(b"2026-11-26T05:00:00.000000Z stdout hal")
    assert follower.poll() == []
    with open(path, "ab") as f:
        f.write(b"f done\n2026-11-26T05:00:01.000000Z stdout next\n")
    assert [r.text for r in follower.poll()] == ["half done", "next"]
    assert follower.poll() == []


def test_follower_picks_up_a_file_created_later(tmp_path: Path) -> None:
    follower = Follower(tmp_path / "logs", ["late"])
    assert follower.backlog(10) == []
    assert follower.poll() == []
    write_records(tmp_path / "logs" / "late.log", [(T0, "hello"), (T0 + 1, "there")])
    assert [r.text for r in follower.poll()] == ["hello", "there"]


def test_backlog_then_poll_has_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "api.log", max_bytes=2000, backups=3)
    for i in range(30):
        log.write("stdout", [f"old {i} " + "o" * 40], T0 + i)
    follower = Follower(tmp_path, ["api"])
    for i in range(30):  # written after the snapshot, across a rotation
        log.write("stdout", [f"new {i} " + "n" * 40], T0 + 100 + i)
    log.close()
    backlog = [r.text.split(" ")[0] + r.text.split(" ")[1] for r in follower.backlog(5)]
    assert backlog == ["old25", "old26", "old27", "old28", "old29"]
    polled = [r.text.split(" ")[1] for r in follower.poll()]
    assert polled == [str(i) for i in range(30)]


def test_follower_across_rotations_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(11)
    clock = FakeClock()
    log = LogFile(tmp_path / "svc.log", max_bytes=3000, backups=3, clock=clock)
    follower = Follower(tmp_path, ["svc"])
    written: list[str] = []
    seen: list[str] = []
    for step in range(300):
        # Up to ~2 rotations between polls: the follower finds its file at NAME.log.K.
        for _ in range(rng.randint(0, 6)):
            lines = [f"{len(written) + i} " + "w" * rng.randint(0, 120) for i in range(rng.randint(1, 8))]
            written += lines
            log.write("stdout", lines, T0 + step)
        seen += [r.text for r in follower.poll()]
    log.close()
    seen += [r.text for r in follower.poll()]
    assert seen == written


def test_follower_rereads_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    write_records(path, [(T0, "one " + "x" * 100), (T0, "two")])
    follower = Follower(tmp_path, ["api"])
    with open(path, "r+b") as f:
        f.truncate(0)
    write_records(path, [(T0 + 1, "fresh")])
    assert [r.text for r in follower.poll()] == ["fresh"]


def test_follower_merges_services_in_time_order(tmp_path: Path) -> None:
    follower = Follower(tmp_path, ["api", "db"], from_end=False)
    write_records(tmp_path / "api.log", [(T0 + 1, "api1"), (T0 + 3, "api3")])
    write_records(tmp_path / "db.log", [(T0 + 2, "db2")])
    assert [r.text for r in follower.poll()] == ["api1", "db2", "api3"]
    assert [r.service for r in tail(tmp_path, ["api", "db"], 2, None)] == ["db", "api"]


# --------------------------------------------------------------------------- --since


@pytest.fixture
def india_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time fixed at UTC+05:30 (a POSIX TZ string: no tz database needed)."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


NOW = datetime(2026, 11, 26, 5, 39, 45, tzinfo=UTC)  # 11:09:45 in UTC+05:30


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10s", NOW - timedelta(seconds=10)),
        ("5m", NOW - timedelta(minutes=5)),
        ("2h", NOW - timedelta(hours=2)),
        ("250ms", NOW - timedelta(milliseconds=250)),
        (" 1.5h ", NOW - timedelta(minutes=90)),
        ("2026-11-26T05:00:00Z", datetime(2026, 11, 26, 5, 0, tzinfo=UTC)),
        ("2026-11-26T05:00:00+01:00", datetime(2026, 11, 26, 4, 0, tzinfo=UTC)),
        ("2026-11-26T05:00:00", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 25, 18, 30, tzinfo=UTC)),
        ("05:00", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        ("11:09:30", datetime(2026, 11, 26, 5, 39, 30, tzinfo=UTC)),
        ("23:00", datetime(2026, 11, 26, 17, 30, tzinfo=UTC)),  # today, even if still to come
    ],
)
def test_parse_since(india_time: None, value: str, expected: datetime) -> None:
    got = parse_since(value, NOW)
    assert got == expected and got.tzinfo == UTC


@pytest.mark.parametrize("value", ["", "10", "-5m", "5 minutes", "yesterday", "25:00", "12:61", "2026-13-01"])
def test_parse_since_rejects_with_a_plain_message(value: str) -> None:
    with pytest.raises(ValueError, match=r'expected a duration like "10m"'):
        parse_since(value, NOW)
