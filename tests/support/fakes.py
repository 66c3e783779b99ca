"""A fake clock and a fake spawner for fast, exhaustive state-machine tests.

FakeClock: `sleep()` parks the caller until the test's driver moves time past its deadline.
`run_until(predicate)` lets the event loop settle, then jumps to the next deadline, and so on:
scripted histories that span minutes of backoff run in milliseconds, deterministically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.process.spawn import OutputCallback
from devstack.process.tree import Leftover

FAKE_PID_BASE = 50_000_000  # above Linux's pid_max: never a real process


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        """The clock as a plain callable (what LogFile takes): `now`, moved by the test."""
        return self.now

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def run_until(self, predicate: Callable[[], bool], limit: float = 3600.0) -> None:
        """Advance time, deadline by deadline, until predicate() holds (or `limit` fake seconds pass)."""
        end = self.now + limit
        while True:
            await self.settle()
            if predicate():
                return
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > end:
                raise AssertionError(f"condition not reached by t={self.now - 1000.0:.3f}")
            when, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            fut.set_result(None)

    async def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            await self.settle()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > end:
                self.now = end
                await self.settle()
                return
            when, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            fut.set_result(None)


@dataclass
class Script:
    """How one incarnation behaves: print `lines`, then exit with `exit_code` after `run_for` s
    (None: run until signalled). `ignore_term`: only SIGKILL ends it."""

    lines: list[str] = field(default_factory=list)
    exit_code: int | None = 1
    run_for: float = 0.1
    ignore_term: bool = False
    leaves: list[Leftover] = field(default_factory=list)  # what its exit leaves running (a daemon)


class FakeChild:
    def __init__(self, pid: int, script: Script, clock: FakeClock, on_output: OutputCallback) -> None:
        self.pid = pid
        self.script = script
        self.signals: list[int] = []
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._on_output = on_output
        self._clock = clock
        self._task = asyncio.ensure_future(self._live())

    async def _live(self) -> None:
        for line in self.script.lines:
            self._on_output("stdout", line.encode() + b"\n")
        if self.script.exit_code is not None:
            await self._clock.sleep(self.script.run_for)
            self._end(self.script.exit_code)

    def _end(self, code: int) -> None:
        if not self._exit.done():
            self._on_output("stdout", b"")
            self._on_output("stderr", b"")
            self._exit.set_result(code)
            self._task.cancel()

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def drained(self, timeout: float) -> None:
        return None

    def signal_group(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or not self.script.ignore_term:
            self._end(-sig)

    async def stop(self, sig: int, timeout: float, sleep: Callable[[float], Awaitable[None]]) -> bool:
        self.signal_group(sig)
        waited = 0.0
        while self.alive:
            if waited >= timeout:
                self.kill()
                return True
            await sleep(0.1)
            waited += 0.1
        return False

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)

    def pids(self) -> set[int]:
        return {self.pid} if self.alive else set()

    async def left_behind(self, grace: float, sleep: Callable[[float], Awaitable[None]],
                          port: int | None = None) -> list[Leftover]:
        return list(self.script.leaves)

    @property
    def alive(self) -> bool:
        return not self._exit.done()


class FakeSpawner:
    """Hands out FakeChildren following per-service scripts (the last script repeats)."""

    def __init__(self, clock: FakeClock, scripts: Mapping[str, list[Script]]) -> None:
        self.clock = clock
        self.scripts = {name: list(s) for name, s in scripts.items()}
        self.children: dict[str, list[FakeChild]] = {name: [] for name in scripts}
        self.spawn_times: dict[str, list[float]] = {name: [] for name in scripts}
        self._pids = itertools.count(FAKE_PID_BASE)

    async def spawn(self, argv: list[str], cwd: Path, env: Mapping[str, str],
                    on_output: OutputCallback) -> FakeChild:
        name = env["DEVSTACK_TAG"].split("/", 1)[1]
        queue = self.scripts[name]
        script = queue.pop(0) if len(queue) > 1 else queue[0]
        child = FakeChild(next(self._pids), script, self.clock, on_output)
        self.children[name].append(child)
        self.spawn_times[name].append(self.clock.now)
        return child
