"""The dashboard's feed without sockets: the supervisor-side buffer of a subscriber (bounded,
newest lines kept, drops counted, masked), and the dashboard's event ring (changes told apart
from noise, Last-Event-ID replay, the page's line allowance)."""

from __future__ import annotations

import asyncio
from typing import Any

from devstack.control import stream
from devstack.env.secrets import Redactor
from devstack.ui.feed import PAGE_LINES_PER_S, Hub


def block(first: int, count: int) -> bytes:
    return b"\n".join(f"line {i}".encode() for i in range(first, first + count))


def test_a_subscriber_gets_the_newest_lines_and_a_count_of_the_rest() -> None:
    async def main() -> None:
        feed = stream.Feed()
        feed.tap("api", "stdout", block(0, 150), 1.0)
        feed.tap("web", "stderr", block(150, 30), 2.0)
        rows, dropped = feed.take_lines(str.upper, 100)
        assert len(rows) == 100 and dropped == 80
        assert rows[0] == ["api", "stdout", "LINE 80", 1.0] and rows[-1] == ["web", "stderr", "LINE 179", 2.0]
        assert feed.take_lines(str.upper, 100) == ([], 0)

    asyncio.run(main())


def test_a_subscriber_that_falls_behind_holds_a_bounded_buffer() -> None:
    async def main() -> None:
        feed = stream.Feed()
        for i in range(1000):
            feed.tap("api", "stdout", block(i * 10, 10), float(i))
        assert feed.bytes <= stream.MAX_BUFFER
        rows, dropped = feed.take_lines(str, stream.BURST)
        assert len(rows) + dropped == 10_000 and rows[-1][2] == "line 9999"

    asyncio.run(main())


def status(*states: str, stack: str = "up") -> dict[str, Any]:
    return {"stack": "s", "state": stack, "supervisor": {"running": True},
            "services": [{"name": f"s{i}", "state": st, "cpu_percent": 0.0, "memory_rss": 0, "uptime_s": 1.0,
                          "health": {"status": "OK", "error": None, "last_checked": "t",
                                     "response_time_ms": 1.0}}
                         for i, st in enumerate(states)]}


def test_the_hub_tells_changes_from_noise_and_resumes_exactly() -> None:
    async def main() -> None:
        hub = Hub(Redactor(["hunter22"]))
        hub.set_status(status("healthy", "healthy"))
        assert [e.kind for e in hub.ring] == ["status"]
        noisy = status("healthy", "healthy")
        noisy["services"][0]["cpu_percent"] = 12.5  # changes on its own: not an event
        noisy["services"][1]["health"]["response_time_ms"] = 3.0
        hub.set_status(noisy)
        assert len(hub.ring) == 1
        hub.set_status(status("healthy", "backoff"))
        assert [e.kind for e in hub.ring] == ["status", "service"]
        hub.set_status(status("healthy", "backoff", stack="starting"))
        assert hub.ring[-1].kind == "status"
        hub.lines([["s0", "stdout", "password hunter22", 1.0]], 0)
        assert hub.ring[-1].kind == "log" and "hunter22" not in hub.ring[-1].data
        last = f"{hub.epoch}-2"
        replay = hub.replay(last)
        assert replay is not None and [e.seq for e in replay] == [3, 4]
        assert hub.replay(f"{hub.epoch}-4") == []
        assert hub.replay("other-2") is None and hub.replay(f"{hub.epoch}-99") is None
        assert hub.replay(None) is None

    asyncio.run(main())


def test_the_pages_get_a_bounded_share_of_a_flood() -> None:
    async def main() -> None:
        now = [0.0]
        hub = Hub(Redactor(), clock=lambda: now[0])
        rows = [["s0", "stdout", f"l{i}", 0.0] for i in range(5000)]
        hub.lines(rows, 7)
        logs = [e for e in hub.ring if e.kind == "log"]
        dropped = [e for e in hub.ring if e.kind == "dropped"]
        assert len(logs) == PAGE_LINES_PER_S
        assert f'"lines":{5000 + 7 - PAGE_LINES_PER_S}' in dropped[0].data
        now[0] = 1.0
        hub.lines(rows[:10], 0)
        assert [e.kind for e in hub.ring][-10:] == ["log"] * 10

    asyncio.run(main())
