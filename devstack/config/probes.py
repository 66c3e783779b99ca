"""The `health` table of a service: exactly one probe kind with a valid target, and the keys
that go with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.config.tables import Problems, Table, as_table
from devstack.config.values import (
    expected,
    int_at_least,
    to_duration,
    to_expect_status,
    to_json_table,
    to_positive_duration,
    to_text,
)

HTTP_ONLY_KEYS = ("expect_status", "expect_json", "expect_text")


HEALTH_KEYS = (
    *(kind.value for kind in ProbeKind),
    *HTTP_ONLY_KEYS,
    "interval",
    "timeout",
    "retries",
    "start_period",
)


_HEALTH_DEFAULTS = HealthSpec(kind=ProbeKind.CMD, target="")


_TCP_BRACKETED = re.compile(r"^\[([^\]]+)\]:(\d+)$")


def _http_target(value: object) -> str:
    text = to_text(value)
    if not re.match(r"^https?://[^/\s]+", text, re.IGNORECASE):
        raise expected('a URL starting with "http://" or "https://"', value)
    return text


def _tcp_target(value: object) -> str:
    text = to_text(value).strip()
    match = _TCP_BRACKETED.match(text)
    host, _, port = (match.group(1), ":", match.group(2)) if match else text.rpartition(":")
    if not host or (":" in host and not match) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise expected('"host:port" like "127.0.0.1:5432" or "[::1]:5432"', value)
    return text


def _log_target(value: object) -> str:
    text = to_text(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise expected(f"a Python regular expression ({exc})", value) from None
    return text


_TARGETS: dict[ProbeKind, Callable[[object], str]] = {
    ProbeKind.HTTP: _http_target,
    ProbeKind.TCP: _tcp_target,
    ProbeKind.CMD: to_text,
    ProbeKind.LOG: _log_target,
}


def health_spec(problems: Problems, key: str, value: object) -> HealthSpec | None:
    data = as_table(problems, key, value, 'a table like { http = "http://localhost:8000/" }')
    if data is None:
        return None
    table = Table(problems, key, data, HEALTH_KEYS)
    # every target given is checked, even when there are two, so that no problem waits for a rerun
    targets = {kind: table.get(kind.value, _TARGETS[kind], "") for kind in ProbeKind if kind.value in data}
    single = len(targets) == 1
    if not single:
        got = " and ".join(targets) if targets else "none"
        problems.add(key, f"expected exactly one probe kind (http, tcp, cmd or log), got {got}")
    kind, target = next(iter(targets.items())) if single else (ProbeKind.CMD, "")
    if single and kind is not ProbeKind.HTTP:
        for name in HTTP_ONLY_KEYS:
            if name in data:
                problems.add(table.at(name), f"only allowed with an http probe, not {kind.value}")
    d = _HEALTH_DEFAULTS
    health = HealthSpec(
        kind=kind,
        target=target,
        expect_status=table.get("expect_status", to_expect_status, d.expect_status),
        expect_json=table.get("expect_json", to_json_table, d.expect_json),
        expect_text=table.get("expect_text", to_text, d.expect_text),
        interval=table.get("interval", to_positive_duration, d.interval),
        timeout=table.get("timeout", to_positive_duration, d.timeout),
        retries=table.get("retries", int_at_least(1), d.retries),
        start_period=table.get("start_period", to_duration, d.start_period),
    )
    table.sort_problems()
    return health if single else None
