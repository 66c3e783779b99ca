"""A probe's answer, `ProbeResult`, and how the attempts behind it (one per address dialled)
become one: the first success wins; failures merge into one line that names what answered
wrongly, or every address tried. A failed probe is a result, never an exception.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass

from devstack.text.lines import one_line

MAX_ERROR_CHARS = 200


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


@dataclass(frozen=True)
class Attempt:
    """One connection attempt to one address, before attempts are merged into a result."""

    tried: str  # the address dialled, as "host:port" / "[v6]:port"
    ok: bool
    answered: bool  # the peer spoke (HTTP response, TCP accept); False for refused/timeouts
    detail: str  # answered: the full error line; not answered: a reason such as "connection refused"
    elapsed_ms: float | None = None
    peer: str | None = None  # where the answer really came from, when the stack can tell


def fail(error: str, *, elapsed_ms: float | None = None, address: str | None = None) -> ProbeResult:
    return ProbeResult(ok=False, error=one_line(error, MAX_ERROR_CHARS), response_time_ms=elapsed_ms,
                       address=address)


def seconds(value: float) -> str:
    # "5.0 s", "0.25 s": the user wrote a duration; show it as seconds, briefly.
    return f"{float(round(value, 3))} s"


def elapsed_ms(started: float) -> float:
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


def os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if exc.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[exc.errno]
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def connection_reason(exc: BaseException, timeout: float) -> str:
    """Why a connection attempt failed, in a few words, from whatever layer raised it.

    The OSError that knows the errno may sit a few `__cause__` links down, or in a group.
    """
    if isinstance(exc, TimeoutError):
        return f"timed out after {seconds(timeout)}"
    for cause in _walk_causes(exc):
        if isinstance(cause, OSError) and (cause.errno is not None or isinstance(cause, socket.gaierror)):
            return os_reason(cause)
    text = str(exc)
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _merge(attempts: Sequence[Attempt]) -> ProbeResult:
    """Turn failed attempts (in the order they were dialled) into one failed result.

    A peer that answered wrongly is the news (it says what is listening); refusals on
    the other family would only hide it. When nothing answered, every address tried
    is named, folded into one phrase when the reasons agree.
    """
    answered = [a for a in attempts if a.answered]
    if answered:
        first = answered[0]
        return fail(
            "; ".join(a.detail for a in answered),
            elapsed_ms=first.elapsed_ms,
            address=first.peer or first.tried,
        )
    reasons = {a.detail for a in attempts}
    if len(reasons) == 1:
        return fail(f"{attempts[0].detail} on {' and '.join(a.tried for a in attempts)}")
    return fail("; ".join(f"{a.detail} on {a.tried}" for a in attempts))


def _success(attempt: Attempt) -> ProbeResult:
    return ProbeResult(
        ok=True, error=None, response_time_ms=attempt.elapsed_ms, address=attempt.peer or attempt.tried
    )


async def first_success(attempts: Sequence[Awaitable[Attempt]]) -> ProbeResult:
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
