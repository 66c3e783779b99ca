"""One-shot probes: http through MockTransport and real servers, tcp against real sockets,
cmd against real shells, and the log matcher.

No pytest-asyncio: each test drives its coroutine with `asyncio.run`. Nothing sleeps
and hopes; waits are on conditions with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import MappingProxyType
from typing import Any, cast

import httpx
import pytest

from devstack.health import (
    LogProbe,
    ProbeResult,
    make_http_client,
    probe_cmd,
    probe_http,
    probe_tcp,
    run_probe,
)
from devstack.specs import HealthSpec, ProbeKind

MockHandler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


# --------------------------------------------------------------------------- helpers


def http_spec(target: str = "http://127.0.0.1:8001/health", **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.HTTP, target=target, **kw)


def tcp_spec(target: str, **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.TCP, target=target, **kw)


def cmd_spec(target: str, **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.CMD, target=target, **kw)


def probe_mock(handler: MockHandler, spec: HealthSpec) -> ProbeResult:
    async def go() -> ProbeResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await probe_http(spec, client)

    return asyncio.run(go())


def probe_real(spec: HealthSpec) -> ProbeResult:
    async def go() -> ProbeResult:
        async with make_http_client() as client:
            return await probe_http(spec, client)

    return asyncio.run(go())


def respond(status: int = 200, **kw: Any) -> MockHandler:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, **kw)

    return handler


def refused(request: httpx.Request) -> httpx.ConnectError:
    # What httpx raises for a refused connection: the errno sits some causes down.
    error = httpx.ConnectError("All connection attempts failed", request=request)
    error.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    return error


async def hang_forever() -> None:
    await asyncio.Event().wait()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.005)


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie (nobody reaped it yet) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def dead(pid: int) -> Callable[[], bool]:
    return lambda: not alive(pid)


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(
    not ipv6_loopback_available(), reason="this machine cannot bind the IPv6 loopback address ::1"
)


def closed_port() -> int:
    """A port nothing listens on, over IPv4 nor (where there is one) IPv6 loopback."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port = int(v4.getsockname()[1])
            if not ipv6_loopback_available():
                return port
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as v6:
                    v6.bind(("::1", port))
            except OSError:
                continue
            return port
    pytest.fail("found no port free on both loopback addresses")


