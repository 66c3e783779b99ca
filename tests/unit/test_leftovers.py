"""The record of adopted processes (process/leftovers.py): what a supervisor writes so that the
next one can stop what it adopted, and how a reused pid is never taken for a recorded process."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.process.leftovers import Recorded, read_record, recorded_alive, write_record
from devstack.process.tree import stat


def test_the_record_reads_back_what_was_written(tmp_path: Path) -> None:
    record = tmp_path / "adopted"
    entries = [Recorded(123, 4567, "abc/web"), Recorded(124, 4568, "")]
    write_record(record, entries)
    assert read_record(record) == entries
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "adopted.new").exists()


def test_a_missing_or_damaged_record_names_nothing(tmp_path: Path) -> None:
    assert read_record(tmp_path / "none") == []
    (tmp_path / "adopted").write_text("garbage\n12 x web\n\n7 8\n")
    assert read_record(tmp_path / "adopted") == [Recorded(7, 8, "")]


def test_a_recorded_pid_counts_only_with_its_start_time(tmp_path: Path) -> None:
    """This test's own process stands for a recorded one: the same pid with another start time is
    a stranger that reused the pid, and is never returned (so never signalled)."""
    me = stat(os.getpid())
    assert me is not None
    record = tmp_path / "adopted"
    write_record(record, [Recorded(os.getpid(), me.start, "id/web")])
    assert [p.pid for p in recorded_alive(record)] == [os.getpid()]
    write_record(record, [Recorded(os.getpid(), me.start + 1, "id/web")])
    assert recorded_alive(record) == []
