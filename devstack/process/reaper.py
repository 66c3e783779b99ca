"""The supervisor as its services' child subreaper (Linux's PR_SET_CHILD_SUBREAPER), and the one
owner of waiting for children in the supervisor process.

A process that daemonizes (a double fork, `setsid -f`, `pg_ctl start`) is reparented when its
parent exits. Without a subreaper it goes to PID 1: outside every tree devstack walks, and
untagged if it also cleared its environment (`env -i`), so `down` could not find it. With the
supervisor as subreaper it becomes the supervisor's child instead, and this module

- attributes it to the service that started it (lineage.py), so that it counts in that
  service's processes (`family`: CPU, memory, ports, the impostor check) and is stopped with it;
  what no rule attributes is the stack's, stopped when the stack stops (`stop_adopted`);
- reaps it when it exits, on SIGCHLD. Only children asyncio did not fork: asyncio's own are
  waited for on pidfds by the child watcher installed here (watcher.py), which is how this module
  knows them. A waitpid(-1), or a waitpid on a child the watcher is about to wait for, would take
  its exit status (asyncio would report code 255 for a service that exited 0). Children of
  other threads (a pre-flight check's `subprocess.run`) are never looked at: the kernel lists
  them under the thread that forked them, while orphans go to the main thread;
- records the adopted pids with their start times in .devstack/run/adopted (leftovers.py), so
  that the next `up` or `down` stops them after a SIGKILL of the supervisor: untagged, and no
  longer anyone's descendant, nothing else would name them.

Nothing tells a process that it adopted an orphan: adoptions are found by reading the main
thread's children, at each SIGCHLD, at each question about a service's processes, and once a
second while the stack changes (so that the record is at most a second old then), every five
seconds once nothing started, exited or was adopted for ten. One small read each time.

Where there is no subreaper (not Linux, no pidfds, or a Python whose asyncio no longer lets a
program choose its child watcher: 3.14+), `family` is the tree of the main process, as before,
and only the env tag finds an escaped process (doctor says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import psutil

from devstack.process.leftovers import Recorded, write_record
from devstack.process.lineage import Adoptee, RunInfo, Seen, attribute
from devstack.process.ports import listening_sockets, socket_fds
from devstack.process.tree import alive, children_of, raw_tag, send, stat, tree_pids
from devstack.process.watcher import (
    CLK_TCK,
    PR_SET_CHILD_SUBREAPER,
    PidfdWatcher,
    prctl,
    ticks_now,
    unavailable,
)

# s between two looks for adopted processes when nothing else asks: every second while the stack
# changes (processes start and exit: when daemons fork away), every RESCAN_CALM once nothing
# changed for CALM_AFTER, so that an idle stack costs its supervisor next to nothing.
RESCAN = 1.0
RESCAN_CALM = 5.0
CALM_AFTER = 10.0
FORGET_RUNS = 60.0  # s a run's window is remembered after it ended (attribution by time)


class Reaper:
    """The supervisor process's children: asyncio's (the services' main processes, cmd probes)
    and the ones it adopted. One per supervisor; `install` in its event loop, `close` at the end.
    Uninstalled (tests, other platforms) it answers `family` with the plain tree."""

    def __init__(self, ports: Mapping[str, int] | None = None, record: Path | None = None) -> None:
        self._ports = dict(ports or {})  # tag → the port that service declares (or its probe dials)
        self._record = record
        # Adopting and reaping happen in the loop's thread only; family() may be asked from any.
        self._lock = threading.Lock()
        self._runs: dict[int, RunInfo] = {}
        self._adopted: dict[int, Adoptee] = {}
        self._seen: dict[str, Seen] = {}
        self._last_port_look: dict[str, float] = {}
        self._watcher: PidfdWatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._main = os.getpid()  # orphans go to the main thread, whose tid is the pid
        self._rescan: asyncio.TimerHandle | None = None
        self._changed_at = time.monotonic()  # the last start, exit or change of the children seen
        self._last_children: list[int] = []
        self.active = False  # the subreaper is on

    def know_ports(self, ports: Mapping[str, int]) -> None:
        """The ports again, from a stack.toml edited while the stack runs (`up` again)."""
        self._ports = dict(ports)

    # ------------------------------------------------------------------ lifecycle

    def install(self) -> str | None:
        """In the running loop (of the main thread): wait for asyncio's children on pidfds and
        become the child subreaper. Returns why the subreaper is off, or None."""
        why = unavailable()
        if why is None and threading.current_thread() is not threading.main_thread():
            why = "the supervisor's event loop does not run in its main thread"
        if why is not None:
            return why
        loop = asyncio.get_running_loop()
        # Python 3.11's default waits for each child on a thread of its own: 100 services make
        # 100 threads, and every exit hops threads before the loop hears of it. (3.12+ picks
        # pidfds by itself, but only a watcher of our own says which children are asyncio's.)
        watcher = PidfdWatcher(loop, self._on_forked, self._on_reaped)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_child_watcher(watcher)
        self._watcher, self._loop, self._thread = watcher, loop, threading.get_ident()
        if not prctl(PR_SET_CHILD_SUBREAPER, 1):
            return "prctl(PR_SET_CHILD_SUBREAPER) failed"
        self.active = True
        loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        self._rescan = loop.call_later(RESCAN, self._tick)
        return None

    def close(self) -> None:
        """Stop adopting (orphans go to PID 1 again) and stop reaping; forget the record when
        nothing adopted is left."""
        if not self.active:
            return
        self.active = False
        prctl(PR_SET_CHILD_SUBREAPER, 0)
        if self._rescan is not None:
            self._rescan.cancel()
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signal.SIGCHLD)
        with self._lock:
            self._reap()
        if self._record is not None and not self._adopted:
            with contextlib.suppress(OSError):
                self._record.unlink()

    # ------------------------------------------------------------------ what the spawner tells

    def started(self, pid: int, tag: str | None) -> None:
        """`pid`, a child asyncio just forked, is the main process of the service tagged `tag`."""
        with self._lock:
            run = self._runs.get(pid)
            if run is not None:
                run.tag = tag

    def _on_forked(self, pid: int) -> None:
        st = stat(pid)
        self._changed_at = time.monotonic()
        with self._lock:
            self._runs[pid] = RunInfo(None, st.start if st else ticks_now())

    def _on_reaped(self, pid: int) -> None:
        self._changed_at = time.monotonic()
        with self._lock:
            run = self._runs.get(pid)
            if run is None:
                return
            if run.tag is None:
                del self._runs[pid]  # a cmd probe's shell: no service's window
            else:
                run.end = ticks_now()

    # ------------------------------------------------------------------ questions

    def family(self, pid: int) -> set[int]:
        """Every live process of the service whose main process is (or was) `pid`: its tree,
        and the processes adopted for it with their trees."""
        with self._lock:
            tag, roots = self._roots(pid)
        pids: set[int] = set()
        for root in roots:
            pids |= tree_pids(root)
        if tag is not None:
            pids |= self._claim_by_port(tag)
            with self._lock:
                self._seen[tag] = Seen(ticks_now(), frozenset(pids))
        return pids

    def _roots(self, pid: int) -> tuple[str | None, list[int]]:
        """(the service's tag, the roots of its processes); called with the lock held."""
        if self.active and threading.get_ident() == self._thread:
            self._scan()
        run = self._runs.get(pid)
        tag = run.tag if run is not None else None
        if tag is None:
            return None, [pid]
        return tag, [pid, *(a for a, adoptee in self._adopted.items() if adoptee.tag == tag)]

    def claim_by_port(self, pid: int) -> None:
        """After the main process `pid` exited: give its service the adopted processes no other
        rule gave to anyone that listen on its port (the daemon it just left, untagged and in a
        session of its own, while other services started too)."""
        with self._lock:
            if self.active and threading.get_ident() == self._thread:
                self._scan()
            run = self._runs.get(pid)
            tag = run.tag if run is not None else None
        if tag is not None:
            self._claim_by_port(tag, now=True)

    def _claim_by_port(self, tag: str, now: bool = False) -> set[int]:
        """Rule 5 of lineage.py: unattributed adoptees listening on the service's port are its
        own. Unless `now`, at most once a second per service: it reads the socket tables."""
        port = self._ports.get(tag)
        with self._lock:
            unclaimed = [a for a, adoptee in self._adopted.items() if adoptee.tag is None]
        if port is None or not unclaimed:
            return set()
        if not now and time.monotonic() - self._last_port_look.get(tag, 0.0) < 1.0:
            return set()
        self._last_port_look[tag] = time.monotonic()
        inodes = {inode for _ip, inode in listening_sockets(port) or []}
        claimed: set[int] = set()
        for adopted in unclaimed:
            family = tree_pids(adopted)
            held = socket_fds(family) or {}
            if inodes & set(held):
                claimed |= family
                with self._lock:
                    entry = self._adopted.get(adopted)
                    if entry is not None:
                        self._adopted[adopted] = Adoptee(entry.start, tag)
                        self._write_record()
        return claimed

    # ------------------------------------------------------------------ adopting and reaping

    def _on_sigchld(self) -> None:
        with self._lock:
            self._look()

    def _tick(self) -> None:
        with self._lock:
            self._look()
            horizon = ticks_now() - int(FORGET_RUNS * CLK_TCK)
            for pid in [p for p, run in self._runs.items() if run.end is not None and run.end < horizon]:
                del self._runs[pid]
        if self.active and self._loop is not None:
            calm = time.monotonic() - self._changed_at >= CALM_AFTER
            self._rescan = self._loop.call_later(RESCAN_CALM if calm else RESCAN, self._tick)

    def _look(self) -> None:
        """Reap, then adopt, from one read of the main thread's children (lock held): this runs
        for as long as the stack runs, so it is the supervisor's idle cost."""
        children = children_of(self._main)
        if children is not None:
            if children != self._last_children:
                self._last_children = children
                self._changed_at = time.monotonic()
            self._scan(self._reap(children))

    def _reap(self, children: list[int] | None = None) -> list[int]:
        """Wait for every exited child that asyncio does not wait for itself (lock held, or
        closing); the children still there. Only in the loop's thread: between asyncio's fork
        and its watcher knowing the child, nothing else runs there."""
        if children is None:
            children = children_of(self._main) or []
        if self._watcher is None:
            return children
        changed = False
        left = []
        for pid in children:
            if self._watcher.owns(pid):
                left.append(pid)
                continue
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                changed |= self._adopted.pop(pid, None) is not None
            else:
                left.append(pid)
        if changed:
            self._write_record()
        return left

    def _scan(self, children: list[int] | None = None) -> None:
        """Find the children adopted since the last look, and attribute them (lock held, in the
        loop's thread)."""
        if self._watcher is None or not self.active:
            return
        if children is None:
            children = children_of(self._main)
            if children is None:
                return
        now = ticks_now()
        changed = False
        live = set(children)
        for gone in [pid for pid in self._adopted if pid not in live]:
            del self._adopted[gone]
            changed = True
        for pid in children:
            if self._watcher.owns(pid) or pid in self._adopted:
                continue
            st = stat(pid)
            if st is None or st.zombie:
                continue  # reaped at the next SIGCHLD (one is on its way)
            tag = attribute(pid, st, raw_tag(pid), self._ports.keys() | self._run_tags(), self._seen,
                            self._runs, self._adopted, now)
            self._adopted[pid] = Adoptee(st.start, tag)
            changed = True
        if changed:
            self._write_record()

    def _run_tags(self) -> set[str]:
        return {run.tag for run in self._runs.values() if run.tag is not None}

    def _write_record(self) -> None:
        if self._record is not None:
            write_record(self._record, [Recorded(pid, a.start, a.tag or "")
                                        for pid, a in sorted(self._adopted.items())])

    # ------------------------------------------------------------------ the end of the stack

    async def stop_adopted(self, timeout: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Stop whatever adopted process is still alive when every service has stopped (the
        stack's own, or one a service left that outlived its stop): SIGTERM, then SIGKILL after
        `timeout` s."""
        with self._lock:
            if self.active:
                self._scan()
            roots = list(self._adopted)
        procs: dict[int, psutil.Process] = {}
        for root in roots:
            for pid in tree_pids(root):
                with contextlib.suppress(psutil.Error):
                    procs[pid] = psutil.Process(pid)
        if not procs:
            return
        send(procs.values(), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(procs.values()) and time.monotonic() < deadline:
            await sleep(0.02)
        send(alive(procs.values()), signal.SIGKILL)
        while alive(procs.values()) and time.monotonic() < deadline + 2.0:
            await sleep(0.02)
