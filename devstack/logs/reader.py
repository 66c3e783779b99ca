"""Reading kept logs back (`devstack logs`, plain synchronous code): records parsed from the
files writer.py writes, the last N of several services merged in time order, reading each
file backwards from its end so that a 100-line tail of a 10 MB file is one read.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

READ_BLOCK = 64 * 1024  # reverse-read block: big enough that a 100-line tail is one read


@dataclass(frozen=True, slots=True)
class LogRecord:
    service: str
    ts: datetime  # aware, UTC
    stream: str
    text: str


def parse_record(service: str, raw_line: str) -> LogRecord | None:
    """One file line as a record, or None when it is not one (junk, a torn first line).

    One trailing newline is ignored; the text keeps everything after the stream word
    exactly, leading spaces included.
    """
    if raw_line.endswith("\n"):
        raw_line = raw_line[:-1]
    head, sep, rest = raw_line.partition(" ")
    if not sep or not head[:1].isdigit():
        return None
    try:
        ts = datetime.fromisoformat(head)
    except ValueError:
        return None
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    stream, _, text = rest.partition(" ")
    if not stream:
        return None
    return LogRecord(service, ts, stream, text)


def log_files(log_dir: Path, service: str) -> list[Path]:
    """The service's existing files, newest first: NAME.log, NAME.log.1, NAME.log.2, …"""
    base = f"{service}.log"
    numbered: list[tuple[int, str]] = []
    current = False
    try:
        # scandir, not glob: service names must not be read as patterns.
        with os.scandir(log_dir) as entries:
            for entry in entries:
                name = entry.name
                if name == base:
                    current = True
                elif name.startswith(base + ".") and name[len(base) + 1 :].isdigit():
                    numbered.append((int(name[len(base) + 1 :]), name))
    except OSError:
        return []
    numbered.sort()
    return ([log_dir / base] if current else []) + [log_dir / name for _, name in numbered]


def parse_block(service: str, data: bytes) -> list[LogRecord]:
    # Decoding the whole block once is equivalent to decoding line by line (0x0A always
    # separates UTF-8 sequences) and much faster for a 10 MB file.
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and not lines[-1]:
        lines.pop()
    records = []
    for line in lines:
        record = parse_record(service, line)
        if record is not None:
            records.append(record)
    return records


def _lines_backward(f: BinaryIO, end: int, include_partial: bool) -> Iterator[bytes]:
    """The lines of f[0:end], newest first, read in blocks from the end.

    The bytes after the last newline (a record still being written, or torn by a
    crash) come first, and only when `include_partial`.
    """
    pos = end
    pending: list[bytes] = []  # pieces of the line being assembled, newest piece first
    first = True
    while pos > 0:
        size = min(READ_BLOCK, pos)
        pos -= size
        f.seek(pos)
        data = f.read(size)
        parts = data.split(b"\n")
        if len(parts) == 1:
            pending.append(data)
            continue
        pending.append(parts[-1])
        line = b"".join(reversed(pending))
        if not first or (include_partial and line):
            yield line
        first = False
        yield from reversed(parts[1:-1])
        pending = [parts[0]]
    line = b"".join(reversed(pending))
    if not first or (include_partial and line):
        yield line


def tail_service(
    log_dir: Path,
    service: str,
    n: int | None,
    since: datetime | None,
    anchor: tuple[tuple[int, int], int] | None = None,
    skip_current: bool = False,
) -> list[LogRecord]:
    """The last n records of one service, oldest first, reading files from their ends.

    With `anchor` ((device, inode), offset) reading starts in that file at that offset,
    wherever rotation has moved it since; files newer than it are left out.
    """
    out: list[LogRecord] = []
    seen: set[tuple[int, int]] = set()
    started = anchor is None
    for index, path in enumerate(log_files(log_dir, service)):
        if n is not None and len(out) >= n:
            break
        if skip_current and index == 0 and path.name == f"{service}.log":
            continue
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                # A rotation while we read moves the file just read to NAME.log.1: skip it.
                if identity in seen:
                    continue
                seen.add(identity)
                end = st.st_size
                if anchor is not None and not started:
                    if identity != anchor[0]:
                        continue
                    started, end = True, min(anchor[1], st.st_size)
                if _collect_backward(service, f, end, n, since, out):
                    break
        except OSError:
            continue
    out.reverse()
    return out


def _collect_backward(
    service: str, f: BinaryIO, end: int, n: int | None, since: datetime | None, out: list[LogRecord]
) -> bool:
    """Append f's records newest first to `out`; True when n or `since` says stop."""
    for raw in _lines_backward(f, end, include_partial=True):
        record = parse_record(service, raw.decode("utf-8", "replace"))
        if record is None:
            continue
        # Files are appended in time order, so the first older record ends the walk.
        if since is not None and record.ts < since:
            return True
        out.append(record)
        if n is not None and len(out) >= n:
            return True
    return False


def merge_last(per_service: Iterable[list[LogRecord]], n: int | None) -> list[LogRecord]:
    # heapq.merge keeps each service's own order even if its clock stepped back, and on
    # equal timestamps takes the earlier-named service first: a stable merge.
    merged = list(heapq.merge(*per_service, key=lambda r: r.ts))
    return merged if n is None else merged[max(0, len(merged) - n) :] if n > 0 else []


def read_records(log_dir: Path, service: str, since: datetime | None = None) -> list[LogRecord]:
    """All kept records of a service, oldest file first (NAME.log.3 … NAME.log)."""
    records: list[LogRecord] = []
    for path in reversed(log_files(log_dir, service)):
        try:
            with open(path, "rb") as f:
                if since is not None and _last_ts(service, f) < since:
                    continue  # a whole rotated file from before `since`: not worth parsing
                f.seek(0)
                data = f.read()
        except OSError:
            continue
        block = parse_block(service, data)
        if since is not None:
            block = [r for r in block if r.ts >= since]
        records.extend(block)
    return records


def _last_ts(service: str, f: BinaryIO) -> datetime:
    for raw in _lines_backward(f, os.fstat(f.fileno()).st_size, include_partial=True):
        record = parse_record(service, raw.decode("utf-8", "replace"))
        if record is not None:
            return record.ts
    return datetime.max.replace(tzinfo=UTC)  # nothing parsable: let the full read decide


def tail(
    log_dir: Path, services: Sequence[str], n: int | None, since: datetime | None = None
) -> list[LogRecord]:
    """The last n records (all with None) of the named services, merged in time order.

    Reads each service's files backwards from the end, going into rotated files only
    when the newer ones hold fewer than n records (or records after `since`). A record
    still being written at the end of a file is included when it already parses; use
    `Follower.backlog` before following, which holds it back for `poll()`.
    """
    if n is not None and n <= 0:
        return []
    return merge_last((tail_service(log_dir, s, n, since) for s in services), n)
