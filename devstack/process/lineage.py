"""Whose is an adopted process: the service that started a process the subreaper adopted (see
reaper.py), decided from what devstack saw while it was still a descendant and from what /proc
still says of it. Pure: every fact is passed in, so the rules are tested as a table.

The kernel does not say where an orphan came from: once reparented, its parent is the
supervisor. What is left, first that answers:

1. lineage: a walk of the service's tree saw it (the same pid, started before that walk);
2. its env tag, when it kept its environment (most daemons do: pg_ctl, redis, nginx);
3. its session or process group is led by a run of the service: `server &` in a script, a
   double fork without setsid;
4. time: only one service had a process alive when it started;
5. (reaper.py, later) it listens on the service's port, or it appeared while the service's main
   process exited.

Else it is the stack's, and no one service's: it is stopped when the stack stops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devstack.process.tree import Stat

# /proc start times are whole clock ticks (10 ms here): a window is widened by one at each end.
SLACK = 1


@dataclass
class RunInfo:
    """A service's main process (a child asyncio forked), as long as devstack remembers it."""

    tag: str | None  # None until the spawner says whose run it is (a cmd probe's shell stays None)
    start: int  # clock ticks after boot
    end: int | None = None  # when it was reaped


@dataclass(frozen=True)
class Adoptee:
    """A process the supervisor adopted, and the service it counts in (None: the stack's)."""

    start: int
    tag: str | None


@dataclass(frozen=True)
class Seen:
    """A walk of one service's tree: which pids it found, and when (clock ticks)."""

    at: int
    pids: frozenset[int]


def attribute(pid: int, st: Stat, env_tag: str | None, tags: Iterable[str], seen: Mapping[str, Seen],
              runs: Mapping[int, RunInfo], adopted: Mapping[int, Adoptee], now: int) -> str | None:
    """The tag of the service an adopted process belongs to, or None when nothing says."""
    for tag, walk in seen.items():  # 1. it was in the tree: the surest sign
        if pid in walk.pids and st.start <= walk.at:
            return tag
    if env_tag is not None and env_tag in tags:  # 2. the tag it inherited
        return env_tag
    for leader in (st.sid, st.pgid):  # 3. a session or group led by a run, or by an adoptee
        run = runs.get(leader)
        if run is not None and run.tag is not None and run.start <= st.start:
            return run.tag
        other = adopted.get(leader)
        if leader != pid and other is not None and other.tag is not None and other.start <= st.start:
            return other.tag
    alive_then = {tag for tag, start, end in _windows(runs, adopted, now)  # 4. time
                  if start - SLACK <= st.start <= end + SLACK}
    return alive_then.pop() if len(alive_then) == 1 else None


def _windows(runs: Mapping[int, RunInfo], adopted: Mapping[int, Adoptee],
             now: int) -> Iterable[tuple[str, int, int]]:
    """(tag, from, to) of every span in which a service had a known process alive."""
    for run in runs.values():
        if run.tag is not None:
            yield run.tag, run.start, run.end if run.end is not None else now
    for adoptee in adopted.values():
        if adoptee.tag is not None:
            yield adoptee.tag, adoptee.start, now
