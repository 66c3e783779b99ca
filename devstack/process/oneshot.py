"""A short-lived command (a `cmd` probe) in its own process group, bounded in time, leaving
nothing behind: whatever it started is killed with it, and its output pipe is ours to close.

Services are started through the `Spawner` seam (spawn.py); this is the other way devstack
starts a process, for a question asked every few seconds, so it stays small: one pipe for
stdout and stderr, only a bounded tail of it kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class NotStarted(Exception):
    """The command could not be started (`cause`: the OSError, e.g. its folder is missing)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class Finished:
    code: int  # the shell's returncode (negative: killed by that signal)
    elapsed_ms: float  # from start to exit
    last_line: str  # the last non-blank line it printed (stdout and stderr), stripped


class _Tail:
    """The last bytes of a stream, kept while the stream is drained."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.data = bytearray()

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(64 << 10):
            self.data += chunk
            if len(self.data) > self._limit:
                del self.data[: -self._limit]

    def last_line(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        for line in reversed(text.splitlines()):
            if line.strip():
                return line.strip()
        return ""


def _kill_group(pid: int) -> None:
    # ProcessLookupError: the group is already gone, nothing is left to stop.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _open_output_pipe() -> tuple[int, asyncio.StreamReader, asyncio.ReadTransport]:
    """A pipe for the command's stdout and stderr whose reading end we own.

    With `stdout=PIPE` the pipe would belong to the subprocess transport, which stays
    open as long as anything the command started still holds the writing end; owning
    it lets the caller close it when it is done, whoever else holds it.
    """
    read_fd, write_fd = os.pipe()
    reader = asyncio.StreamReader()
    try:
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
    except BaseException:
        os.close(write_fd)
        raise
    return write_fd, reader, transport


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


async def run_bounded(command: str, cwd: Path, env: Mapping[str, str], timeout: float,
                      keep_bytes: int) -> Finished:
    """Run `command` through /bin/sh in `cwd` with exactly `env`, at most `timeout` s.

    Raises NotStarted when it cannot start, TimeoutError when it did not exit in time (its whole
    group is killed first). Only the last `keep_bytes` of its output are kept."""
    write_fd, output, transport = await _open_output_pipe()
    started = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            # Its own process group, so that a timeout ends everything it started.
            start_new_session=True,
        )
    except OSError as exc:
        transport.close()
        raise NotStarted(exc) from None
    except BaseException:
        transport.close()
        raise
    finally:
        os.close(write_fd)  # the child has its copy; ours would keep EOF from ever coming
    tail = _Tail(keep_bytes)
    reader = asyncio.create_task(tail.pump(output))
    code: int | None = None
    elapsed: float | None = None
    try:
        async with asyncio.timeout(timeout):
            code = await proc.wait()
            elapsed = _elapsed_ms(started)
            if not reader.done():
                # The shell is gone but something it started still holds the output
                # pipe (`server &`): a probe must leave nothing behind, so end its group.
                _kill_group(proc.pid)
                await asyncio.wait([reader])
    except TimeoutError:
        if code is None:
            raise
        # It exited in time; only a descendant outside its group kept the pipe open.
    finally:
        if proc.returncode is None:
            # Timed out or cancelled. The shell is not reaped yet, so its pid still
            # names its group: no risk of signalling a stranger.
            _kill_group(proc.pid)
            await proc.wait()
        transport.close()
        reader.cancel()
        await asyncio.wait([reader])
    assert code is not None and elapsed is not None  # every path without an exit code has raised
    return Finished(code, elapsed, tail.last_line())
