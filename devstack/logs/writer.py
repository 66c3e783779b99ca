"""Writing kept logs: `LogFile` appends records to `.devstack/logs/NAME.log`, rotates it by size
(NAME.log → NAME.log.1 → … → NAME.log.N) and never raises on I/O errors.

The file format is one record per line::

    2026-11-26T05:39:45.123456Z stdout the line as the service printed it

The timestamp is UTC with microseconds and always 27 characters, the stream is
`stdout`, `stderr` or `devstack` (devstack's own notes about the file). Line bytes are
written to the file unchanged, invalid UTF-8 included: nothing is lost on disk, and the
readers (reader.py) decode each complete line with `replace`. A record is written whole or
not at all and is never split by rotation.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from devstack.logs.framing import prefixed
from devstack.text.stamps import SecondText

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


DEFAULT_BACKUPS = 3


STREAMS = ("stdout", "stderr", "devstack")


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
