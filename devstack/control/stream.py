"""The control channel's streaming verb, `subscribe` (the dashboard's feed): the status first, then
on the same connection one JSON line per batch of changes — `{"event": "status", "data": …}`
when a service changed, `{"event": "log", "lines": [[service, stream, text, ts], …],
"dropped": N}` for output.

Snapshot, then subscribe: the tap and the change watch are in place before the snapshot is
taken, so nothing that happens between falls through. Nothing here ever makes the supervisor
wait: the log tap appends the pump's block to a buffer bounded in bytes (the oldest output is
dropped, and counted, when a subscriber falls behind), and only this connection's own task
encodes and writes, at most every BATCH seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from devstack.control import protocol

BATCH = 0.05  # changes and lines within this go out in one message
# A subscriber is a person's page, which shows a screenful and keeps the last thousand lines; the
# log files keep everything. So lines go out at LINES_PER_S (a burst of up to BURST at once: a
# whole traceback), the newest; only the blocks that hold them are kept and decoded, the rest
# counted: a flood costs the relay next to nothing, and the dashboard and browser little.
MAX_BUFFER = 64 * 1024  # bytes of output held per subscriber (and at least the newest block)
LINES_PER_S = 500
BURST = 1000
WRITE_TIMEOUT = 10.0  # a subscriber that takes longer to accept a message is dropped

Tap = Callable[[str, str, bytes, float], None]


class Feed:
    """What one subscriber is owed: whether the status changed, and the output since the last message."""

    def __init__(self) -> None:
        self.blocks: deque[tuple[str, str, bytes, float]] = deque()
        self.bytes = 0
        self.dropped = 0
        self.changed = False
        self.wake = asyncio.Event()

    def tap(self, service: str, stream: str, block: bytes, ts: float) -> None:
        self.blocks.append((service, stream, block, ts))
        self.bytes += len(block)
        while self.bytes > MAX_BUFFER and len(self.blocks) > 1:
            old = self.blocks.popleft()
            self.bytes -= len(old[2])
            self.dropped += old[2].count(b"\n") + 1
        self.wake.set()

    def change(self) -> None:
        self.changed = True
        self.wake.set()

    def take_lines(self, redact: Callable[[str], str], limit: int) -> tuple[list[list[Any]], int]:
        """The buffered output as [service, stream, text, ts] rows (the newest `limit`), and how
        many lines were dropped since the last message. Blocks are decoded newest first, and
        only until `limit` lines are in hand; older ones are only counted."""
        rows: list[list[Any]] = []
        dropped = self.dropped
        while self.blocks:
            service, stream, block, ts = self.blocks.pop()
            if len(rows) >= limit:
                dropped += block.count(b"\n") + 1
                continue
            text = redact(block.decode("utf-8", "replace"))  # once per block, not per line
            lines = text.split("\n")
            room = limit - len(rows)
            dropped += max(0, len(lines) - room)
            rows[:0] = [[service, stream, line, ts] for line in lines[-room:]]
        self.bytes = 0
        self.dropped = 0
        return rows, dropped


async def serve(writer: asyncio.StreamWriter, reader: asyncio.StreamReader,
                status: Callable[[], dict[str, Any]], changed: Callable[[], Awaitable[None]],
                add_tap: Callable[[Tap], Callable[[], None]], redact: Callable[[str], str]) -> None:
    """Stream to one subscriber until it goes away (or stops reading)."""
    feed = Feed()
    remove = add_tap(feed.tap)

    async def watch_changes() -> None:
        while True:
            await changed()
            feed.change()

    watcher = asyncio.ensure_future(watch_changes())
    allowance, refilled = float(BURST), time.monotonic()
    gone = asyncio.ensure_future(reader.read(1))  # a subscriber says nothing more: EOF means it left
    try:
        await asyncio.sleep(0)  # the watcher waits on the notifier before the snapshot is taken
        await _send(writer, protocol.ok({"status": status()}))
        while not gone.done():
            waiting = asyncio.ensure_future(feed.wake.wait())
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if gone.done():
                break
            await asyncio.sleep(BATCH)
            feed.wake.clear()
            out = b""
            if feed.changed:
                feed.changed = False
                out += protocol.encode({"event": "status", "data": status()})
            if feed.blocks or feed.dropped:
                now = time.monotonic()
                allowance = min(float(BURST), allowance + (now - refilled) * LINES_PER_S)
                refilled = now
                lines, dropped = feed.take_lines(redact, int(allowance))
                allowance -= len(lines)
                out += protocol.encode({"event": "log", "lines": lines, "dropped": dropped})
            if out:
                await _send(writer, out)
    finally:
        remove()
        watcher.cancel()
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


def parse_event(line: bytes) -> dict[str, Any]:
    """One streamed line (ValueError when it is not a JSON object)."""
    event = json.loads(line)
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    return event
