"""The dashboard's guard, in front of every route (a plain ASGI middleware, so that it also guards
the event stream): the Host must be this server's own loopback name (DNS rebinding), `/api/`
needs the token (`Authorization: Bearer`, or the HttpOnly SameSite=Strict cookie the page gets for
`?token=`), a POST whose Origin is another site's is refused, and every answer carries the
Content-Security-Policy `default-src 'self'` and no CORS header at all.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_BYTES = 32  # 256 bits
HEADERS = [
    (b"content-security-policy", b"default-src 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # the first URL carries the token
    (b"cache-control", b"no-store"),
]


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def write_token(path: Path, token: str) -> None:
    """The token, readable by this user alone (0600 from its creation: no window for others)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")


def cookie_name(port: int) -> str:
    # One per port: cookies ignore ports, and two stacks' dashboards may be open side by side.
    return f"devstack_{port}"


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


class Guard:
    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.port = port
        self.hosts = allowed_hosts(port)
        self.cookie = cookie_name(port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        path: str = scope["path"]

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", [])
                        if not k.lower().startswith(b"access-control-")]
                message["headers"] = kept + HEADERS
            await send(message)

        if host not in self.hosts:
            await _refuse(send_guarded, 403, f"this dashboard answers only to 127.0.0.1:{self.port}, "
                                             f"localhost:{self.port} or [::1]:{self.port}")
            return
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None and origin != f"http://{host}":
            await _refuse(send_guarded, 403, "cross-origin requests are refused")
            return
        if path.startswith("/api/") and not self._authorized(headers):
            await _refuse(send_guarded, 401, "the dashboard's token is missing or wrong: open the link "
                                             "`devstack ui` printed")
            return
        if path == "/" and scope["method"] == "GET":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            offered = query.get("token", [""])[0]
            if offered:
                await self._exchange(offered, send_guarded)
                return
        await self.app(scope, receive, send_guarded)

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return self._matches(auth[7:].strip())
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no cookie
            return False
        morsel = jar.get(self.cookie)
        return morsel is not None and self._matches(morsel.value)

    def _matches(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self.token.encode())

    async def _exchange(self, offered: str, send: Send) -> None:
        """`/?token=…`: the cookie for the token, and the page again without it in the address."""
        if not self._matches(offered):
            await _refuse(send, 401, "this link's token is not the dashboard's: open the link "
                                     "`devstack ui` printed last")
            return
        cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()),
                                (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
