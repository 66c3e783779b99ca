"""The byte-level plumbing of kept logs: framing, the on-disk record format, rotation, reading back.

Owned here, shared by the supervisor (writer, inside the event loop, hot path) and
`devstack logs` (reader, plain synchronous code):

* `LineSplitter` frames a child's raw output into lines, with a maximum line length
  instead of asyncio's 64 KiB `readline()` limit (which raises and drops the line).
* `decode_lines` turns complete lines into text; invalid UTF-8 becomes U+FFFD.
* `LogFile` appends records to `.devstack/logs/NAME.log`, rotates it by size
  (NAME.log → NAME.log.1 → … → NAME.log.N) and never raises on I/O errors.
* `parse_record`, `read_records`, `tail`, `Follower` and `parse_since` read those files.

The file format is one record per line::

    2026-11-26T05:39:45.123456Z stdout the line as the service printed it

The timestamp is UTC with microseconds and always 27 characters, the stream is
`stdout`, `stderr` or `devstack` (devstack's own notes about the file). Line bytes are
written to the file unchanged, invalid UTF-8 included: nothing is lost on disk, and the
readers decode each complete line with `replace`, so what they return always encodes.
A record is written whole or not at all and is never split by rotation.

Not owned here: the log hub (ring buffers, subscribers, idle flush of partial lines,
rate limiting) and terminal printing.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, cast

from devstack.config.durations import parse_duration
from devstack.text.stamps import SecondText

__all__ = [
    "DEFAULT_BACKUPS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_LINE",
    "STREAMS",
    "Follower",
    "LineSplitter",
    "LogFile",
    "LogRecord",
    "decode_lines",
    "format_timestamp",
    "log_files",
    "parse_record",
    "parse_since",
    "prefixed",
    "read_records",
    "tail",
]

DEFAULT_MAX_LINE = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 3
STREAMS = ("stdout", "stderr", "devstack")

_BLOCK = 64 * 1024  # reverse-read block: big enough that a 100-line tail is one read


# --------------------------------------------------------------------------- framing


class LineSplitter:
    """Frames a byte stream into lines without the 64 KiB limit of `StreamReader.readline`.

    `feed()` returns the complete lines a chunk finishes, without their `\\n` and
    without one `\\r` before it; the bytes after the last newline are kept for the next
    feed, and `flush()` returns them at EOF (a last line without a newline is kept).

    A line longer than `max_line` is not dropped: it is emitted in pieces of exactly
    `max_line` bytes as it arrives, the last piece being the remaining 1..max_line
    bytes. Concatenating the pieces gives the line back, so no byte is ever lost and
    memory stays bounded by about `max_line` plus one chunk. `split_lines` counts the
    lines that were cut this way.

    The work per feed is proportional to the chunk, not to the pending tail: the tail is
    kept as a list of chunks and joined only when a newline (or `max_line`) ends it.
    """

    __slots__ = ("_continued", "_parts", "_pending", "max_line", "split_lines")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError(f"max_line must be at least 1, got {max_line}")
        self.max_line = max_line
        self.split_lines = 0
        self._parts: list[bytes] = []  # the pending partial line, as received
        self._pending = 0  # total length of _parts
        self._continued = False  # pieces of the pending line were already emitted

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back (for an idle flush decision)."""
        return self._pending

    def peek(self) -> bytes:
        """The unfinished line so far, without consuming it (e.g. to show a `Password:` prompt)."""
        if len(self._parts) > 1:
            self._parts = [b"".join(self._parts)]
        return self._parts[0] if self._parts else b""

    def feed_block(self, chunk: bytes) -> bytes | None:
        """The complete lines `chunk` finishes as one block, joined by `\\n` (none at its end),
        or None (nothing consumed) where only `feed()` frames right: no newline in the chunk, a
        `\\r` in it, a line that could reach `max_line`, a cut line going on.

        The relay's hot path: a block is framed without one Python object per line.
        """
        end = chunk.rfind(b"\n")
        if (end < 0 or self._continued or self._pending + len(chunk) > self.max_line or b"\r" in chunk
                or (self._parts and self._parts[-1].endswith(b"\r"))):
            return None
        block = chunk[:end]
        if self._parts:
            self._parts.append(block)
            block = b"".join(self._parts)
        tail = chunk[end + 1 :]
        self._parts = [tail] if tail else []
        self._pending = len(tail)
        return block

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
                self._pending += len(chunk)
                if self._pending > self.max_line:
                    return self._cut_pending()
            return []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if self._parts:
            self._parts.append(lines[0])
            lines[0] = b"".join(self._parts)
        # Strip one \r per line. Only the first line can have its \r in an earlier chunk;
        # for the rest a C-level scan of the chunk avoids per-line Python work.
        if lines[0].endswith(b"\r"):
            lines[0] = lines[0][:-1]
        if b"\r\n" in chunk:
            lines[1:] = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines[1:]]
        continued = self._continued
        self._parts = [tail] if tail else []
        self._pending = len(tail)
        self._continued = False
        # Only a line longer than the chunk limit can need cutting: the first one (which may
        # carry a long pending tail) or any when the chunk itself is longer than max_line.
        if len(lines[0]) > self.max_line or len(chunk) > self.max_line or continued:
            lines = self._cut_long(lines, continued)
        if self._pending > self.max_line:
            lines.extend(self._cut_pending())
        return lines

    def flush(self) -> list[bytes]:
        """The unfinished last line (one `\\r` stripped), or nothing; resets the splitter."""
        if not self._parts:
            self._continued = False
            return []
        line = b"".join(self._parts)
        continued = self._continued
        self._parts, self._pending, self._continued = [], 0, False
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line and continued:
            return []  # the \r was all that was left of a cut line
        return [line]

    def _cut_pending(self) -> list[bytes]:
        # Keep 1..max_line bytes back: a line of exactly k*max_line bytes then ends in a
        # full last piece instead of an extra empty line when its newline arrives.
        data = b"".join(self._parts)
        m = self.max_line
        count = (len(data) - 1) // m
        pieces = [data[i * m : (i + 1) * m] for i in range(count)]
        rest = data[count * m :]
        self._parts, self._pending = [rest], len(rest)
        if not self._continued:
            self.split_lines += 1
        self._continued = True
        return pieces

    def _cut_long(self, lines: list[bytes], first_continued: bool) -> list[bytes]:
        m = self.max_line
        out: list[bytes] = []
        for i, line in enumerate(lines):
            if len(line) > m:
                if not (i == 0 and first_continued):
                    self.split_lines += 1
                out.extend(line[j : j + m] for j in range(0, len(line), m))
            elif line or not (i == 0 and first_continued):
                # An empty end of an already-cut line was only its "\r": nothing to emit.
                out.append(line)
        return out


