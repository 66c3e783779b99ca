"""Racing operations on one key merge: one runs at a time, at most one more waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from devstack.engine.coalesce import Coalescer


class Recorder:
    def __init__(self) -> None:
        self.runs = 0
        self.live = 0
        self.most_live = 0
        self.release = asyncio.Event()
        self.commit_now = asyncio.Event()

    async def op(self, commit: Callable[[], None]) -> None:
        self.runs += 1
        self.live += 1
        self.most_live = max(self.most_live, self.live)
        try:
            await self.commit_now.wait()
            commit()
            await self.release.wait()
        finally:
            self.live -= 1


def test_requests_before_the_commit_join_the_running_op() -> None:
    async def main() -> None:
        rec = Recorder()
        co = Coalescer()
        futures = [co.run("api", rec.op) for _ in range(20)]
        await asyncio.sleep(0)
        rec.commit_now.set()
        rec.release.set()
        await asyncio.gather(*futures)
        assert rec.runs == 1
        assert not co.busy("api")

    asyncio.run(main())


def test_requests_after_the_commit_queue_exactly_one_more() -> None:
    async def main() -> None:
        rec = Recorder()
        changes: list[int] = []
        co = Coalescer(on_change=lambda: changes.append(1))
        first = co.run("api", rec.op)
        rec.commit_now.set()
        for _ in range(50):
            await asyncio.sleep(0)
        later = [co.run("api", rec.op) for _ in range(10)]  # one op, behind the running one
        assert len({id(f) for f in later}) == 1 and later[0] is not first
        rec.release.set()
        await asyncio.gather(first, *later)
        assert rec.runs == 2 and rec.most_live == 1
        assert len(changes) == 2

    asyncio.run(main())


def test_a_failed_op_fails_its_callers_but_not_the_one_queued_behind_it() -> None:
    async def main() -> None:
        co = Coalescer()
        gate = asyncio.Event()

        async def fails(commit: Callable[[], None]) -> None:
            commit()
            await gate.wait()
            raise RuntimeError("stop failed")

        async def works(commit: Callable[[], None]) -> None:
            commit()

        first = co.run("api", fails)
        await asyncio.sleep(0)
        second = co.run("api", works)
        gate.set()
        with pytest.raises(RuntimeError):
            await first
        await second
        assert not co.busy("api")

    asyncio.run(main())
