"""Following kept logs (`devstack logs -f`): the records added to several services' files since
the last poll, across rotation and truncation, with a backlog that meets the first poll
without a gap or a duplicate.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from devstack.logs.reader import READ_BLOCK, LogRecord, log_files, merge_last, parse_block, tail_service


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
            tail_service(
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
        return merge_last(parts, n)

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
        return parse_block(item.service, data[:cut])

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
                    records.extend(parse_block(item.service, f.read()))
            except OSError:
                continue
            # Files rotated after ours hold the lines written since: oldest first.
            for newer in reversed(backups[:index]):
                try:
                    records.extend(parse_block(item.service, newer.read_bytes()))
                except OSError:
                    continue
            return records
        return records  # rotated past the last backup (or deleted): nothing left to read


def _complete_end(f: BinaryIO, size: int) -> int:
    """Offset just after the last newline in the first `size` bytes of f (0 if none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - READ_BLOCK)
        f.seek(start)
        found = f.read(pos - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0
