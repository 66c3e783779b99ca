"""One-shot health probes: ask a service once whether it is ready, and say why not.

This module owns the four probe kinds of the SPEC (`http`, `tcp`, `cmd`, `log`) and
nothing around them: no loops, no intervals, no retries, no state. The service
lifecycle decides when to probe and what a run of results means; each call here is
one question with one answer, a `ProbeResult`.

A failed probe is a result, never an exception: refused connections, timeouts, bad
statuses, unexpected bodies and failing commands all come back as `ok=False` with a
one-line `error` written for the user. Only programming errors escape (and
`run_probe` refuses the `log` kind, which is fed output lines instead of polled).

Probes may run every few milliseconds while a service starts, so they stay cheap:
an HTTP probe is one GET on h11 (http_get.py, imported at the first HTTP probe),
literal addresses are never resolved, and `localhost` is dialled as 127.0.0.1 and ::1
directly, both at once, because a dev server bound to one family only is a classic
"it says it is running but I cannot reach it" failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import signal
import socket
import time
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.probes.addresses import is_ip_literal, show

if TYPE_CHECKING:  # imported where used: a stack without HTTP probes never loads h11
    from devstack.probes.http_get import Url

__all__ = [
    "LogProbe",
    "ProbeResult",
    "probe_cmd",
    "probe_http",
    "probe_tcp",
    "run_probe",
]

MAX_ERROR_CHARS = 200
# Enough of a body to judge a health endpoint; a `/` that streams forever must not
# make the probe buffer without bound.
MAX_BODY_BYTES = 1 << 20
# A cmd probe's output is only mined for its last line; keep a bounded tail.
MAX_CMD_OUTPUT_BYTES = 16 << 10

_LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")
_DEFAULT_PORTS = {"http": 80, "https": 443}  # as in http_get, which is not imported until needed

_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
    errno.EAFNOSUPPORT: "address family not supported",
    errno.EPIPE: "connection closed",
}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    error: str | None  # one line, for humans: why it failed (None when ok)
    # How long the attempt that is reported took; None when nothing answered
    # (refused, timed out, unresolvable), where a "response time" would be meaningless.
    response_time_ms: float | None
    # The address that answered, e.g. "127.0.0.1:8001" or "[::1]:8001"; None when none did.
    address: str | None


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Target:
    """Where a probe connects."""

    host: str
    port: int


def probe_target(health: HealthSpec) -> Target | None:
    """The host and port an http or tcp probe dials (None for cmd/log probes, or a bad target)."""
    if health.kind == ProbeKind.HTTP:
        from urllib.parse import urlsplit

        parts = urlsplit(health.target)
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
        except ValueError:  # a port out of range
            return None
        return Target(parts.hostname, port) if parts.hostname else None
    if health.kind == ProbeKind.TCP:
        host, _, port_text = health.target.rpartition(":")
        with contextlib.suppress(ValueError):
            return Target(host.strip("[]"), int(port_text))
    return None


@dataclass(frozen=True)
class _Attempt:
    """One connection attempt to one address, before attempts are merged into a result."""

    tried: str  # the address dialled, as "host:port" / "[v6]:port"
    ok: bool
    answered: bool  # the peer spoke (HTTP response, TCP accept); False for refused/timeouts
    detail: str  # answered: the full error line; not answered: a reason such as "connection refused"
    elapsed_ms: float | None = None
    peer: str | None = None  # where the answer really came from, when the stack can tell


def _one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _fail(error: str, *, elapsed_ms: float | None = None, address: str | None = None) -> ProbeResult:
    return ProbeResult(ok=False, error=_one_line(error), response_time_ms=elapsed_ms, address=address)


def _seconds(value: float) -> str:
    # "5.0 s", "0.25 s": the user wrote a duration; show it as seconds, briefly.
    return f"{float(round(value, 3))} s"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _walk_causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and the members of any exception group on the way."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(reversed(current.exceptions))
        for linked in (current.__context__, current.__cause__):
            if linked is not None:
                stack.append(linked)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if exc.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[exc.errno]
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def _connection_reason(exc: BaseException, timeout: float) -> str:
    """Why a connection attempt failed, in a few words, from whatever layer raised it.

    The OSError that knows the errno may sit a few `__cause__` links down, or in a group.
    """
    if isinstance(exc, TimeoutError):
        return f"timed out after {_seconds(timeout)}"
    for cause in _walk_causes(exc):
        if isinstance(cause, OSError) and (cause.errno is not None or isinstance(cause, socket.gaierror)):
            return _os_reason(cause)
    text = str(exc)
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _merge(attempts: Sequence[_Attempt]) -> ProbeResult:
    """Turn failed attempts (in the order they were dialled) into one failed result.

    A peer that answered wrongly is the news (it says what is listening); refusals on
    the other family would only hide it. When nothing answered, every address tried
    is named, folded into one phrase when the reasons agree.
    """
    answered = [a for a in attempts if a.answered]
    if answered:
        first = answered[0]
        return _fail(
            "; ".join(a.detail for a in answered),
            elapsed_ms=first.elapsed_ms,
            address=first.peer or first.tried,
        )
    reasons = {a.detail for a in attempts}
    if len(reasons) == 1:
        return _fail(f"{attempts[0].detail} on {' and '.join(a.tried for a in attempts)}")
    return _fail("; ".join(f"{a.detail} on {a.tried}" for a in attempts))


def _success(attempt: _Attempt) -> ProbeResult:
    return ProbeResult(
        ok=True, error=None, response_time_ms=attempt.elapsed_ms, address=attempt.peer or attempt.tried
    )


async def _first_success(attempts: Sequence[Awaitable[_Attempt]]) -> ProbeResult:
    """Run attempts concurrently; the first that passes wins and the others are cancelled."""
    if len(attempts) == 1:
        only = await attempts[0]
        return _success(only) if only.ok else _merge([only])
    tasks = [asyncio.ensure_future(a) for a in attempts]
    try:
        for next_done in asyncio.as_completed(tasks):
            attempt = await next_done
            if attempt.ok:
                return _success(attempt)
        return _merge([t.result() for t in tasks])
    finally:
        for task in tasks:
            task.cancel()
        # Cancelled attempts must finish unwinding (closing their sockets) before we return.
        await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- http


def _expected_status_text(health: HealthSpec) -> str:
    if health.expect_status is None:
        return "200–399"
    return ", ".join(str(code) for code in health.expect_status)


def _status_ok(health: HealthSpec, status: int) -> bool:
    if health.expect_status is None:
        return 200 <= status <= 399
    return status in health.expect_status


def _as_json(value: object) -> object:
    # Expected values come from frozen config: nested mappings may be read-only proxies.
    return dict(value) if isinstance(value, Mapping) else str(value)


def _render(value: object, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_as_json)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_equal(actual: object, expected: object) -> bool:
    """Equality as JSON sees it: true is not 1, lists and tuples are both arrays."""
    if isinstance(expected, Mapping):
        return (
            isinstance(actual, dict)
            and set(actual) == set(expected)
            and all(_json_equal(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_json_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and actual == expected
    return type(actual) is type(expected) and actual == expected


def _json_mismatch(actual: object, expected: Mapping[str, object], path: str = "") -> str | None:
    """None when `expected` is a subset of `actual`, else what the JSON body has instead.

    Objects match recursively as subsets; anything else (lists included) must be equal.
    """
    if not isinstance(actual, dict):
        if not path:
            return f"is {_render(actual)}, expected an object"
        return f"has {path}={_render(actual)}, expected an object"
    for key, want in expected.items():
        where = f"{path}.{key}" if path else key
        if key not in actual:
            return f"has no {where}, expected {_render(want)}"
        have = actual[key]
        if isinstance(want, Mapping):
            problem = _json_mismatch(have, want, where)
            if problem is not None:
                return problem
        elif not _json_equal(have, want):
            return f"has {where}={_render(have)}, expected {_render(want)}"
    return None


def _judge_body(health: HealthSpec, body: bytes, charset: str | None) -> str | None:
    """What is wrong with the body, as the tail of an error line; None when it passes."""
    if health.expect_json is not None:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return "the body is not JSON"
        problem = _json_mismatch(document, health.expect_json)
        if problem is not None:
            return f"the JSON body {problem}"
    if health.expect_text is not None:
        try:
            text = body.decode(charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know: judge it as UTF-8
            text = body.decode("utf-8", errors="replace")
        if health.expect_text not in text:
            return f"the body does not contain {_render_text(health.expect_text)}"
    return None


def _render_text(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:59] + "…"


async def _http_attempt(health: HealthSpec, url: Url, dial: str | None, tried: str) -> _Attempt:
    from devstack.probes import http_get

    read_body = health.expect_json is not None or health.expect_text is not None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(health.timeout):  # the whole attempt: connect, TLS, answer, body
            reply = await http_get.get(url, dial=dial, read_body=read_body, max_body=MAX_BODY_BYTES)
    except http_get.BadResponse as exc:
        return _Attempt(tried, False, False, f"no valid HTTP response ({exc})")
    except (TimeoutError, OSError) as exc:
        return _Attempt(tried, False, False, _connection_reason(exc, health.timeout))
    elapsed = _elapsed_ms(started)
    peer = show(*reply.peer) if reply.peer is not None else tried
    where = f"HTTP {reply.status} from {peer}"
    if not _status_ok(health, reply.status):
        detail = f"{where} (expected {_expected_status_text(health)})"
        return _Attempt(tried, False, True, detail, elapsed, peer)
    problem = _judge_body(health, reply.body, reply.charset) if read_body else None
    if problem is not None:
        return _Attempt(tried, False, True, f"{where} but {problem}", elapsed, peer)
    return _Attempt(tried, True, True, "", elapsed, peer)


async def probe_http(health: HealthSpec) -> ProbeResult:
    """GET `health.target` once; pass on an expected status and, where asked, body.

    A new connection each time, no redirects followed, no proxies, TLS unverified (see http_get).
    """
    from devstack.probes import http_get

    try:
        url = http_get.parse_url(health.target)
    except ValueError as exc:
        return _fail(f"invalid URL {health.target!r}: {exc}")
    if url.host != "localhost":
        return await _first_success([_http_attempt(health, url, None, show(url.host, url.port))])
    # Dial both loopback addresses ourselves, so that the answer says which family the
    # service listens on; the server still sees the Host (and TLS server name) it was configured for.
    return await _first_success(
        [_http_attempt(health, url, ip, show(ip, url.port)) for ip in _LOCALHOST_ADDRESSES]
    )


# --------------------------------------------------------------------------- tcp


_TCP_TARGET = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


def _parse_tcp_target(target: str) -> tuple[str, int] | None:
    match = _TCP_TARGET.match(target.strip())
    if match is None:
        return None
    port = int(match["port"])
    if not 0 < port < 65536:
        return None
    return match["v6"] or match["host"], port


async def _tcp_literal_attempt(host: str, port: int, timeout: float) -> _Attempt:
    tried = show(host, port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    started = time.perf_counter()
    try:
        # A bare non-blocking socket: no transport, no protocol, no resolver; this
        # runs every few ms while a database starts.
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return _Attempt(tried, False, False, _os_reason(exc))
    try:
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except (TimeoutError, OSError) as exc:
        return _Attempt(tried, False, False, _connection_reason(exc, timeout))
    finally:
        sock.close()
    return _Attempt(tried, True, True, "", _elapsed_ms(started), tried)


async def _tcp_named_attempt(host: str, port: int, timeout: float) -> _Attempt:
    tried = show(host, port)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, host, port)
    except (TimeoutError, OSError) as exc:
        return _Attempt(tried, False, False, _connection_reason(exc, timeout))
    peername = transport.get_extra_info("peername")
    transport.close()
    peer = show(str(peername[0]), int(peername[1])) if isinstance(peername, tuple) else tried
    return _Attempt(tried, True, True, "", _elapsed_ms(started), peer)


async def probe_tcp(health: HealthSpec) -> ProbeResult:
    """Pass when a TCP connection to `host:port` is accepted; it is closed at once."""
    parsed = _parse_tcp_target(health.target)
    if parsed is None:
        return _fail(f"invalid tcp target {health.target!r}: expected host:port, e.g. 127.0.0.1:5432")
    host, port = parsed
    if host.lower() == "localhost":
        return await _first_success(
            [_tcp_literal_attempt(ip, port, health.timeout) for ip in _LOCALHOST_ADDRESSES]
        )
    if is_ip_literal(host):
        return await _first_success([_tcp_literal_attempt(host, port, health.timeout)])
    return await _first_success([_tcp_named_attempt(host, port, health.timeout)])


# --------------------------------------------------------------------------- cmd


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


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


async def _open_output_pipe() -> tuple[int, asyncio.StreamReader, asyncio.ReadTransport]:
    """A pipe for the command's stdout and stderr whose reading end we own.

    With `stdout=PIPE` the pipe would belong to the subprocess transport, which stays
    open as long as anything the command started still holds the writing end; owning
    it lets the probe close it when it is done, whoever else holds it.
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


