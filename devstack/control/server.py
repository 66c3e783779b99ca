"""The control server: a Unix socket (0600, in a 0700 folder) that serves the supervisor's API to
`devstack status/start/stop/restart/down` from any terminal of the same user.

It knows the supervisor only as `Engine`, the narrow API every front end uses, so the control
package sits below the engine that it serves (the composition root hands it the supervisor).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from devstack.config.specs import StackSpec
from devstack.control import protocol
from devstack.errors import DevstackError

READ_TIMEOUT = 10.0
MAX_CONNECTIONS = 64  # requests served at once
MAX_READERS = 128  # connections still sending their request; one more closes the oldest of them


class Engine(Protocol):
    """The supervisor as the control socket serves it (engine.supervisor.Supervisor)."""

    def status(self) -> dict[str, Any]: ...

    def start(self, names: list[str] | None = None, no_deps: bool = False,
              setup: bool | None = None) -> list[str]: ...

    async def stop(self, names: list[str], timeout: float | None = None) -> None: ...

    async def restart(self, names: list[str], timeout: float | None = None) -> bool: ...

    def check_names(self, names: list[str]) -> list[str]: ...

    async def wait(self, names: list[str] | None, timeout: float | None, quiet: bool = False) -> bool: ...

    async def apply(self, stack: StackSpec, names: list[str] | None = None,
                    no_deps: bool = False, setup: bool | None = None) -> dict[str, Any]: ...


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end (Linux SO_PEERCRED), None where unsupported."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None:
        return None
    data = sock.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", data)
    return int(uid)


class ControlServer:
    def __init__(self, supervisor: Engine, path: Path, on_down: Callable[[], Awaitable[None]],
                 event: Callable[[str], None]) -> None:
        self.supervisor = supervisor
        self._event = event  # devstack's own event lines (devstack.log)
        self.path = path
        self._on_down = on_down
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._active: set[asyncio.Task[Any]] = set()
        self._reading: dict[asyncio.StreamWriter, None] = {}  # still sending a request, oldest first
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "ping": self._ping, "status": self._status, "start": self._start, "stop": self._stop,
            "restart": self._restart, "wait": self._wait, "down": self._down, "apply": self._apply,
        }

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)  # the socket is created 0600: no window where others could connect
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path),
                                                           limit=protocol.MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Let replies in flight (the `down` that ended the supervisor) reach their clients.
        others = {t for t in self._active if t is not asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
            task.add_done_callback(self._active.discard)
        try:
            reply = await self._serve_one(reader, writer)
            if reply is not None:
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> bytes | None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            uid = peer_uid(sock)
            if uid is not None and uid != os.getuid():
                self._event(f"refused a control connection from uid {uid}")
                return protocol.error("permission denied: this supervisor belongs to another user")
        # Reading holds no serving slot, so clients that never finish a request can't queue the others.
        self._reading[writer] = None
        if len(self._reading) > MAX_READERS:
            oldest = next(iter(self._reading))
            del self._reading[oldest]
            oldest.write(protocol.error("closed: too many connections were still sending a request"))
            oldest.close()
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
        except TimeoutError:
            return protocol.error("no request received")
        except (ValueError, asyncio.LimitOverrunError):
            return protocol.error(f"request larger than {protocol.MAX_REQUEST} bytes")
        finally:
            self._reading.pop(writer, None)
        if writer.is_closing():
            return None  # dropped as the oldest idle reader: its partial line is not a request
        async with self._slots:
            try:
                verb, args = protocol.parse_request(line)
                return protocol.ok(await self._handlers[verb](args))
            except protocol.ProtocolError as exc:
                return protocol.error(str(exc), 2)
            except DevstackError as exc:
                return protocol.error(str(exc), exc.exit_code)
            except Exception as exc:  # a bug costs this one request, never the server
                self._event(f"internal error serving a control request: {type(exc).__name__}")
                return protocol.error(f"internal error ({type(exc).__name__}); see devstack.log")

    # ------------------------------------------------------------------ verbs

    async def _ping(self, args: dict[str, Any]) -> Any:
        return {"pid": os.getpid()}

    async def _status(self, args: dict[str, Any]) -> Any:
        return self.supervisor.status()

    async def _start(self, args: dict[str, Any]) -> Any:
        names = protocol.names_arg(args)
        started = self.supervisor.start(names or None, no_deps=bool(args.get("no_deps")),
                                        setup=_setup_arg(args))
        return {"started": started}

    async def _stop(self, args: dict[str, Any]) -> Any:
        await self.supervisor.stop(protocol.names_arg(args), protocol.timeout_arg(args))
        return self.supervisor.status()

    async def _restart(self, args: dict[str, Any]) -> Any:
        names = protocol.names_arg(args)
        ok = await self.supervisor.restart(names, protocol.timeout_arg(args))
        return {"ok": ok, "status": self.supervisor.status()}

    async def _wait(self, args: dict[str, Any]) -> Any:
        names = protocol.names_arg(args) or None
        if names:
            self.supervisor.check_names(names)
        settled = await self.supervisor.wait(names, protocol.timeout_arg(args))
        return {"settled": settled, "status": self.supervisor.status()}

    async def _apply(self, args: dict[str, Any]) -> Any:
        """`up` with a supervisor running: the stack file (as named by that `up`) read again and
        applied. Read here, in the supervisor: a StackSpec does not travel over the socket."""
        from devstack.config.load import find_stack

        file = args.get("file")
        if not isinstance(file, str) or not file:
            raise protocol.ProtocolError("file must be the path of the stack file")
        path = Path(file)
        stack = find_stack(path.parent, procfile=path) if args.get("procfile") else \
            find_stack(path.parent, file=path)
        names = protocol.names_arg(args)
        return await self.supervisor.apply(stack, names or None, no_deps=bool(args.get("no_deps")),
                                           setup=_setup_arg(args))

    async def _down(self, args: dict[str, Any]) -> Any:
        await self._on_down()
        return {"pid": os.getpid()}


def _setup_arg(args: dict[str, Any]) -> bool | None:
    """`setup`: false for `up --no-setup`; absent (None) keeps each service's last choice."""
    setup = args.get("setup")
    return None if setup is None else bool(setup)