def prefixed(prefix: bytes, block: bytes) -> bytes:
    """Every line of `block` (lines joined by `\\n`) after `prefix`, each ending in `\\n`: one
    replace and one copy, whatever the number of lines (the relay's hot path)."""
    return b"".join((prefix, block.replace(b"\n", b"\n" + prefix), b"\n"))


def decode_lines(lines: Sequence[bytes]) -> list[str]:
    """Complete lines as text; invalid UTF-8 becomes U+FFFD, never an error.

    Decodes the whole batch in one call: 0x0A is never part of a UTF-8 sequence, so the
    decoder cannot swallow a separator and splitting afterwards gives the same lines as
    decoding each one.
    """
    if not lines:
        return []
    out = b"\n".join(lines).decode("utf-8", "replace").split("\n")
    if len(out) != len(lines):  # a line held a newline itself (not from LineSplitter)
        return [line.decode("utf-8", "replace") for line in lines]
    return out


# --------------------------------------------------------------------------- writing


_utc_seconds = SecondText("%Y-%m-%dT%H:%M:%S", utc=True)


def format_timestamp(ts: float) -> str:
    """`2026-11-26T05:39:45.123456Z` for a POSIX time: fixed width, so it sorts as text.

    Called for every chunk a service prints; the microseconds are rounded as
    `datetime.fromtimestamp` rounds them."""
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:  # before 1970: modf keeps the sign
        whole, micros = whole - 1, micros + 1_000_000
    return f"{_utc_seconds(int(whole))}.{micros:06d}Z"


