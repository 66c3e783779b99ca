"""The `http` probe: one GET (http_get.py, imported at the first HTTP probe), passing on an
expected status and, where asked, a JSON subset or a text in the body. `localhost` is dialled as
127.0.0.1 and ::1 directly, both at once, so that the answer says which family listens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from devstack.config.specs import HealthSpec
from devstack.probes.addresses import show
from devstack.probes.result import Attempt, ProbeResult, connection_reason, elapsed_ms, fail, first_success
from devstack.probes.target import LOCALHOST_ADDRESSES

if TYPE_CHECKING:  # imported where used: a stack without HTTP probes never loads h11
    from devstack.probes.http_get import Url


# Enough of a body to judge a health endpoint; a `/` that streams forever must not
# make the probe buffer without bound.
MAX_BODY_BYTES = 1 << 20


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


async def _http_attempt(health: HealthSpec, url: Url, dial: str | None, tried: str) -> Attempt:
    from devstack.probes import http_get

    read_body = health.expect_json is not None or health.expect_text is not None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(health.timeout):  # the whole attempt: connect, TLS, answer, body
            reply = await http_get.get(url, dial=dial, read_body=read_body, max_body=MAX_BODY_BYTES)
    except http_get.BadResponse as exc:
        return Attempt(tried, False, False, f"no valid HTTP response ({exc})")
    except (TimeoutError, OSError) as exc:
        return Attempt(tried, False, False, connection_reason(exc, health.timeout))
    elapsed = elapsed_ms(started)
    peer = show(*reply.peer) if reply.peer is not None else tried
    where = f"HTTP {reply.status} from {peer}"
    if not _status_ok(health, reply.status):
        detail = f"{where} (expected {_expected_status_text(health)})"
        return Attempt(tried, False, True, detail, elapsed, peer)
    problem = _judge_body(health, reply.body, reply.charset) if read_body else None
    if problem is not None:
        return Attempt(tried, False, True, f"{where} but {problem}", elapsed, peer)
    return Attempt(tried, True, True, "", elapsed, peer)


async def probe_http(health: HealthSpec) -> ProbeResult:
    """GET `health.target` once; pass on an expected status and, where asked, body.

    A new connection each time, no redirects followed, no proxies, TLS unverified (see http_get).
    """
    from devstack.probes import http_get

    try:
        url = http_get.parse_url(health.target)
    except ValueError as exc:
        return fail(f"invalid URL {health.target!r}: {exc}")
    if url.host != "localhost":
        return await first_success([_http_attempt(health, url, None, show(url.host, url.port))])
    # Dial both loopback addresses ourselves, so that the answer says which family the
    # service listens on; the server still sees the Host (and TLS server name) it was configured for.
    return await first_success(
        [_http_attempt(health, url, ip, show(ip, url.port)) for ip in LOCALHOST_ADDRESSES]
    )
