"""The dashboard's ASGI app (Starlette): the page and its files, the JSON API the page reads (and
nothing else reads differently), the event stream — every route behind the Guard (security.py),
every answer masked by the Redactor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from devstack.config.specs import StackSpec
from devstack.engine.runs import document, load_runs, runs_dir
from devstack.env.layers import build_env
from devstack.env.secrets import Redactor
from devstack.errors import DevstackError
from devstack.logs.reader import tail
from devstack.ui.actions import Actions
from devstack.ui.feed import Hub, Page, iso
from devstack.ui.openapi import SPEC
from devstack.ui.security import ASGIApp, Guard

STATIC = Path(__file__).parent / "static"
SSE_BATCH = 500  # events written to a page at once, at most
KEEPALIVE = 15.0  # a comment line this often on a quiet stream: a page that left is found out
MAX_LOG_LINES = 10_000


def learn_secrets(stack: StackSpec, redactor: Redactor) -> None:
    """Every value the services' environments hold that devstack never shows (read again before
    the log files are served: a .env may have changed since the dashboard started)."""
    for spec in stack.services.values():
        with contextlib.suppress(Exception):  # an unreadable .env: its values cannot leak from here
            redactor.learn(build_env(stack, spec, dict(os.environ)).secrets())


class Api:
    def __init__(self, stack: StackSpec, hub: Hub, actions: Actions) -> None:
        self.stack = stack
        self.hub = hub
        self.actions = actions
        self.state_dir = stack.root / ".devstack"

    def reply(self, data: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(self.hub.redactor.data(data), status)

    def error(self, message: str, status: int) -> JSONResponse:
        return self.reply({"error": message}, status)

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def status(self, request: Request) -> Response:
        return self.reply(await asyncio.to_thread(self.actions.status))

    async def events(self, request: Request) -> Response:
        hub = self.hub
        page = Page()
        # Registered before the replay is read, with nothing awaited between the two: every event
        # is either in the replay or in the page's queue, never in both, never in neither.
        hub.pages.add(page)
        first = hub.replay(request.headers.get("last-event-id"))

        async def stream() -> AsyncIterator[bytes]:
            try:
                for event in first or []:
                    yield event.encode(hub.epoch)
                if first is None:
                    if not hub.status_ready.is_set():
                        await hub.status_ready.wait()  # the first status reaches the queue meanwhile
                    if page.queue.empty():
                        hub.current()  # into every page's queue, this one's too
                while not page.cut_off.is_set():
                    try:
                        event = await asyncio.wait_for(page.queue.get(), KEEPALIVE)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    if page.cut_off.is_set():
                        break
                    # What else is queued goes in the same write: a flood arrives in batches,
                    # and one chunk per line cost the browser more than drawing the lines.
                    chunk = [event.encode(hub.epoch)]
                    while not page.queue.empty() and len(chunk) < SSE_BATCH and not page.cut_off.is_set():
                        chunk.append(page.queue.get_nowait().encode(hub.epoch))
                    yield b"".join(chunk)
                # Cut off (it fell CLIENT_QUEUE events behind): the browser reconnects and resumes.
                # Or ended: the dashboard is exiting.
            finally:
                hub.pages.discard(page)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def logs(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.stack.services:
            return self.error(f"no service {name!r} in stack {self.stack.name}", 404)
        text = request.query_params.get("n", "100")
        if not text.isdigit() or not 1 <= int(text) <= MAX_LOG_LINES:
            return self.error(f"n must be a whole number from 1 to {MAX_LOG_LINES}, got {text[:20]!r}", 400)
        await asyncio.to_thread(learn_secrets, self.stack, self.hub.redactor)
        records = await asyncio.to_thread(tail, self.state_dir / "logs", [name], int(text))
        return self.reply({"lines": [{"service": r.service, "stream": r.stream, "line": r.text,
                                      "ts": iso(r.ts.timestamp())} for r in records]})

    async def timeline(self, request: Request) -> Response:
        found = await asyncio.to_thread(load_runs, runs_dir(self.state_dir), 1)
        if not found:
            return self.error(f"no start of {self.stack.name} has been recorded yet", 404)
        return self.reply(document(found[0]))

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(SPEC)

    async def act(self, request: Request) -> Response:
        name, verb = request.path_params["name"], request.path_params["verb"]
        if name not in self.stack.services:
            return self.error(f"no service {name!r} in stack {self.stack.name}", 404)
        calls = {"start": lambda: self.actions.start([name]), "stop": lambda: self.actions.stop(name),
                 "restart": lambda: self.actions.restart(name)}
        if verb not in calls:
            return self.error(f"no action {verb[:40]!r}: start, stop or restart", 404)
        return await self._run(calls[verb])

    async def up(self, request: Request) -> Response:
        return await self._run(lambda: self.actions.start(list(self.stack.services)))

    async def down(self, request: Request) -> Response:
        return await self._run(self.actions.down)

    async def _run(self, call: Any) -> Response:
        try:
            return self.reply(await asyncio.to_thread(call))
        except DevstackError as exc:
            return self.error(str(exc), 409)


def create_app(stack: StackSpec, hub: Hub, actions: Actions, token: str, port: int) -> ASGIApp:
    api = Api(stack, hub, actions)
    routes = [
        Route("/", api.index),
        Route("/api/v1/status", api.status),
        Route("/api/v1/events", api.events),
        Route("/api/v1/services/{name}/logs", api.logs),
        Route("/api/v1/timeline", api.timeline),
        Route("/api/v1/openapi.json", api.openapi),
        Route("/api/v1/services/{name}/{verb:str}", api.act, methods=["POST"]),
        Route("/api/v1/up", api.up, methods=["POST"]),
        Route("/api/v1/down", api.down, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Guard(Starlette(routes=routes), token, port)
