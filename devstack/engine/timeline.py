"""The startup timeline recorder: when each service began waiting for its dependencies, when its
pre-flight checks were done, each spawn, its first line of output, when its declared `port`
first accepted a connection, when it became healthy (or failed) — with every restart — written
to the run's file under `.devstack/timeline/` (runs.py reads it back).

The service lifecycle calls three hooks (`state`, `preflight_done`, `spawned`); none of them
blocks or touches the disk: the file is rewritten at most every FLUSH_DELAY, off the hot path.
The port is found accepting by a connect attempt on loopback while the service starts (started
without waiting, looked at on the next tick), backing off as a start drags on (PORT_CADENCE),
and never again once it has accepted; a probe that dials the declared port and passes marks it
at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from devstack.config.specs import StackSpec
from devstack.engine.clock import Clock
from devstack.engine.runs import Record, run_file, save
from devstack.engine.states import SETTLED_STATES, UP_STATES, State
from devstack.logs.hub import Schedule, ServiceLog, TimerHandle
from devstack.probes.target import probe_target

FLUSH_DELAY = 0.2  # phase changes within this are written together
MAX_STARTS = 50  # a crash loop keeps its first start and the last ones, and counts the rest
# (seconds since the spawn, delay between connect attempts): soon after a spawn a port opens
# within milliseconds of being seen; a JVM that takes minutes is looked at less often.
PORT_CADENCE = ((5.0, 0.05), (30.0, 0.25), (float("inf"), 1.0))
ANSWER_WAIT = 0.002  # a loopback handshake takes microseconds; a busy machine, at worst a round more
ENDED = frozenset({State.BACKOFF, State.FAILED, State.EXITED, State.STOPPED})
_SETTLED = frozenset(str(s) for s in SETTLED_STATES)


class Timeline(Protocol):
    """What a service tells the timeline (Recorder; NoTimeline where nobody records)."""

    def state(self, name: str, state: State, error: str | None) -> None: ...

    def preflight_done(self, name: str, checks: asyncio.Future[Any]) -> None: ...

    def spawned(self, name: str, port: int | None, log: ServiceLog) -> None: ...


class NoTimeline:
    def state(self, name: str, state: State, error: str | None) -> None:
        pass

    def preflight_done(self, name: str, checks: asyncio.Future[Any]) -> None:
        pass

    def spawned(self, name: str, port: int | None, log: ServiceLog) -> None:
        pass


def port_delay(since_spawn: float) -> float:
    return next(delay for until, delay in PORT_CADENCE if since_spawn < until)


def dial(port: int) -> list[socket.socket]:
    """Start a connection to loopback `port` on both families, without waiting for either: a
    non-blocking connect() returns at once (EINPROGRESS) even on loopback, and by the next look
    (`answered`) the kernel has long had its answer. No event loop machinery: ~20 µs a family."""
    dialled = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((host, port))
            dialled.append(sock)
        except OSError:
            continue
    return dialled


def answered(dialled: list[socket.socket]) -> bool:
    """Whether any connection `dial` started was accepted (closing them all)."""
    accepted = False
    for sock in dialled:
        with contextlib.suppress(OSError):
            if not accepted and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                sock.getpeername()  # ENOTCONN while the handshake is still under way
                accepted = True
        sock.close()
    return accepted


class _Live:
    """The start under way of one service: its entry in the file, and what watches it."""

    def __init__(self, start: Record) -> None:
        self.start = start
        self.port_task: asyncio.Future[None] | None = None
        self.stop_listening: Callable[[], None] | None = None

    def end_port_watch(self) -> None:
        if self.port_task is not None:
            self.port_task.cancel()
            self.port_task = None

    def end(self) -> None:
        self.end_port_watch()
        if self.stop_listening is not None:
            self.stop_listening()


class Recorder:
    def __init__(self, stack: StackSpec, folder: Path, started_at: float, clock: Clock,
                 redact: Callable[[str], str], schedule: Schedule) -> None:
        self._clock = clock
        self._redact = redact
        self._schedule = schedule
        # started_at may lie before this supervisor began (the `up` command that started it):
        # every mark is measured on the monotonic clock from that instant.
        self._base = clock.monotonic() - max(0.0, clock.wall() - started_at)
        self.path = run_file(folder, started_at, os.getpid())
        self._run: dict[str, Any] = {"stack": stack.name, "started_at": started_at, "pid": os.getpid(),
                                     "services": []}
        self.stack = stack  # the definition in force: `up` after an edit replaces it
        self._records: dict[str, Record] = {}
        self._live: dict[str, _Live] = {}
        self._timer: TimerHandle | None = None

    def _now(self) -> float:
        return round(self._clock.monotonic() - self._base, 3)

    def _record(self, name: str) -> Record:
        record = self._records.get(name)
        if record is None:
            spec = self.stack.services[name]
            record = {"name": name, "optional": spec.optional,
                      "depends_on": {dep: str(cond) for dep, cond in spec.depends_on.items()},
                      "wait_s": None, "preflight_s": None, "starts": [], "state": None, "error": None}
            self._records[name] = record
            self._run["services"].append(record)
        return record

    # ------------------------------------------------------------------ hooks

    def state(self, name: str, state: State, error: str | None) -> None:
        record = self._record(name)
        now = self._now()
        if state == State.PENDING and record["wait_s"] is None:
            record["wait_s"] = now
        live = self._live.get(name)
        if live is not None:
            if state in UP_STATES and live.start["healthy_s"] is None:
                live.start["healthy_s"] = now
                if live.start["port_s"] is None and self._probe_dials_port(name):
                    live.start["port_s"] = now  # the probe just connected to it: open by now at the latest
                    live.end_port_watch()
            if state in ENDED:
                if state == State.EXITED and live.start["healthy_s"] is None:
                    live.start["healthy_s"] = now  # finished its job: as ready as it will be
                live.start["end_s"] = now
                live.end()
                del self._live[name]
        if state == State.FAILED:
            record["failed_s"] = now
        if state != State.STOPPED:  # `down` or a stop ends a run: the state it reached stays
            record["state"] = str(state)
        failing = state in (State.FAILED, State.BACKOFF, State.UNHEALTHY)
        if state != State.STOPPED:
            record["error"] = self._redact(error) if failing and error else None
        # Written at once when the last service settles: `up -d` returns as soon as the stack has
        # settled, and an `analyze` right after it must see the run as `up -d` saw it.
        self._changed(now=state != State.STOPPED and self._all_settled())

    def _all_settled(self) -> bool:
        return all(r["state"] in _SETTLED for r in self._run["services"])

    def _probe_dials_port(self, name: str) -> bool:
        spec = self.stack.services[name]
        target = probe_target(spec.health) if spec.health else None
        return target is not None and spec.port is not None and target.port == spec.port

    def preflight_done(self, name: str, checks: asyncio.Future[Any]) -> None:
        """The pre-flight checks' task is done (a done callback); cancelled ones never ran out."""
        record = self._record(name)
        if record["preflight_s"] is None and not checks.cancelled():
            record["preflight_s"] = self._now()
            self._changed()

    def spawned(self, name: str, port: int | None, log: ServiceLog) -> None:
        record = self._record(name)
        old = self._live.pop(name, None)
        if old is not None:
            old.end()
        start: Record = {"spawn_s": self._now(), "first_output_s": None, "port_s": None, "healthy_s": None,
                         "end_s": None}
        starts: list[Record] = record["starts"]
        starts.append(start)
        if len(starts) > MAX_STARTS:
            del starts[1]
            record["starts_dropped"] = record.get("starts_dropped", 0) + 1
        live = self._live[name] = _Live(start)

        def first_line(_stream: str, _lines: list[str]) -> None:
            if start["first_output_s"] is None:
                start["first_output_s"] = self._now()
                self._changed()
            if live.stop_listening is not None:
                live.stop_listening()
                live.stop_listening = None

        # A listener only until the first line: the log relay's fast path is back right after.
        live.stop_listening = log.add_listener(first_line)
        if port is not None and self._earlier_port(starts) is None:
            live.port_task = asyncio.ensure_future(self._watch_port(start, port))
        self._changed()

    @staticmethod
    def _earlier_port(starts: list[Record]) -> float | None:
        return next((s["port_s"] for s in starts if s["port_s"] is not None), None)

    async def _watch_port(self, start: Record, port: int) -> None:
        spawned = self._clock.monotonic()
        dialled: list[socket.socket] = []
        try:
            while True:
                dialled_at, dialled = self._now(), dial(port)
                # Closed again within milliseconds: a single-threaded server that accepted it must
                # not sit waiting for a request while the health probe queues behind it.
                await self._clock.sleep(ANSWER_WAIT)
                if answered(dialled):
                    break
                dialled = []
                await self._clock.sleep(port_delay(self._clock.monotonic() - spawned))
        finally:
            for sock in dialled:
                sock.close()
        if start["port_s"] is None:
            start["port_s"] = dialled_at  # accepted as it was dialled: loopback answers in microseconds
            self._changed()

    # ------------------------------------------------------------------ the file

    def _changed(self, now: bool = False) -> None:
        if now:
            self.flush()
        elif self._timer is None:
            self._timer = self._schedule(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(OSError):  # a full disk costs the timeline, never the stack
            save(self.path, self._run)

    def close(self) -> None:
        for live in self._live.values():
            live.end()
        self._live.clear()
        self.flush()
