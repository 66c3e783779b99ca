"""Merges duplicate operations per key: one runs at a time, and requests that arrive while one
is still to come join it instead of adding another (20 racing `restart api` → one or two restarts,
never two instances, and every caller gets the outcome of a restart that began after it asked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# An operation gets `commit`: it calls it at the point after which a new request can no longer be
# served by it (for a restart: when the new process is about to start).
Operation = Callable[[Callable[[], None]], Awaitable[None]]


class _Op:
    __slots__ = ("committed", "task")

    def __init__(self) -> None:
        self.committed = False
        self.task: asyncio.Task[None] | None = None

    def commit(self) -> None:
        self.committed = True


class Coalescer:
    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self._ops: dict[str, list[_Op]] = {}  # per key: the running op, then at most one waiting
        self._on_change = on_change

    def busy(self, key: str) -> bool:
        return bool(self._ops.get(key))

    def run(self, key: str, operation: Operation) -> asyncio.Future[None]:
        """The future of an op for `key` that has not committed yet: the last one, or a new one
        queued behind it. Await it through asyncio.shield: other callers share it."""
        ops = self._ops.setdefault(key, [])
        if ops and not ops[-1].committed:
            assert ops[-1].task is not None
            return ops[-1].task
        before = ops[-1].task if ops else None
        op = _Op()
        op.task = asyncio.ensure_future(self._run(key, op, before, operation))
        ops.append(op)
        return op.task

    async def _run(self, key: str, op: _Op, before: asyncio.Task[None] | None, operation: Operation) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])  # its outcome is its own callers' business
            await operation(op.commit)
        finally:
            self._ops[key].remove(op)
            if not self._ops[key]:
                del self._ops[key]
            self._on_change()