async def probe_cmd(health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
    """Run `health.target` through /bin/sh in `cwd` with exactly `env`; pass on exit 0."""
    write_fd, output, transport = await _open_output_pipe()
    started = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            health.target,
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
        return _fail(f"cannot run the command in {cwd}: {_os_reason(exc)}")
    except BaseException:
        transport.close()
        raise
    finally:
        os.close(write_fd)  # the child has its copy; ours would keep EOF from ever coming
    tail = _Tail(MAX_CMD_OUTPUT_BYTES)
    reader = asyncio.create_task(tail.pump(output))
    code: int | None = None
    elapsed: float | None = None
    try:
        async with asyncio.timeout(health.timeout):
            code = await proc.wait()
            elapsed = _elapsed_ms(started)
            if not reader.done():
                # The shell is gone but something it started still holds the output
                # pipe (`server &`): a probe must leave nothing behind, so end its group.
                _kill_group(proc.pid)
                await asyncio.wait([reader])
    except TimeoutError:
        if code is None:
            return _fail(f"timed out after {_seconds(health.timeout)}")
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
    assert code is not None  # every path without an exit code has returned
    if code == 0:
        return ProbeResult(ok=True, error=None, response_time_ms=elapsed, address=None)
    last = tail.last_line()
    return _fail(f"{_exit_text(code)}: {last}" if last else _exit_text(code), elapsed_ms=elapsed)


# --------------------------------------------------------------------------- log

# Colour codes (CSI sequences) and other escapes that services print when they think
# they talk to a terminal; a user's regex is written against the text they see.
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class LogProbe:
    """Readiness from output: a line of the service's output matches a regex.

    Not polled: the lifecycle feeds it each output line. The regex is searched for
    anywhere in the line (like grep), after colour codes and the line end are removed.
    An invalid regex raises `re.error` here; configuration loading should have
    reported it first.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def matches(self, line: str) -> bool:
        plain = _ANSI_ESCAPE.sub("", line.rstrip("\r\n"))
        return self._regex.search(plain) is not None

    def __repr__(self) -> str:
        return f"LogProbe({self.pattern!r})"


# --------------------------------------------------------------------------- dispatch


async def run_probe(health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
    """Run one polled probe of whatever kind `health` is; `log` probes are not polled.

    `cwd` and `env` are for `cmd` probes. (An HTTP probe of a port that refuses costs what a
    tcp probe does, ~0.1 ms of CPU: there is no cheaper question to ask first.)"""
    if health.kind is ProbeKind.HTTP:
        return await probe_http(health)
    if health.kind is ProbeKind.TCP:
        return await probe_tcp(health)
    if health.kind is ProbeKind.CMD:
        return await probe_cmd(health, cwd, env)
    raise ValueError(f"a {health.kind} probe is not polled: feed output lines to LogProbe instead")