def _describe(exc: OSError, path: Path) -> str:
    name = errno.errorcode.get(exc.errno or 0, "error")
    if exc.errno == errno.ELOOP:
        return f"{exc.filename or path} is a symbolic link; devstack never writes through one (remove it)"
    return f"{name}: {exc.strerror or exc} ({exc.filename or path})"


# O_NOFOLLOW: a symlink planted where a log file goes must not redirect the output (R21).
_OPEN_FLAGS = (
    os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
)


class LogFile:
    """One service's kept log: appends records, rotates by size, survives I/O errors.

    `write()` never raises on I/O: when the file cannot be opened or written (ENOSPC,
    EACCES, the folder removed or replaced by a file) the lines are counted in
    `dropped_lines`, `last_error` holds a one-line reason, and the file is retried on the
    first write after `retry_interval` seconds. On recovery a `devstack` record saying how
    many lines were lost is written first. `last_error` is cleared by that recovery;
    `degraded` says whether the file is failing now.

    Once per `retry_interval` the open file is compared with the path (device and inode):
    if the file or its folder was removed or replaced, it is reopened and the folder
    recreated (0700), so logging resumes instead of writing into a deleted inode.

    Rotation happens before a record would take the file past `max_bytes`; a record longer
    than `max_bytes` gets a file of its own. At most `backups + 1` files exist. If renaming
    fails (e.g. a reader holds the file open on Windows) the file keeps growing and
    rotation is tried again later: a bigger file beats lost lines.

    Writes go straight to the file descriptor (one `os.write` per call and rotation
    segment), so a crash loses nothing buffered and errors are counted where they happen.
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        *,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be positive and backups not negative")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.retry_interval = retry_interval
        self.dropped_lines = 0
        self.last_error: str | None = None
        self._clock = clock
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._size = 0
        self._need_newline = False  # the file ends in a partial record (a crash, a failed write)
        self._next_check = 0.0  # next time to compare the open file with the path
        self._retry_at = 0.0  # while failing: no attempt before this time
        self._rotate_after = 0.0  # after a failed rename: no rotation before this time
        self._lost = 0  # lines dropped since the current failure began
        self._reopened = False  # the file vanished under us: say so in the new file
        self._stamp_ts: float | None = None
        self._prefixes: dict[str, bytes] = {}

    @property
    def degraded(self) -> bool:
        return self.last_error is not None

    def write(self, stream: str, lines: Sequence[bytes] | Sequence[str], ts: float,
              framed: bool = False) -> None:
        """Append one record per line, all stamped `ts` (POSIX seconds). `framed`: the lines
        come from a LineSplitter, so none holds a newline and the scan for them is skipped."""
        if not lines:
            return
        payload = self._encode(stream, lines, ts, framed)
        self._write_payload(payload, ts)

    def write_block(self, stream: str, block: bytes, ts: float) -> None:
        """Append the lines of `block` (framed lines joined by `\\n`, see
        `LineSplitter.feed_block`), all stamped `ts`: one record per line."""
        self._write_payload(prefixed(self._prefix(stream, ts), block), ts)

    def _write_payload(self, payload: bytes, ts: float) -> None:
        now = self._clock()
        if (self._fd is None or now >= self._next_check) and not self._ensure_open(now, ts):
            lost = payload.count(b"\n")  # one per record: counted only when they are lost
            self.dropped_lines += lost
            self._lost += lost
            return
        self._append(payload, now)

    def close(self) -> None:
        self._close_fd()

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The hot path: one prefix per call, one join, one scan for stray newlines.
    def _encode(self, stream: str, lines: Sequence[bytes] | Sequence[str], ts: float,
                framed: bool = False) -> bytes:
        prefix = self._prefix(stream, ts)
        if isinstance(lines[0], str):
            # backslashreplace: a lone surrogate in a str must not make the write raise.
            sep = "\n" + prefix.decode("ascii")
            body = (sep.join(cast(Sequence[str], lines)) + "\n").encode("utf-8", "backslashreplace")
        else:
            body = (b"\n" + prefix).join(cast(Sequence[bytes], lines)) + b"\n"
        payload = prefix + body
        if not framed and payload.count(b"\n") != len(lines):
            # A line held a newline (a multi-line devstack message, a caller not using
            # LineSplitter): one record per physical line keeps the file parseable.
            return self._encode(stream, _split_embedded(lines), ts)
        return payload

    def _prefix(self, stream: str, ts: float) -> bytes:
        if ts != self._stamp_ts:
            self._stamp_ts = ts
            self._prefixes = {}
        prefix = self._prefixes.get(stream)
        if prefix is None:
            if not stream or any(c.isspace() for c in stream) or not stream.isascii():
                raise ValueError(f"a log stream name is one ASCII word, got {stream!r}")
            prefix = f"{format_timestamp(ts)} {stream} ".encode("ascii")
            self._prefixes[stream] = prefix
        return prefix

    def _ensure_open(self, now: float, ts: float) -> bool:
        if self._fd is not None:
            self._next_check = now + self.retry_interval
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._identity:
                    return True
            except OSError:
                pass
            # Removed, replaced or its folder deleted: what we wrote since the last check went
            # to an unlinked file. Start a new one rather than keep writing into the void.
            self._close_fd()
            self._reopened = True
        elif now < self._retry_at:
            return False
        if not self._open(now):
            return False
        note = None
        if self.last_error is not None:
            note = f"log file was not writable: {self.last_error}; {self._lost} lines not written"
        elif self._reopened:
            note = "log file was removed or replaced while in use; reopened"
        self._reopened = False
        if note is not None:
            payload = self._encode("devstack", [note], ts)
            dropped, lost = self.dropped_lines, self._lost
            self._append(payload, now)
            if self._fd is None:
                # Failed again. The note is not a service line: keep the counts as they were
                # so the next recovery note reports the whole outage.
                self.dropped_lines, self._lost = dropped, lost
                return False
            self.last_error = None
            self._lost = 0
        return True

    def _open(self, now: float) -> bool:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, _OPEN_FLAGS, 0o600)
        except OSError as exc:
            self._fail(exc, now)
            return False
        try:
            st = os.fstat(fd)
            self._need_newline = st.st_size > 0 and not _ends_with_newline(self.path, st.st_size)
        except OSError as exc:
            os.close(fd)
            self._fail(exc, now)
            return False
        self._fd = fd
        self._identity = (st.st_dev, st.st_ino)
        self._size = st.st_size
        self._next_check = now + self.retry_interval
        return True

    def _append(self, payload: bytes, now: float) -> None:
        pos, total = 0, len(payload)
        if self._need_newline:
            # Close the partial record a crash left behind, so ours starts on its own line.
            self._need_newline = self._write_segment(b"\n", now) != 1
        while pos < total and not self._need_newline:
            room = self.max_bytes - self._size
            if total - pos <= room or now < self._rotate_after:
                end = total
            else:
                # Fill the file with whole records only, then rotate.
                end = payload.rfind(b"\n", pos, pos + room) + 1 if room > 0 else 0
                if end <= pos:
                    if self._size > 0:
                        self._rotate(now)
                        if self._fd is None:
                            break
                        continue  # a fresh file, or a failed rename that lets this one grow
                    end = payload.index(b"\n", pos) + 1  # a record bigger than max_bytes: alone
            written = self._write_segment(payload[pos:end], now)
            pos += written
            if pos < end:
                break
        if pos < total:
            # Records are whole in `payload`, so its newlines after `pos` count the lost lines.
            lost = payload.count(b"\n", pos)
            self.dropped_lines += lost
            self._lost += lost

    def _write_segment(self, segment: bytes, now: float) -> int:
        """Write whole records; returns how many bytes of `segment` are in the file.

        On failure the file is cut back to the last complete record (a torn record would
        glue onto the next one) and the returned length ends at that record.
        """
        if self._fd is None:
            return 0
        start = self._size
        view = memoryview(segment)
        try:
            while view:
                n = os.write(self._fd, view)
                self._size += n
                view = view[n:]
            return len(segment)
        except OSError as exc:
            written = self._size - start
            keep = segment.rfind(b"\n", 0, written) + 1
            try:
                os.ftruncate(self._fd, start + keep)
                self._size = start + keep
            except OSError:
                self._need_newline = written > keep
            self._fail(exc, now)
            return keep

    def _rotate(self, now: float) -> None:
        self._close_fd()
        try:
            if self.backups == 0:
                os.remove(self.path)
            else:
                for i in range(self.backups - 1, 0, -1):
                    with contextlib.suppress(FileNotFoundError):  # gaps are fine
                        os.replace(f"{self.path}.{i}", f"{self.path}.{i + 1}")
                os.replace(self.path, f"{self.path}.1")
        except FileNotFoundError:
            pass  # removed under us: the reopen below starts a fresh file anyway
        except OSError:
            # Renaming failed (on Windows: a reader has the file open). Keep appending to
            # this file past max_bytes for a while; a bigger file beats lost lines.
            self._rotate_after = now + self.retry_interval
        self._open(now)

    def _fail(self, exc: OSError, now: float) -> None:
        self.last_error = _describe(exc, self.path)
        self._retry_at = now + self.retry_interval
        self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


def _split_embedded(lines: Sequence[bytes] | Sequence[str]) -> list[bytes] | list[str]:
    if isinstance(lines[0], str):
        return [
            p[:-1] if p.endswith("\r") else p for ln in cast(Sequence[str], lines) for p in ln.split("\n")
        ]
    return [
        p[:-1] if p.endswith(b"\r") else p for ln in cast(Sequence[bytes], lines) for p in ln.split(b"\n")
    ]


def _ends_with_newline(path: Path, size: int) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(size - 1)
            return f.read(1) in (b"\n", b"")
    except OSError:
        return True


# --------------------------------------------------------------------------- reading


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


def _parse_block(service: str, data: bytes) -> list[LogRecord]:
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
        size = min(_BLOCK, pos)
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


def _tail_service(
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


def _merge_last(per_service: Iterable[list[LogRecord]], n: int | None) -> list[LogRecord]:
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
        block = _parse_block(service, data)
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
    return _merge_last((_tail_service(log_dir, s, n, since) for s in services), n)


@dataclass
class _Followed:
    service: str
    path: Path
    identity: tuple[int, int] | None = None  # the file being read; None: wait for one
    pos: int = 0  # offset just after the last complete line consumed


class Follower:
    """Follows several services' log files: `poll()` returns the records added since.

    By default reading starts at the end of what is there now (the end of its last
    complete line); `backlog(n, since)` returns the last records before that point, so
    backlog-then-poll has neither a gap nor a duplicate. With `from_end=False` the
    current files are read from their start.

    Files are not held open between polls (on Windows an open file cannot be renamed,
    which would block the writer's rotation). Each poll compares the file at the path
    with the one being read, by device and inode: when it changed, the rest of the old
    file is read from wherever rotation moved it (NAME.log.K) and any files rotated after
    it, then the new file from its start. A file that shrank was truncated and is re-read
    from its start; a file that does not exist yet is picked up when it appears. A last
    line without its newline is held back until it is complete.
    """

    def __init__(self, log_dir: Path, services: Sequence[str], *, from_end: bool = True) -> None:
        self.log_dir = log_dir
        self._followed = [_Followed(s, log_dir / f"{s}.log") for s in services]
        if from_end:
            for item in self._followed:
                try:
                    with open(item.path, "rb") as f:
                        st = os.fstat(f.fileno())
                        item.identity = (st.st_dev, st.st_ino)
                        item.pos = _complete_end(f, st.st_size)
                except OSError:
                    pass

    def backlog(self, n: int | None, since: datetime | None = None) -> list[LogRecord]:
        """The last n records (all with None) up to where following starts, in time order."""
        if n is not None and n <= 0:
            return []
        parts = [
            _tail_service(
                self.log_dir,
                item.service,
                n,
                since,
                anchor=(item.identity, item.pos) if item.identity is not None else None,
                # No file when we started: whatever appears since is poll()'s to return.
                skip_current=item.identity is None,
            )
            for item in self._followed
        ]
        return _merge_last(parts, n)

    def poll(self) -> list[LogRecord]:
        """New complete records of all followed services, merged in time order."""
        return list(heapq.merge(*(self._poll_one(item) for item in self._followed), key=lambda r: r.ts))

    def _poll_one(self, item: _Followed) -> list[LogRecord]:
        out: list[LogRecord] = []
        for _ in range(3):  # the path can change between our stat and our open: look again
            try:
                st = os.stat(item.path)
                current: tuple[int, int] | None = (st.st_dev, st.st_ino)
            except FileNotFoundError:
                current = None
            except OSError:
                return out
            if item.identity is not None and current != item.identity:
                out.extend(self._finish_rotated(item))
                item.identity, item.pos = None, 0
            if current is None:
                return out
            if item.identity is None:
                item.identity, item.pos = current, 0
            elif st.st_size < item.pos:
                item.pos = 0  # truncated in place: the new content starts at 0
            records = self._read_from(item)
            if records is not None:
                out.extend(records)
                return out
        return out

    def _read_from(self, item: _Followed) -> list[LogRecord] | None:
        """Complete lines of the followed file after `pos`; None if the path changed."""
        try:
            with open(item.path, "rb") as f:
                st = os.fstat(f.fileno())
                if (st.st_dev, st.st_ino) != item.identity:
                    return None
                f.seek(item.pos)
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError:
            return []
        cut = data.rfind(b"\n") + 1
        item.pos += cut
        return _parse_block(item.service, data[:cut])

    def _finish_rotated(self, item: _Followed) -> list[LogRecord]:
        """The rest of the file rotated away under us, then the files rotated after it."""
        backups = log_files(self.log_dir, item.service)
        if backups and backups[0].name == f"{item.service}.log":
            backups = backups[1:]
        records: list[LogRecord] = []
        for index, path in enumerate(backups):
            try:
                with open(path, "rb") as f:
                    st = os.fstat(f.fileno())
                    if (st.st_dev, st.st_ino) != item.identity:
                        continue
                    f.seek(item.pos)
                    # A finished file: a torn last line is all there will ever be of it.
                    records.extend(_parse_block(item.service, f.read()))
            except OSError:
                continue
            # Files rotated after ours hold the lines written since: oldest first.
            for newer in reversed(backups[:index]):
                try:
                    records.extend(_parse_block(item.service, newer.read_bytes()))
                except OSError:
                    continue
            return records
        return records  # rotated past the last backup (or deleted): nothing left to read


def _complete_end(f: BinaryIO, size: int) -> int:
    """Offset just after the last newline in the first `size` bytes of f (0 if none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        found = f.read(pos - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0


# --------------------------------------------------------------------------- --since

_SINCE_DURATION = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h)\s*$")
_CLOCK_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*$")


def parse_since(value: str, now: datetime) -> datetime:
    """The aware UTC time `--since VALUE` means.

    Durations ago: "250ms", "10s", "5m", "2h" (a unit is required: a bare number is
    too easily a mistyped time). ISO times: "2026-11-26T05:00:00Z" or with an offset;
    without one they are local time, like "2026-11-26T05:00" and "2026-11-26".
    "HH:MM" or "HH:MM:SS" means that time today, local time (even if still to come).
    """
    local_now = now.astimezone()  # an aware `now` keeps its instant; a naive one is local
    if _SINCE_DURATION.match(value):
        return (local_now - timedelta(seconds=parse_duration(value))).astimezone(UTC)
    clock = _CLOCK_TIME.match(value)
    if clock:
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        micro = int((clock[4] or "0").ljust(6, "0"))
        if hour < 24 and minute < 60 and second < 60:
            naive = datetime.combine(local_now.date(), datetime.min.time()).replace(
                hour=hour, minute=minute, second=second, microsecond=micro
            )
            return naive.astimezone().astimezone(UTC)
    else:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return (when.astimezone() if when.tzinfo is None else when).astimezone(UTC)
    raise ValueError(
        f'expected a duration like "10m" or "250ms", or a time like "2026-11-26T05:00:00" or "05:00", '
        f"got {value!r}"
    )
