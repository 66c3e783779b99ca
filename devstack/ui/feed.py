"""What the dashboard's pages are told, and in what order: the stack's status and output, turned
into numbered Server-Sent Events (`status`, `service`, `log`, `dropped`) kept in a ring so that a
page that reconnects with `Last-Event-ID` gets exactly the events it missed; and the link to the
supervisor (its `subscribe` stream), or, while none runs, the status built offline.

Every event is masked (the `Redactor`) before it is numbered. Each page has a bounded queue; a
page that falls that far behind is cut off, and its browser reconnects and resumes from the ring.
Lines beyond PAGE_LINES_PER_S are not sent (they are all in the log files) and a `dropped`
event says how many: a flood must not drown the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.control import protocol
from devstack.control.stream import parse_event
from devstack.env.secrets import Redactor

RING = 5000  # events kept for resuming pages
CLIENT_QUEUE = 2000  # events a page may fall behind before it is cut off
# Output lines sent to pages per second, at most (a burst may be twice that). More than anyone
# reads; at 500 a flood's drawing took a core of a two-core machine from the stack (bench W8).
PAGE_LINES_PER_S = 100
REFRESH = 5.0  # while pages are open: CPU, memory and uptime this often
OFFLINE_POLL = 1.0  # how often to look for a supervisor while none runs
# Fields that change without anything happening: sent with the periodic refresh, not as changes.
VOLATILE = ("cpu_percent", "memory_rss", "uptime_s")
VOLATILE_HEALTH = ("last_checked", "response_time_ms")


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    data: str  # JSON

    def encode(self, epoch: str) -> bytes:
        return f"id: {epoch}-{self.seq}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


END = Event(0, "end", "")  # wakes a page's stream so that it sees it was ended


class Page:
    """One open event stream."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(CLIENT_QUEUE)
        self.cut_off = asyncio.Event()

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.cut_off.set()

    def end(self) -> None:
        """The dashboard is exiting: the stream ends now, not when the shutdown grace runs out."""
        self.cut_off.set()
        with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes its reader anyway
            self.queue.put_nowait(END)


def _stable(service: dict[str, Any]) -> dict[str, Any]:
    """A service's status without what changes on its own (for telling a change)."""
    kept = {k: v for k, v in service.items() if k not in VOLATILE}
    kept["health"] = {k: v for k, v in (service.get("health") or {}).items() if k not in VOLATILE_HEALTH}
    return kept


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Hub:
    def __init__(self, redactor: Redactor, clock: Callable[[], float] = time.monotonic) -> None:
        self.redactor = redactor
        self.epoch = secrets.token_hex(4)  # ids of another dashboard run never match this one's
        self.ring: deque[Event] = deque(maxlen=RING)
        self.pages: set[Page] = set()
        self.status: dict[str, Any] | None = None
        self.status_ready = asyncio.Event()
        self._seq = 0
        self._clock = clock
        self._allowance = float(PAGE_LINES_PER_S)
        self._refilled = clock()
        self._dropped = 0

    # ------------------------------------------------------------------ publishing

    def publish(self, kind: str, data: Any) -> Event:
        self._seq += 1
        event = Event(self._seq, kind, json.dumps(self.redactor.data(data), separators=(",", ":")))
        self.ring.append(event)
        for page in self.pages:
            page.offer(event)
        return event

    def set_status(self, doc: dict[str, Any], refresh: bool = False) -> None:
        """A new status: `service` for each service that changed, `status` when the stack's own
        fields changed (or with `refresh`: the periodic one, for CPU, memory, uptime)."""
        old, self.status = self.status, doc
        self.status_ready.set()
        if old is None or refresh or {k: v for k, v in old.items() if k != "services"} != \
                {k: v for k, v in doc.items() if k != "services"} or \
                [s["name"] for s in old["services"]] != [s["name"] for s in doc["services"]]:
            self.publish("status", doc)
            return
        for before, now in zip(old["services"], doc["services"], strict=True):
            if _stable(before) != _stable(now):
                self.publish("service", now)

    def lines(self, rows: list[list[Any]], dropped: int) -> None:
        """Output from the supervisor's stream: [service, stream, text, ts] rows."""
        now = self._clock()
        self._allowance = min(2.0 * PAGE_LINES_PER_S,
                              self._allowance + (now - self._refilled) * PAGE_LINES_PER_S)
        self._refilled = now
        sent = rows[-int(self._allowance):] if self._allowance >= 1 else []
        self._allowance -= len(sent)
        self._dropped += dropped + len(rows) - len(sent)
        if self._dropped and (sent or not rows):
            self.publish("dropped", {"lines": self._dropped,
                                     "note": "lines not shown here; every line is in the log files"})
            self._dropped = 0
        for service, stream, text, ts in sent:
            self.publish("log", {"service": service, "stream": stream, "line": text, "ts": iso(ts)})

    # ------------------------------------------------------------------ pages

    def replay(self, last_id: str | None) -> list[Event] | None:
        """The events after `last_id` when the ring still holds them all; None: start afresh."""
        if not last_id:
            return None
        epoch, _, seq_text = last_id.strip().rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        oldest = self.ring[0].seq if self.ring else self._seq + 1
        if seq > self._seq or seq < oldest - 1:
            return None
        return [e for e in self.ring if e.seq > seq]

    def current(self) -> Event:
        """The whole status as an event numbered now (a new page's first event)."""
        assert self.status is not None
        return self.publish("status", self.status)


class Link:
    """The dashboard's view of the supervisor: its stream while one runs, else an offline status."""

    def __init__(self, hub: Hub, socket_path: Path, offline: Callable[[], dict[str, Any]],
                 fetch: Callable[[], dict[str, Any]]) -> None:
        self.hub = hub
        self.socket_path = socket_path
        self.offline = offline  # the status built without a supervisor (blocking: run in a thread)
        self.fetch = fetch  # the supervisor's status (blocking: run in a thread)
        self.online = False
        self.lost = asyncio.Event()  # a supervisor was seen, then went away

    async def run(self) -> None:
        refresher = asyncio.ensure_future(self._refresh())
        try:
            while True:
                was_online = await self._follow()
                if was_online:
                    self.lost.set()
                # The offline status looks up who holds each port: only when someone looks.
                if was_online or self.hub.status is None or self.hub.pages:
                    self.hub.set_status(await asyncio.to_thread(self.offline))
                await asyncio.sleep(OFFLINE_POLL)
        finally:
            refresher.cancel()

    async def _follow(self) -> bool:
        """Follow the supervisor's stream until it ends (at once when none runs); True when one ran."""
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.socket_path), limit=64 * 1024 * 1024)
        except OSError:
            return False
        try:
            writer.write(protocol.request("subscribe"))
            first = await reader.readline()
            reply = parse_event(first) if first else {}
            if not reply.get("ok"):
                return False
            self.online = True
            self.lost.clear()
            self.hub.set_status(reply["result"]["status"])
            while line := await reader.readline():
                event = parse_event(line)
                if event.get("event") == "status":
                    self.hub.set_status(event["data"])
                elif event.get("event") == "log":
                    self.hub.lines(event.get("lines") or [], int(event.get("dropped") or 0))
        except (OSError, ValueError, KeyError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        was_online, self.online = self.online, False
        return was_online

    async def _refresh(self) -> None:
        """CPU, memory and uptime, every REFRESH while a page is open (nothing when none is)."""
        while True:
            await asyncio.sleep(REFRESH)
            if not self.hub.pages:
                continue
            with contextlib.suppress(Exception):
                doc = await asyncio.to_thread(self.fetch if self.online else self.offline)
                self.hub.set_status(doc, refresh=True)
