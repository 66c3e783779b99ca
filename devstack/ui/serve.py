"""Running the dashboard (`devstack ui`, `up --ui`): the dashboard's own process and composition
root. It takes its port on 127.0.0.1 (DEFAULT_PORT, or a free one when that is taken, saying
so), makes this run's token (.devstack/run/ui.token, 0600), prints the one line to open, and
serves (uvicorn) until Ctrl-C — or, with `until_down`, until the supervisor it watched is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sys
import webbrowser
from collections.abc import Callable
from typing import Any

import uvicorn

from devstack.config.specs import StackSpec
from devstack.control import client
from devstack.control.paths import StatePaths
from devstack.engine.offline import offline_status
from devstack.env.secrets import Redactor
from devstack.errors import UsageError
from devstack.ui.actions import Actions
from devstack.ui.app import create_app, learn_secrets
from devstack.ui.feed import Hub, Link
from devstack.ui.security import new_token, write_token

DEFAULT_PORT = 7878
TOKEN_FILE = "ui.token"


class Server(uvicorn.Server):
    """uvicorn's server, woken when there is something to do rather than ten times a second: an
    idle dashboard's CPU is mostly that tick. The Date header is refreshed once a second."""

    async def main_loop(self) -> None:
        self.wake = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        while not await self.on_tick(0):  # counter 0: the once-a-second work, every time
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)

    on_exit: Callable[[], None] | None = None  # told when the server begins to exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        self.stop()

    def stop(self) -> None:
        self.should_exit = True
        # Open event streams would hold the shutdown until its grace runs out, then be cancelled
        # with a traceback on stderr: they end first.
        if hasattr(self, "loop") and self.on_exit is not None:
            self.loop.call_soon_threadsafe(self.on_exit)
        if hasattr(self, "wake"):  # serving: wake the main loop (from a signal handler too)
            self.loop.call_soon_threadsafe(self.wake.set)


def take_port(port: int | None, say: Callable[[str], None]) -> socket.socket:
    """A listening socket on 127.0.0.1: `port`, or DEFAULT_PORT (a free one when it is taken)."""
    wanted = DEFAULT_PORT if port is None else port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", wanted))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            sock.close()
            raise UsageError(f"cannot listen on 127.0.0.1:{wanted}: {exc.strerror}") from None
        if port is not None:
            sock.close()
            raise UsageError(f"port {port} is taken; choose another with --port, or --port 0 for "
                             "any free one") from None
        sock.bind(("127.0.0.1", 0))
        say(f"port {DEFAULT_PORT} is taken; the dashboard uses port {sock.getsockname()[1]} instead")
    sock.listen(128)
    return sock


def serve(stack: StackSpec, port: int | None, open_browser: bool, until_down: bool) -> int:
    paths = StatePaths.of(stack.root)
    paths.make_private_dirs()
    sock = take_port(port, lambda text: print(text, file=sys.stderr, flush=True))
    bound = sock.getsockname()[1]
    token = new_token()
    write_token(paths.run_dir / TOKEN_FILE, token)
    hub = Hub(Redactor())
    learn_secrets(stack, hub.redactor)

    def fetch() -> dict[str, Any]:
        result: dict[str, Any] = client.call(paths.socket, "status", io_timeout=10)
        return result

    link = Link(hub, paths.socket, lambda: offline_status(stack), fetch)
    app = create_app(stack, hub, Actions(stack, lambda: offline_status(stack)), token, bound)
    server = Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=1, ws="none"))

    def end_streams() -> None:
        for page in list(hub.pages):
            page.end()

    server.on_exit = end_streams
    url = f"http://127.0.0.1:{bound}/?token={token}"
    print(f"dashboard: {url}", flush=True)
    if open_browser and sys.stdout.isatty():
        with contextlib.suppress(Exception):
            webbrowser.open(url)

    async def main() -> None:
        following = asyncio.ensure_future(link.run())
        watch = asyncio.ensure_future(_exit_when_lost(link, server)) if until_down else None
        try:
            await server.serve(sockets=[sock])
        finally:
            following.cancel()
            if watch is not None:
                watch.cancel()

    try:
        asyncio.run(main())
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            (paths.run_dir / TOKEN_FILE).unlink()
    return 0


async def _exit_when_lost(link: Link, server: Server) -> None:
    await link.lost.wait()
    server.stop()
