"""One-shot probes against real sockets: http against real servers (asyncio servers in the test's
own event loop answering canned bytes, well-formed or not, and http.server on a thread), tcp
against real listeners, cmd against real shells. (What needs no socket, the parsing of targets and
the log matcher, is tests/unit/test_health.py.)

No pytest-asyncio: each test drives its coroutine with `asyncio.run`. Nothing sleeps
and hopes; waits are on conditions with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import MappingProxyType
from typing import Any, cast

import h11
import pytest

from devstack.probes.cmd import probe_cmd
from devstack.probes.http import MAX_BODY_BYTES, probe_http
from devstack.probes.result import ProbeResult
from devstack.probes.run import run_probe
from devstack.probes.tcp import probe_tcp
from tests.support.ground_truth import alive
from tests.support.ports import closed_port, needs_ipv6
from tests.support.probing import cmd_spec, http_spec, probe_real, tcp_spec
from tests.support.waiting import wait_for, wait_until

# --------------------------------------------------------------------------- helpers


def dead(pid: int) -> Callable[[], bool]:
    return lambda: not alive(pid)


@contextlib.contextmanager
def listening(host: str) -> Iterator[int]:
    """A socket that listens and never accepts: the kernel completes the handshake."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, 0), family=family, backlog=16) as server:
        yield int(server.getsockname()[1])


# ------------------------------------------------------------ canned servers (asyncio, same loop)


@dataclass
class Seen:
    """A request as a canned server received it (parsed by h11 in the server role)."""

    target: str
    headers: dict[str, str]  # lower-case names


class Conn:
    """One accepted connection of a canned server, handed to its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, *chunks: bytes, pause: float = 0.0) -> None:
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            if pause:
                await asyncio.sleep(pause)  # pacing, so that the chunks leave as separate packets

    async def until_hung_up(self) -> None:
        """Read until the client closes its side (or resets the connection)."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Answer = Callable[[Conn], Awaitable[None]]