@contextlib.contextmanager
def listening(host: str) -> Iterator[int]:
    """A socket that listens and never accepts: the kernel completes the handshake."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, 0), family=family, backlog=16) as server:
        yield int(server.getsockname()[1])


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
    headers = {"Location": "http://127.0.0.1:8001/elsewhere"} if 300 <= status < 400 else {}
    result = probe_mock(respond(status, headers=headers), http_spec())
    assert result == ProbeResult(
        ok=True, error=None, response_time_ms=result.response_time_ms, address="127.0.0.1:8001"
    )
    assert result.response_time_ms is not None and result.response_time_ms >= 0


@pytest.mark.parametrize("status", [100, 199, 400, 404, 500, 503])
def test_http_fails_outside_200_to_399_by_default(status: int) -> None:
    result = probe_mock(respond(status), http_spec())
    assert not result.ok
    assert result.error == f"HTTP {status} from 127.0.0.1:8001 (expected 200–399)"
    assert result.address == "127.0.0.1:8001"  # it answered, wrongly


def test_http_does_not_follow_a_redirect() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(302, headers={"Location": "/login"})

    assert probe_mock(handler, http_spec()).ok
    assert seen == ["/health"]


@pytest.mark.parametrize(
    ("expect", "status", "error"),
    [
        ((200,), 200, None),
        ((200,), 204, "HTTP 204 from 127.0.0.1:8001 (expected 200)"),
        ((200, 503), 503, None),
        ((404,), 404, None),
        ((200, 204), 302, "HTTP 302 from 127.0.0.1:8001 (expected 200, 204)"),
    ],
)
def test_http_expect_status_is_the_exact_list(
    expect: tuple[int, ...], status: int, error: str | None
) -> None:
    result = probe_mock(respond(status), http_spec(expect_status=expect))
    assert (result.ok, result.error) == (error is None, error)


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
    result = probe_mock(respond(200, json=body), http_spec(expect_json=expect))
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
    result = probe_mock(respond(200, json=body), http_spec(expect_json=expect))
    assert not result.ok
    assert result.error == f"HTTP 200 from 127.0.0.1:8001 but the JSON body {problem}"
    assert result.address == "127.0.0.1:8001"


def test_http_expect_json_on_a_body_that_is_not_json() -> None:
    result = probe_mock(
        respond(200, text="<html>Whitelabel Error Page</html>"), http_spec(expect_json={"a": 1})
    )
    assert result.error == "HTTP 200 from 127.0.0.1:8001 but the body is not JSON"


def test_http_a_bad_status_is_reported_before_the_body() -> None:
    result = probe_mock(respond(503, json={"status": "OK"}), http_spec(expect_json={"status": "OK"}))
    assert result.error == "HTTP 503 from 127.0.0.1:8001 (expected 200–399)"


def test_http_expect_text() -> None:
    page = respond(200, text="<title>Vite + React</title>")
    assert probe_mock(page, http_spec(expect_text="Vite + React")).ok
    result = probe_mock(page, http_spec(expect_text="xyz"))
    assert result.error == "HTTP 200 from 127.0.0.1:8001 but the body does not contain 'xyz'"


def test_http_expect_text_honours_the_declared_charset() -> None:
    handler = respond(
        200, content="café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"}
    )
    assert probe_mock(handler, http_spec(expect_text="café")).ok


def test_http_expect_json_and_expect_text_must_both_hold() -> None:
    handler = respond(200, json={"status": "OK", "message": "all good"})
    assert probe_mock(handler, http_spec(expect_json={"status": "OK"}, expect_text="all good")).ok
    result = probe_mock(handler, http_spec(expect_json={"status": "OK"}, expect_text="nope"))
    assert result.error == "HTTP 200 from 127.0.0.1:8001 but the body does not contain 'nope'"


def test_http_error_lines_are_one_line_and_bounded() -> None:
    result = probe_mock(
        respond(200, json={"status": "x" * 5000 + "\nline two"}), http_spec(expect_json={"status": "OK"})
    )
    assert result.error is not None
    assert len(result.error) <= 200 and "\n" not in result.error
    assert result.error.startswith('HTTP 200 from 127.0.0.1:8001 but the JSON body has status="xxx')


# --------------------------------------------------------------------------- http: failures to connect


def test_http_connection_refused() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise refused(request)

    result = probe_mock(handler, http_spec())
    assert result == ProbeResult(
        ok=False, error="connection refused on 127.0.0.1:8001", response_time_ms=None, address=None
    )


def test_http_timeout_bounds_the_whole_attempt() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await hang_forever()
        raise AssertionError("unreachable")

    result = probe_mock(handler, http_spec(timeout=0.05))
    assert result == ProbeResult(
        ok=False, error="timed out after 0.05 s on 127.0.0.1:8001", response_time_ms=None, address=None
    )


def test_http_timeout_raised_by_httpx() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    assert probe_mock(handler, http_spec(timeout=5)).error == "timed out after 5.0 s on 127.0.0.1:8001"


def test_http_a_multi_line_transport_error_becomes_one_line() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected\nwithout sending a response.", request=request)

    result = probe_mock(handler, http_spec())
    assert result.error == (
        "no valid HTTP response (server disconnected without sending a response) on 127.0.0.1:8001"
    )


@pytest.mark.parametrize("target", ["not a url", "ftp://127.0.0.1/", "http:///nohost"])
def test_http_an_invalid_url_is_a_failed_probe_not_an_exception(target: str) -> None:
    result = probe_mock(respond(200), http_spec(target))
    assert not result.ok
    assert result.error is not None and result.error.startswith(f"invalid URL {target!r}")


# --------------------------------------------------------------------------- http: localhost, both families


def test_http_localhost_dials_both_loopback_addresses_with_the_original_host_header() -> None:
    seen: list[tuple[str, str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["host"]))
        if request.url.host == "127.0.0.1":
            raise refused(request)
        return httpx.Response(200, json={"status": "OK"})

    result = probe_mock(handler, http_spec("http://localhost:8001/", expect_json={"status": "OK"}))
    assert (result.ok, result.address) == (True, "[::1]:8001")
    assert sorted(seen) == [("127.0.0.1", "localhost:8001"), ("::1", "localhost:8001")]


def test_http_localhost_without_a_port_uses_the_scheme_default() -> None:
    seen: list[tuple[str, int | None, str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.port, request.headers["host"]))
        return httpx.Response(200) if request.url.host == "127.0.0.1" else httpx.Response(404)

    result = probe_mock(handler, http_spec("http://LocalHost/"))
    assert (result.ok, result.address) == (True, "127.0.0.1:80")
    assert ("127.0.0.1", None, "localhost") in seen  # no ":80" added to the Host header


def test_http_localhost_both_refused_names_both_addresses() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise refused(request)

    result = probe_mock(handler, http_spec("http://localhost:8001/"))
    assert result.error == "connection refused on 127.0.0.1:8001 and [::1]:8001"
    assert result.address is None


def test_http_localhost_different_failures_are_each_named() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":
            raise refused(request)
        await hang_forever()
        raise AssertionError("unreachable")

    result = probe_mock(handler, http_spec("http://localhost:8001/", timeout=0.05))
    assert result.error == "connection refused on 127.0.0.1:8001; timed out after 0.05 s on [::1]:8001"


def test_http_localhost_an_answer_beats_a_refusal_in_the_error() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "::1":
            raise refused(request)
        return httpx.Response(503)

    result = probe_mock(handler, http_spec("http://localhost:8001/"))
    assert result.error == "HTTP 503 from 127.0.0.1:8001 (expected 200–399)"
    assert result.address == "127.0.0.1:8001"
    assert result.response_time_ms is not None


def test_http_localhost_first_success_wins_and_the_other_attempt_is_cancelled() -> None:
    cancelled: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":
            try:
                await hang_forever()
            except asyncio.CancelledError:
                cancelled.append(request.url.host)
                raise
        return httpx.Response(200)

    started = time.monotonic()
    result = probe_mock(handler, http_spec("http://localhost:8001/", timeout=30))
    assert (result.ok, result.address) == (True, "[::1]:8001")
    assert time.monotonic() - started < 10  # did not wait for the hanging IPv4 attempt
    assert cancelled == ["127.0.0.1"]


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


@needs_ipv6
def test_http_localhost_closed_port_names_both_families() -> None:
    port = closed_port()
    result = probe_real(http_spec(f"http://localhost:{port}/"))
    assert result == ProbeResult(
        ok=False,
        error=f"connection refused on 127.0.0.1:{port} and [::1]:{port}",
        response_time_ms=None,
        address=None,
    )


def test_http_closed_port_on_ipv4() -> None:
    port = closed_port()
    assert (
        probe_real(http_spec(f"http://127.0.0.1:{port}/")).error == f"connection refused on 127.0.0.1:{port}"
    )


def test_http_real_server_that_never_answers_times_out() -> None:
    with listening("127.0.0.1") as port:
        started = time.monotonic()
        result = probe_real(http_spec(f"http://127.0.0.1:{port}/", timeout=0.2))
    assert result.error == f"timed out after 0.2 s on 127.0.0.1:{port}"
    assert time.monotonic() - started < 5


def test_http_a_restarted_service_is_probed_on_a_fresh_connection() -> None:
    async def go() -> list[ProbeResult]:
        results = []
        async with make_http_client() as client:
            with serving() as first:
                port = first.port
                results.append(await probe_http(http_spec(f"http://127.0.0.1:{port}/"), client))
            # The same port, a new process: a pooled keep-alive connection would be stale.
            with serving(port=port) as second:
                results.append(await probe_http(http_spec(f"http://127.0.0.1:{port}/"), client))
                results.append(await probe_http(http_spec(f"http://127.0.0.1:{port}/"), client))
                assert len({client_port for _, _, client_port in second.seen}) == 2
        return results

    assert [r.ok for r in asyncio.run(go())] == [True, True, True]


def test_http_client_ignores_proxy_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
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


@pytest.mark.parametrize("target", ["5432", "::1:5432", "127.0.0.1:", "127.0.0.1:99999", "host:port", ""])
def test_tcp_an_invalid_target_is_a_failed_probe(target: str) -> None:
    result = asyncio.run(probe_tcp(tcp_spec(target)))
    assert not result.ok
    assert result.error == f"invalid tcp target {target!r}: expected host:port, e.g. 127.0.0.1:5432"


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
        wait_until(dead(pid), f"{name} ({pid}) to die")


def test_cmd_passes_promptly_when_it_leaves_a_background_process_holding_its_output(tmp_path: Path) -> None:
    script = "sleep 60 & echo $! > child.pid; echo ready"
    started = time.monotonic()
    result = asyncio.run(probe_cmd(cmd_spec(script, timeout=30), tmp_path, dict(os.environ)))
    assert (result.ok, result.error) == (True, None)
    assert time.monotonic() - started < 10
    pid = int((tmp_path / "child.pid").read_text())
    wait_until(dead(pid), "the background sleep to die")


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
    wait_until(dead(pid), "the cancelled probe's command to die")


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


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Started CoreApiApplication in 3.21 seconds (process running for 3.6)", True),
        (
            "2026-11-26T03:44:37.123Z  INFO 4242 --- [main] c.l.CoreApiApplication : "
            "Started CoreApiApplication in 12.5 seconds (process running for 13.1)\n",
            True,
        ),
        ("\x1b[32m2026-11-26\x1b[0m \x1b[1mStarted\x1b[0m CoreApiApplication in 3.21 seconds", True),
        ("Starting CoreApiApplication using Java 21", False),
        ("", False),
    ],
)
def test_log_probe_searches_each_line(line: str, expected: bool) -> None:
    assert LogProbe(r"Started \w+ in [0-9.]+ seconds").matches(line) is expected


def test_log_probe_ignores_the_line_end() -> None:
    probe = LogProbe(r"ready$")
    assert probe.matches("server ready\r\n")
    assert not probe.matches("ready? not yet")


def test_log_probe_is_case_sensitive_unless_the_regex_says_otherwise() -> None:
    assert not LogProbe("ready").matches("READY")
    assert LogProbe("(?i)ready").matches("READY")


# --------------------------------------------------------------------------- dispatch


def test_run_probe_dispatches_each_polled_kind(tmp_path: Path) -> None:
    async def go(port: int) -> list[ProbeResult]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond(200))) as client:
            return [
                await run_probe(http_spec(), client=client, cwd=tmp_path, env={}),
                await run_probe(tcp_spec(f"127.0.0.1:{port}"), client=client, cwd=tmp_path, env={}),
                await run_probe(cmd_spec("exit 4"), client=client, cwd=tmp_path, env={}),
            ]

    with listening("127.0.0.1") as port:
        http, tcp, cmd = asyncio.run(go(port))
    assert (http.ok, http.address) == (True, "127.0.0.1:8001")
    assert (tcp.ok, tcp.address) == (True, f"127.0.0.1:{port}")
    assert cmd.error == "exit code 4"


def test_run_probe_refuses_log_probes(tmp_path: Path) -> None:
    async def go() -> ProbeResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond(200))) as client:
            spec = HealthSpec(kind=ProbeKind.LOG, target="ready")
            return await run_probe(spec, client=client, cwd=tmp_path, env={})

    with pytest.raises(ValueError, match="not polled"):
        asyncio.run(go())


def test_tcp_first_refusal_reads_like_the_http_one() -> None:
    """While a service starts, an HTTP probe first only connects (cheap); its refusal reads the
    same as the HTTP probe's."""
    from devstack.health import LazyHttpClient

    port = closed_port()
    spec = http_spec(f"http://localhost:{port}/")

    async def both() -> tuple[ProbeResult, ProbeResult]:
        lazy = LazyHttpClient()
        try:
            gated = await run_probe(spec, client=lazy, cwd=Path("."), env={}, tcp_first=True)
            plain = await run_probe(spec, client=lazy, cwd=Path("."), env={})
        finally:
            await lazy.aclose()
        return gated, plain

    gated, plain = asyncio.run(both())
    assert not gated.ok and gated.error == plain.error
    assert gated.error is not None and gated.error.startswith("connection refused on 127.0.0.1")
