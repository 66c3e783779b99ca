"""Whose is an adopted process (process/lineage.py): the attribution rules as a table of what
devstack saw and what /proc says, no processes."""

from __future__ import annotations

import pytest

from devstack.process.lineage import Adoptee, RunInfo, Seen, attribute
from devstack.process.tree import Stat

TAGS = ("id/web", "id/db")
NOW = 5_000


def stat(pid: int, start: int, sid: int | None = None, pgid: int | None = None) -> Stat:
    return Stat("S", 1, pgid if pgid is not None else pid, sid if sid is not None else pid, start)


# web's run: root 100 from tick 1000 (alive); db's run: root 200 from tick 1500, ended at 1600
RUNS = {100: RunInfo("id/web", 1000), 200: RunInfo("id/db", 1500, 1600), 300: RunInfo(None, 1000)}


@pytest.mark.parametrize(("case", "pid", "st", "env_tag", "seen", "adopted", "want"), [
    ("seen in web's tree before it was orphaned", 7, stat(7, 1200), None,
     {"id/web": Seen(1300, frozenset({100, 7}))}, {}, "id/web"),
    ("the pid was seen, but this process started after that walk: a reused pid", 7, stat(7, 1550), None,
     {"id/web": Seen(1300, frozenset({100, 7}))}, {}, None),
    ("its env tag", 8, stat(8, 1550), "id/db", {}, {}, "id/db"),
    ("another stack's tag says nothing", 8, stat(8, 1550), "other/db", {}, {}, None),
    ("in the session of web's run (`server &` in a script)", 9, stat(9, 1550, sid=100), None, {}, {},
     "id/web"),
    ("in the process group of db's run", 9, stat(9, 1550, sid=9, pgid=200), None, {}, {}, "id/db"),
    ("a session led by a pid that a later run reused", 9, stat(9, 900, sid=100), None, {}, {}, None),
    ("in the session of an adoptee of db", 10, stat(10, 1580, sid=50), None, {},
     {50: Adoptee(1510, "id/db")}, "id/db"),
    ("a session of its own, while web and db both ran: nothing says", 11, stat(11, 1550), None, {}, {},
     None),
    ("a session of its own, while only web ran", 11, stat(11, 1700), None, {}, {}, "id/web"),
    ("a session of its own, before any run: nothing says", 11, stat(11, 900), None, {}, {}, None),
    ("a cmd probe's shell (no tag) is no service's window", 12, stat(12, 1100), None, {}, {}, "id/web"),
])
def test_attribution(case: str, pid: int, st: Stat, env_tag: str | None, seen: dict[str, Seen],
                     adopted: dict[int, Adoptee], want: str | None) -> None:
    assert attribute(pid, st, env_tag, TAGS, seen, RUNS, adopted, NOW) == want, case


def test_time_counts_adoptees_alive_then() -> None:
    """After db's run ended, its adoptee still runs: a process started then is not only web's."""
    adopted = {60: Adoptee(1520, "id/db")}
    assert attribute(13, stat(13, 1700), None, TAGS, {}, RUNS, adopted, NOW) is None