@dataclass
class Canned:
    """A server that reads each request (unless told not to) and answers it with `answer`."""

    answer: Answer
    read_request: bool = True
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    accepted: int = 0
    hung_up: int = 0  # connections whose answer ended because the client went away
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def where(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        conn = Conn(reader, writer)
        try:
            if self.read_request:
                head = await reader.readuntil(b"\r\n\r\n")
                self.seen.append(parse_request(head))
            await self.answer(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hung_up += 1
        except asyncio.CancelledError:
            pass  # stop(): end quietly (asyncio 3.11 logs a client_connected_cb that ends cancelled)
        finally:
            writer.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def parse_request(head: bytes) -> Seen:
    server = h11.Connection(h11.SERVER)
    server.receive_data(head)
    request = server.next_event()
    assert isinstance(request, h11.Request), request
    headers = {name.decode(): value.decode() for name, value in request.headers}
    return Seen(request.target.decode(), headers)


@contextlib.asynccontextmanager
async def canned(
    answer: Answer, host: str = "127.0.0.1", port: int = 0, *, read_request: bool = True,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Canned]:
    state = Canned(answer, read_request)
    server = await asyncio.start_server(state.handle, host, port, ssl=tls)
    state.port = int(server.sockets[0].getsockname()[1])
    try:
        yield state
    finally:
        server.close()
        await state.stop()
        await server.wait_closed()


def raw(*chunks: bytes, pause: float = 0.0) -> Answer:
    async def answer(conn: Conn) -> None:
        await conn.send(*chunks, pause=pause)

    return answer


def response(
    status: int = 200, body: bytes = b"", content_type: str = "text/plain",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} Canned", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(document: object, status: int = 200) -> bytes:
    return response(status, json.dumps(document).encode(), "application/json")


def answering(status: int = 200, body: bytes = b"", **kw: Any) -> Answer:
    return raw(response(status, body, **kw))


async def hang(conn: Conn) -> None:
    """Accept, read the request, never answer; returns when the client hangs up."""
    await conn.until_hung_up()
    raise ConnectionResetError("the client hung up")  # counted in Canned.hung_up


async def close_at_once(conn: Conn) -> None:
    pass


def probe_canned(answer: Answer, path: str = "/health", **kw: Any) -> tuple[ProbeResult, Canned]:
    """Probe http://127.0.0.1:PORT{path} once, PORT a canned server's; (the result, the server)."""

    async def go() -> tuple[ProbeResult, Canned]:
        async with canned(answer) as server:
            return await probe_http(http_spec(f"http://127.0.0.1:{server.port}{path}", **kw)), server

    return asyncio.run(go())


@contextlib.asynccontextmanager
async def localhost_pair(v4: Answer | None, v6: Answer | None) -> AsyncIterator[tuple[int, Canned | None,
                                                                                       Canned | None]]:
    """Canned servers on 127.0.0.1 and ::1 on one port; None: that family refuses (nothing listens)."""
    for _ in range(20):
        port = closed_port()
        stack = contextlib.AsyncExitStack()
        try:
            four = await stack.enter_async_context(canned(v4, "127.0.0.1", port)) if v4 else None
            six = await stack.enter_async_context(canned(v6, "::1", port)) if v6 else None
        except OSError as exc:  # the port was taken in between: try another
            await stack.aclose()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        async with stack:
            yield port, four, six
        return
    pytest.fail("found no port to serve on both loopback addresses")


def once_seen(servers: dict[str, Canned], name: str, then: Answer) -> Answer:
    """An answer given only once the server `name` has received its request: both attempts are made."""

    async def answer(conn: Conn) -> None:
        await wait_for(lambda: name in servers and bool(servers[name].seen), f"a request on {name}")
        await then(conn)

    return answer


# ------------------------------------------------- a threaded http.server, for real-world answers


Route = tuple[int, bytes, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes = routes
        self.seen: list[tuple[str, str, int]] = []  # (path, Host header, client port)
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would getfqdn() the address: a DNS lookup we do not want.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive on the server side: the client must not rely on it

    def do_GET(self) -> None:
        server = cast(_Server, self.server)
        server.seen.append((self.path, self.headers.get("Host", ""), int(self.client_address[1])))
        status, body, content_type = server.routes.get(self.path, (404, b"not found", "text/plain"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(
    host: str = "127.0.0.1", routes: dict[str, Route] | None = None, port: int = 0
) -> Iterator[_Server]:
    server = _Server(host, port, routes if routes is not None else {"/": (200, b"hello", "text/plain")})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


JSON_OK: Route = (200, b'{"status": "OK", "version": "1.2"}', "application/json")


# --------------------------------------------------------------------------- http: status


@pytest.mark.parametrize("status", [200, 204, 301, 302, 304, 399])
def test_http_passes_on_any_status_from_200_to_399_by_default(status: int) -> None:
    headers = {"Location": "http://127.0.0.1:1/elsewhere"} if 300 <= status < 400 else {}
    result, server = probe_canned(answering(status, headers=headers))
    assert result == ProbeResult(
        ok=True, error=None, response_time_ms=result.response_time_ms, address=server.where
    )
    assert result.response_time_ms is not None and result.response_time_ms >= 0


@pytest.mark.parametrize("status", [400, 404, 500, 503, 599])
def test_http_fails_outside_200_to_399_by_default(status: int) -> None:
    result, server = probe_canned(answering(status))
    assert not result.ok
    assert result.error == f"HTTP {status} from {server.where} (expected 200–399)"
    assert result.address == server.where  # it answered, wrongly


def test_http_interim_1xx_answers_are_skipped_for_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    result, server = probe_canned(raw(interim + response(503)))
    assert result.error == f"HTTP 503 from {server.where} (expected 200–399)"
    assert probe_canned(raw(interim + json_response({"status": "OK"})), expect_json={"status": "OK"})[0].ok


@pytest.mark.parametrize("status", [100, 199])
def test_http_a_1xx_and_nothing_after_it_is_no_answer(status: int) -> None:
    result, server = probe_canned(raw(f"HTTP/1.1 {status} Wait\r\n\r\n".encode()))
    assert result == ProbeResult(
        ok=False,
        error=f"no valid HTTP response (server disconnected without sending a response) on {server.where}",
        response_time_ms=None,
        address=None,
    )


def test_http_does_not_follow_a_redirect() -> None:
    result, server = probe_canned(answering(302, headers={"Location": "/login"}))
    assert result.ok
    assert [seen.target for seen in server.seen] == ["/health"]
    assert server.accepted == 1


@pytest.mark.parametrize(
    ("expect", "status", "error"),
    [
        ((200,), 200, None),
        ((200,), 204, "HTTP 204 from {} (expected 200)"),
        ((200, 503), 503, None),
        ((404,), 404, None),
        ((200, 204), 302, "HTTP 302 from {} (expected 200, 204)"),
    ],
)
def test_http_expect_status_is_the_exact_list(
    expect: tuple[int, ...], status: int, error: str | None
) -> None:
    result, server = probe_canned(answering(status), expect_status=expect)
    assert (result.ok, result.error) == (error is None, error and error.format(server.where))


# --------------------------------------------------------------------------- http: body


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ({"status": "OK"}, {"status": "OK"}),
        ({"status": "OK", "version": "1.2", "uptime": 3}, {"status": "OK"}),
        (
            {"status": "UP", "components": {"db": {"status": "UP", "details": {"database": "PostgreSQL"}}}},
            {"components": {"db": {"status": "UP"}}},
        ),
        ({"tags": ["a", "b"], "n": 1}, {"tags": ["a", "b"]}),
        ({"tags": ["a", "b"]}, {"tags": ("a", "b")}),  # config may freeze lists into tuples
        ({"ok": True, "ratio": 1.0}, {"ok": True, "ratio": 1}),
        ({"anything": None}, {}),
        # Config hands over frozen mappings, nested ones included.
        ({"db": {"status": "UP"}, "n": 1}, MappingProxyType({"db": MappingProxyType({"status": "UP"})})),
    ],
)
def test_http_expect_json_passes_when_the_body_contains_it(
    body: object, expect: Mapping[str, object]
) -> None:
    result, _ = probe_canned(raw(json_response(body)), expect_json=expect)
    assert result.ok, result.error


@pytest.mark.parametrize(
    ("body", "expect", "problem"),
    [
        ({"status": "ERROR"}, {"status": "OK"}, 'has status="ERROR", expected "OK"'),
        ({"state": "OK"}, {"status": "OK"}, 'has no status, expected "OK"'),
        ({"db": {"status": "DOWN"}}, {"db": {"status": "UP"}}, 'has db.status="DOWN", expected "UP"'),
        ({"db": "DOWN"}, {"db": {"status": "UP"}}, 'has db="DOWN", expected an object'),
        ({"tags": ["a", "b", "c"]}, {"tags": ["a", "b"]}, 'has tags=["a","b","c"], expected ["a","b"]'),
        ({"ok": 1}, {"ok": True}, "has ok=1, expected true"),
        (
            {"items": [{"a": 2}]},
            {"items": (MappingProxyType({"a": 1}),)},
            'has items=[{"a":2}], expected [{"a":1}]',
        ),
        ({"n": "1"}, {"n": 1}, 'has n="1", expected 1'),
        ([{"status": "OK"}], {"status": "OK"}, 'is [{"status":"OK"}], expected an object'),
    ],
)
def test_http_expect_json_mismatch_names_what_the_body_has(
    body: object, expect: Mapping[str, object], problem: str
) -> None:
    result, server = probe_canned(raw(json_response(body)), expect_json=expect)
    assert not result.ok
    assert result.error == f"HTTP 200 from {server.where} but the JSON body {problem}"
    assert result.address == server.where


def test_http_expect_json_on_a_body_that_is_not_json() -> None:
    page = answering(200, b"<html>Whitelabel Error Page</html>", content_type="text/html")
    result, server = probe_canned(page, expect_json={"a": 1})
    assert result.error == f"HTTP 200 from {server.where} but the body is not JSON"


def test_http_a_bad_status_is_reported_before_the_body() -> None:
    result, server = probe_canned(raw(json_response({"status": "OK"}, 503)), expect_json={"status": "OK"})
    assert result.error == f"HTTP 503 from {server.where} (expected 200–399)"


def test_http_expect_text() -> None:
    page = answering(200, b"<title>Vite + React</title>", content_type="text/html")
    assert probe_canned(page, expect_text="Vite + React")[0].ok
    result, server = probe_canned(page, expect_text="xyz")
    assert result.error == f"HTTP 200 from {server.where} but the body does not contain 'xyz'"


def test_http_expect_text_honours_the_declared_charset() -> None:
    latin = answering(200, "café".encode("latin-1"), content_type="text/plain; charset=latin-1")
    assert probe_canned(latin, expect_text="café")[0].ok
    quoted = answering(200, "café".encode("latin-1"), content_type='text/plain; Charset="ISO-8859-1"')
    assert probe_canned(quoted, expect_text="café")[0].ok
    # No charset: UTF-8. A charset Python does not know: judged as UTF-8 too.
    assert probe_canned(answering(200, "café".encode()), expect_text="café")[0].ok
    unknown = answering(200, "café".encode(), content_type="text/plain; charset=x-klingon")
    assert probe_canned(unknown, expect_text="café")[0].ok


def test_http_expect_json_and_expect_text_must_both_hold() -> None:
    page = raw(json_response({"status": "OK", "message": "all good"}))
    assert probe_canned(page, expect_json={"status": "OK"}, expect_text="all good")[0].ok
    result, server = probe_canned(page, expect_json={"status": "OK"}, expect_text="nope")
    assert result.error == f"HTTP 200 from {server.where} but the body does not contain 'nope'"


def test_http_error_lines_are_one_line_and_bounded() -> None:
    page = raw(json_response({"status": "x" * 5000 + "\nline two"}))
    result, server = probe_canned(page, expect_json={"status": "OK"})
    assert result.error is not None
    assert len(result.error) <= 200 and "\n" not in result.error
    assert result.error.startswith(f'HTTP 200 from {server.where} but the JSON body has status="xxx')


def test_http_a_response_split_into_many_packets() -> None:
    whole = json_response({"status": "OK"})
    result, _ = probe_canned(raw(*[whole[i : i + 1] for i in range(len(whole))], pause=0.001),
                             expect_json={"status": "OK"})
    assert result.ok, result.error


def test_http_a_chunked_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = [b'{"sta', b'tus": ', b'"OK", "n"', b": 1}"]
    body = [f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks] + [b"0\r\n\r\n"]
    result, _ = probe_canned(raw(head, *body, pause=0.001), expect_json={"status": "OK", "n": 1})
    assert result.ok, result.error


def test_http_a_body_delimited_by_the_end_of_the_connection() -> None:
    answer = raw(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"status": "OK"}')
    result, _ = probe_canned(answer, expect_json={"status": "OK"})
    assert result.ok, result.error


def test_http_a_gzip_body_is_decoded() -> None:
    body = gzip.compress(b'{"status": "OK"}')
    answer = answering(200, body, content_type="application/json", headers={"Content-Encoding": "gzip"})
    result, server = probe_canned(answer, expect_json={"status": "OK"})
    assert result.ok, result.error
    assert server.seen[0].headers["accept-encoding"] == "identity"  # it was not asked for


def test_http_the_body_is_read_up_to_max_body_bytes() -> None:
    filler = b"a" * (MAX_BODY_BYTES - len(b"START"))
    page = answering(200, b"START" + filler + b"PAST THE LIMIT" + b"b" * 1000)
    assert probe_canned(page, expect_text="START")[0].ok
    result, server = probe_canned(page, expect_text="PAST THE LIMIT")
    assert result.error == f"HTTP 200 from {server.where} but the body does not contain 'PAST THE LIMIT'"


def test_http_a_body_that_never_ends_is_read_only_up_to_the_limit() -> None:
    async def endless(conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"ready " * 10_000
        while True:  # until the probe hangs up: a ConnectionError ends the answer
            await conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

    started = time.monotonic()
    result, _ = probe_canned(endless, expect_text="ready", timeout=30)
    assert (result.ok, result.error) == (True, None)
    assert time.monotonic() - started < 10


def test_http_without_body_expectations_the_body_is_not_waited_for() -> None:
    async def head_then_stall(conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome")
        await hang(conn)

    started = time.monotonic()
    result, _ = probe_canned(head_then_stall, timeout=30)
    assert (result.ok, result.error) == (True, None)
    assert time.monotonic() - started < 10


def test_http_the_request_is_a_plain_get_that_closes_the_connection() -> None:
    result, server = probe_canned(answering(200), path="/api/health/db?deep=1&x=a%20b")
    assert result.ok
    (seen,) = server.seen
    assert seen.target == "/api/health/db?deep=1&x=a%20b"
    assert seen.headers["host"] == server.where
    assert seen.headers["user-agent"] == "devstack-probe"
    assert seen.headers["connection"] == "close"
    assert "authorization" not in seen.headers and "cookie" not in seen.headers


def test_http_credentials_in_the_url_are_sent_as_basic_auth() -> None:
    async def go() -> Canned:
        async with canned(answering(200)) as server:
            result = await probe_http(http_spec(f"http://ops:s%40cret@127.0.0.1:{server.port}/"))
            assert result.ok, result.error
            return server

    server = asyncio.run(go())
    assert server.seen[0].headers["authorization"] == "Basic b3BzOnNAY3JldA=="  # ops:s@cret
    assert server.seen[0].headers["host"] == server.where


# --------------------------------------------------------------------------- http: failures


def test_http_connection_refused() -> None:
    port = closed_port()
    result = probe_real(http_spec(f"http://127.0.0.1:{port}/health"))
    assert result == ProbeResult(
        ok=False, error=f"connection refused on 127.0.0.1:{port}", response_time_ms=None, address=None
    )


def test_http_a_server_that_never_answers_times_out() -> None:
    started = time.monotonic()
    result, server = probe_canned(hang, timeout=0.2)
    assert result == ProbeResult(
        ok=False, error=f"timed out after 0.2 s on {server.where}", response_time_ms=None, address=None
    )
    assert time.monotonic() - started < 5


def test_http_the_timeout_bounds_the_whole_attempt_not_each_read() -> None:
    async def drip(conn: Conn) -> None:  # a byte every 20 ms: every read is quick, the answer never done
        await conn.send(b"HTTP/1.1 200 OK\r\n")
        while True:
            await conn.send(b"X-Slow: y\r\n")
            await asyncio.sleep(0.02)

    started = time.monotonic()
    result, server = probe_canned(drip, timeout=0.3)
    assert result.error == f"timed out after 0.3 s on {server.where}"
    assert time.monotonic() - started < 5


def test_http_a_server_that_closes_without_answering() -> None:
    result, server = probe_canned(close_at_once)
    assert result == ProbeResult(
        ok=False,
        error=f"no valid HTTP response (server disconnected without sending a response) on {server.where}",
        response_time_ms=None,
        address=None,
    )


def test_http_a_server_that_closes_halfway_through_the_headers() -> None:
    result, server = probe_canned(raw(b"HTTP/1.1 200 OK\r\nContent-Le"))
    assert result.error == (
        f"no valid HTTP response (server disconnected without sending a response) on {server.where}"
    )


def test_http_a_server_that_closes_halfway_through_the_body() -> None:
    answer = raw(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"sta')
    result, server = probe_canned(answer, expect_json={"status": "OK"})
    assert result.error == (
        "no valid HTTP response (peer closed connection without sending complete message body "
        f"(received 5 bytes, expected 16)) on {server.where}"
    )
    assert result.address is None


def test_http_a_server_that_resets_the_connection() -> None:
    async def reset(conn: Conn) -> None:
        conn.reset()

    result, server = probe_canned(reset)
    assert result.error == f"connection reset on {server.where}"


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot hex\r\n",
    ],
)
def test_http_a_malformed_response_is_one_line_and_no_answer(answer: bytes) -> None:
    result, server = probe_canned(raw(answer), expect_text="x")
    assert not result.ok and result.address is None and result.error is not None
    assert result.error.startswith("no valid HTTP response (")
    assert result.error.endswith(f") on {server.where}")
    assert "\n" not in result.error and len(result.error) <= 200


def test_http_a_response_head_too_large_is_refused() -> None:
    answer = raw(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * (200 << 10) + b"\r\n\r\n")
    result, server = probe_canned(answer)
    assert result.error == f"no valid HTTP response (receive buffer too long) on {server.where}"


# --------------------------------------------------------------------------- http: names and addresses


def test_http_a_host_name_is_resolved_and_sent_as_the_host(resolver: list[str]) -> None:
    async def go() -> tuple[ProbeResult, Canned]:
        async with canned(answering(200)) as server:
            return await probe_http(http_spec(f"http://probe-target.test:{server.port}/")), server

    result, server = asyncio.run(go())
    assert (result.ok, result.address) == (True, server.where)  # where it really came from
    assert server.seen[0].headers["host"] == f"probe-target.test:{server.port}"
    assert resolver == ["probe-target.test"]


def test_http_literal_addresses_and_localhost_are_never_resolved(resolver: list[str]) -> None:
    port = closed_port()
    for target in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", f"https://LOCALHOST:{port}/"):
        assert probe_real(http_spec(target)).error is not None
    assert resolver == []


# --------------------------------------------------------------------------- http: localhost, both families


@needs_ipv6
def test_http_localhost_dials_both_loopback_addresses_with_the_original_host_header() -> None:
    servers: dict[str, Canned] = {}

    async def go() -> tuple[ProbeResult, int]:
        ok = once_seen(servers, "v4", raw(json_response({"status": "OK"})))
        async with localhost_pair(answering(503), ok) as (port, v4, v6):
            assert v4 is not None and v6 is not None
            servers.update(v4=v4, v6=v6)
            spec = http_spec(f"http://localhost:{port}/", expect_json={"status": "OK"})
            return await probe_http(spec), port

    result, port = asyncio.run(go())
    assert (result.ok, result.address) == (True, f"[::1]:{port}")  # the 503 did not end the race
    assert [s.headers["host"] for s in servers["v4"].seen + servers["v6"].seen] == [f"localhost:{port}"] * 2


@needs_ipv6
def test_http_localhost_both_refused_names_both_addresses() -> None:
    port = closed_port()
    result = probe_real(http_spec(f"http://localhost:{port}/"))
    assert result == ProbeResult(
        ok=False,
        error=f"connection refused on 127.0.0.1:{port} and [::1]:{port}",
        response_time_ms=None,
        address=None,
    )


@needs_ipv6
def test_http_localhost_different_failures_are_each_named() -> None:
    async def go() -> tuple[ProbeResult, int]:
        async with localhost_pair(None, hang) as (port, _, _):
            return await probe_http(http_spec(f"http://localhost:{port}/", timeout=0.05)), port

    result, port = asyncio.run(go())
    assert result.error == f"connection refused on 127.0.0.1:{port}; timed out after 0.05 s on [::1]:{port}"


@needs_ipv6
def test_http_localhost_an_answer_beats_a_refusal_in_the_error() -> None:
    async def go() -> tuple[ProbeResult, int]:
        async with localhost_pair(answering(503), None) as (port, _, _):
            return await probe_http(http_spec(f"http://localhost:{port}/")), port

    result, port = asyncio.run(go())
    assert result.error == f"HTTP 503 from 127.0.0.1:{port} (expected 200–399)"
    assert result.address == f"127.0.0.1:{port}"
    assert result.response_time_ms is not None


@needs_ipv6
def test_http_localhost_first_success_wins_and_the_other_attempt_is_cancelled() -> None:
    servers: dict[str, Canned] = {}

    async def go() -> tuple[ProbeResult, int, float]:
        async with localhost_pair(hang, once_seen(servers, "v4", answering(200))) as (port, v4, _):
            assert v4 is not None
            servers["v4"] = v4
            started = time.monotonic()
            result = await probe_http(http_spec(f"http://localhost:{port}/", timeout=30))
            took = time.monotonic() - started
            # The losing attempt's connection is closed, not left open until its timeout.
            await wait_for(lambda: v4.hung_up == 1, "the IPv4 attempt to hang up")
            return result, port, took

    result, port, took = asyncio.run(go())
    assert (result.ok, result.address) == (True, f"[::1]:{port}")
    assert took < 10  # did not wait for the hanging IPv4 attempt


# --------------------------------------------------------------------------- http: https


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (for a name that matches nothing), made offline with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a self-signed certificate with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=devstack-test.invalid"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def tls_server_context(certificate: tuple[Path, Path], names: list[str | None]) -> ssl.SSLContext:
    """A server context that records the server name (SNI) each client asks for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)

    def remember(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember
    return context


def test_https_against_a_self_signed_certificate(certificate: tuple[Path, Path]) -> None:
    names: list[str | None] = []

    async def go() -> tuple[ProbeResult, Canned]:
        tls = tls_server_context(certificate, names)
        async with canned(raw(json_response({"status": "OK"})), tls=tls) as server:
            spec = http_spec(f"https://127.0.0.1:{server.port}/health", expect_json={"status": "OK"})
            return await probe_http(spec), server

    result, server = asyncio.run(go())
    assert (result.ok, result.error, result.address) == (True, None, server.where)
    assert names == [None]  # no SNI for an address


def test_https_localhost_sends_localhost_as_the_server_name(certificate: tuple[Path, Path]) -> None:
    names: list[str | None] = []

    async def go() -> tuple[ProbeResult, Canned]:
        tls = tls_server_context(certificate, names)
        async with canned(answering(204), tls=tls) as server:
            return await probe_http(http_spec(f"https://localhost:{server.port}/")), server

    result, server = asyncio.run(go())
    assert (result.ok, result.address) == (True, server.where)
    assert names == ["localhost"]
    assert server.seen[0].headers["host"] == f"localhost:{server.port}"


def test_https_against_a_plain_http_server_fails_in_one_line() -> None:
    async def go() -> tuple[ProbeResult, Canned]:
        async with canned(answering(200), read_request=False) as server:
            return await probe_http(http_spec(f"https://127.0.0.1:{server.port}/", timeout=5)), server

    result, server = asyncio.run(go())
    assert not result.ok and result.address is None and result.error is not None
    assert result.error.endswith(f" on {server.where}") and "\n" not in result.error
    assert not result.error.startswith("timed out")


# --------------------------------------------------------------------------- http: real servers


def test_http_real_server_on_ipv4() -> None:
    with serving(routes={"/health": JSON_OK}) as server:
        result = probe_real(http_spec(f"http://127.0.0.1:{server.port}/health", expect_json={"status": "OK"}))
    assert (result.ok, result.error, result.address) == (True, None, f"127.0.0.1:{server.port}")
    assert result.response_time_ms is not None and result.response_time_ms > 0


def test_http_real_server_bad_status_and_body() -> None:
    routes = {
        "/down": (503, b"busy", "text/plain"),
        "/json": (200, b'{"status": "ERROR"}', "application/json"),
    }
    with serving(routes=routes) as server:
        down = probe_real(http_spec(f"http://127.0.0.1:{server.port}/down"))
        body = probe_real(http_spec(f"http://127.0.0.1:{server.port}/json", expect_json={"status": "OK"}))
    assert down.error == f"HTTP 503 from 127.0.0.1:{server.port} (expected 200–399)"
    assert (
        body.error
        == f'HTTP 200 from 127.0.0.1:{server.port} but the JSON body has status="ERROR", expected "OK"'
    )


@needs_ipv6
def test_http_localhost_reaches_a_server_bound_only_on_ipv6() -> None:
    with serving("::1", routes={"/": JSON_OK}) as server:
        result = probe_real(http_spec(f"http://localhost:{server.port}/", expect_json={"status": "OK"}))
    assert (result.ok, result.error, result.address) == (True, None, f"[::1]:{server.port}")
    assert server.seen[0][:2] == ("/", f"localhost:{server.port}")


def test_http_localhost_reaches_a_server_bound_only_on_ipv4() -> None:
    with serving("127.0.0.1") as server:
        result = probe_real(http_spec(f"http://localhost:{server.port}/"))
    assert (result.ok, result.address) == (True, f"127.0.0.1:{server.port}")


def test_http_closed_port_on_ipv4() -> None:
    port = closed_port()
    assert (
        probe_real(http_spec(f"http://127.0.0.1:{port}/")).error == f"connection refused on 127.0.0.1:{port}"
    )


def test_http_real_server_that_never_accepts_times_out() -> None:
    with listening("127.0.0.1") as port:
        started = time.monotonic()
        result = probe_real(http_spec(f"http://127.0.0.1:{port}/", timeout=0.2))
    assert result.error == f"timed out after 0.2 s on 127.0.0.1:{port}"
    assert time.monotonic() - started < 5


def test_http_a_restarted_service_is_probed_on_a_fresh_connection() -> None:
    async def go() -> list[ProbeResult]:
        results = []
        with serving() as first:
            port = first.port
            results.append(await probe_http(http_spec(f"http://127.0.0.1:{port}/")))
        # The same port, a new process: a reused keep-alive connection would be stale.
        with serving(port=port) as second:
            results.append(await probe_http(http_spec(f"http://127.0.0.1:{port}/")))
            results.append(await probe_http(http_spec(f"http://127.0.0.1:{port}/")))
            assert len({client_port for _, _, client_port in second.seen}) == 2
        return results

    assert [r.ok for r in asyncio.run(go())] == [True, True, True]


def test_http_client_ignores_proxy_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with serving() as server:
        assert probe_real(http_spec(f"http://127.0.0.1:{server.port}/")).ok


# --------------------------------------------------------------------------- tcp


def test_tcp_accepted_on_ipv4() -> None:
    with listening("127.0.0.1") as port:
        result = asyncio.run(probe_tcp(tcp_spec(f"127.0.0.1:{port}")))
    assert (result.ok, result.error, result.address) == (True, None, f"127.0.0.1:{port}")
    assert result.response_time_ms is not None


def test_tcp_refused_on_ipv4() -> None:
    port = closed_port()
    result = asyncio.run(probe_tcp(tcp_spec(f"127.0.0.1:{port}")))
    assert result == ProbeResult(
        ok=False, error=f"connection refused on 127.0.0.1:{port}", response_time_ms=None, address=None
    )


@needs_ipv6
def test_tcp_accepted_on_ipv6() -> None:
    with listening("::1") as port:
        result = asyncio.run(probe_tcp(tcp_spec(f"[::1]:{port}")))
    assert (result.ok, result.address) == (True, f"[::1]:{port}")


@needs_ipv6
def test_tcp_refused_on_ipv6() -> None:
    port = closed_port()
    assert asyncio.run(probe_tcp(tcp_spec(f"[::1]:{port}"))).error == f"connection refused on [::1]:{port}"


@needs_ipv6
def test_tcp_localhost_reaches_a_listener_bound_only_on_ipv6() -> None:
    with listening("::1") as port:
        result = asyncio.run(probe_tcp(tcp_spec(f"localhost:{port}")))
    assert (result.ok, result.address) == (True, f"[::1]:{port}")


def test_tcp_localhost_reaches_a_listener_bound_only_on_ipv4() -> None:
    with listening("127.0.0.1") as port:
        result = asyncio.run(probe_tcp(tcp_spec(f"localhost:{port}")))
    assert (result.ok, result.address) == (True, f"127.0.0.1:{port}")


@needs_ipv6
def test_tcp_localhost_closed_names_both_families() -> None:
    port = closed_port()
    result = asyncio.run(probe_tcp(tcp_spec(f"localhost:{port}")))
    assert result.error == f"connection refused on 127.0.0.1:{port} and [::1]:{port}"


# --------------------------------------------------------------------------- cmd


def test_cmd_passes_on_exit_0(tmp_path: Path) -> None:
    result = asyncio.run(probe_cmd(cmd_spec("true"), tmp_path, dict(os.environ)))
    assert (result.ok, result.error, result.address) == (True, None, None)
    assert result.response_time_ms is not None


def test_cmd_failure_gives_the_exit_code_and_the_last_non_empty_line(tmp_path: Path) -> None:
    script = "echo 'starting'; echo '127.0.0.1:5432 - no response' >&2; echo; echo '   '; exit 3"
    result = asyncio.run(probe_cmd(cmd_spec(script), tmp_path, dict(os.environ)))
    assert (result.ok, result.error) == (False, "exit code 3: 127.0.0.1:5432 - no response")


def test_cmd_failure_without_output(tmp_path: Path) -> None:
    result = asyncio.run(probe_cmd(cmd_spec("exit 3"), tmp_path, dict(os.environ)))
    assert result.error == "exit code 3"


def test_cmd_killed_by_a_signal(tmp_path: Path) -> None:
    result = asyncio.run(probe_cmd(cmd_spec("kill -TERM $$"), tmp_path, dict(os.environ)))
    assert result.error == "killed by SIGTERM"


def test_cmd_long_output_is_bounded_to_one_short_line(tmp_path: Path) -> None:
    script = "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; printf '%0500d' 7; exit 1"
    result = asyncio.run(probe_cmd(cmd_spec(script), tmp_path, dict(os.environ)))
    assert result.error is not None
    assert result.error.startswith("exit code 1: 0000") and result.error.endswith("…")
    assert len(result.error) <= 200


def test_cmd_timeout_kills_its_whole_process_group(tmp_path: Path) -> None:
    script = "echo $$ > shell.pid; sleep 60 & echo $! > child.pid; wait"
    started = time.monotonic()
    result = asyncio.run(probe_cmd(cmd_spec(script, timeout=1.0), tmp_path, dict(os.environ)))
    assert (result.ok, result.error, result.response_time_ms) == (False, "timed out after 1.0 s", None)
    assert time.monotonic() - started < 10
    for name in ("shell.pid", "child.pid"):
        pid = int((tmp_path / name).read_text())
        wait_until(dead(pid), 5.0, f"{name} ({pid}) to die", interval=0.005)


def test_cmd_passes_promptly_when_it_leaves_a_background_process_holding_its_output(tmp_path: Path) -> None:
    script = "sleep 60 & echo $! > child.pid; echo ready"
    started = time.monotonic()
    result = asyncio.run(probe_cmd(cmd_spec(script, timeout=30), tmp_path, dict(os.environ)))
    assert (result.ok, result.error) == (True, None)
    assert time.monotonic() - started < 10
    pid = int((tmp_path / "child.pid").read_text())
    wait_until(dead(pid), 5.0, "the background sleep to die", interval=0.005)


def test_cmd_cancelled_kills_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "shell.pid"

    async def go() -> None:
        task = asyncio.create_task(
            probe_cmd(cmd_spec("echo $$ > shell.pid; exec sleep 60", timeout=60), tmp_path, {})
        )
        deadline = time.monotonic() + 5
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the probe command never started"
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    pid = int(pid_file.read_text())
    wait_until(dead(pid), 5.0, "the cancelled probe's command to die", interval=0.005)


def test_cmd_runs_in_cwd_with_exactly_the_given_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_TEST_LEAK", "from the supervisor")
    workdir = tmp_path / "apps" / "ai-api"
    workdir.mkdir(parents=True)
    script = (
        '[ "$(pwd -P)" = "$WANT_CWD" ] || { echo "cwd is $(pwd -P)"; exit 1; }; '
        '[ "$FOO" = "bar baz" ] || { echo "FOO is $FOO"; exit 1; }; '
        '[ -z "$DEVSTACK_TEST_LEAK" ] || { echo "the supervisor env leaked"; exit 1; }'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "FOO": "bar baz",
        "WANT_CWD": str(workdir.resolve()),
    }
    result = asyncio.run(probe_cmd(cmd_spec(script), workdir, env))
    assert (result.ok, result.error) == (True, None)


def test_cmd_in_a_missing_folder_is_a_failed_probe(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = asyncio.run(probe_cmd(cmd_spec("true"), missing, dict(os.environ)))
    assert (result.ok, result.error) == (
        False,
        f"cannot run the command in {missing}: no such file or directory",
    )


# --------------------------------------------------------------------------- log


# --------------------------------------------------------------------------- dispatch


def test_run_probe_dispatches_each_polled_kind(tmp_path: Path) -> None:
    async def go(port: int) -> tuple[list[ProbeResult], str]:
        async with canned(answering(200)) as server:
            results = [
                await run_probe(http_spec(f"http://127.0.0.1:{server.port}/"), tmp_path, {}),
                await run_probe(tcp_spec(f"127.0.0.1:{port}"), tmp_path, {}),
                await run_probe(cmd_spec("exit 4"), tmp_path, {}),
            ]
            return results, server.where

    with listening("127.0.0.1") as port:
        (http, tcp, cmd), where = asyncio.run(go(port))
    assert (http.ok, http.address) == (True, where)
    assert (tcp.ok, tcp.address) == (True, f"127.0.0.1:{port}")
    assert cmd.error == "exit code 4"


