"""One-shot probes that need no socket: target and URL parsing, a name that does not resolve (with
the event loop's resolver faked), the log matcher, and dispatch. The probes against real servers,
listeners and shells are tests/integration/test_health.py.

No pytest-asyncio: each test drives its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.probes import http_get
from devstack.probes.log import LogProbe
from devstack.probes.run import run_probe
from devstack.probes.tcp import probe_tcp
from tests.support.probing import http_spec, probe_real, tcp_spec


@pytest.mark.parametrize(
    "target", ["not a url", "ftp://127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/", "http://[::1/"]
)
def test_http_an_invalid_url_is_a_failed_probe_not_an_exception(target: str) -> None:
    result = probe_real(http_spec(target))
    assert not result.ok and result.address is None
    assert result.error is not None and result.error.startswith(f"invalid URL {target!r}: ")


def test_http_a_name_that_does_not_resolve(resolver: list[str]) -> None:
    result = probe_real(http_spec("http://nowhere.test:8001/"))
    assert result.error == "cannot resolve the host name on nowhere.test:8001"


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "authority"),
    [
        ("http://LocalHost/", "localhost", 80, "/", "localhost"),  # no ":80" in the Host header
        ("http://localhost:80/x", "localhost", 80, "/x", "localhost"),
        ("https://localhost/", "localhost", 443, "/", "localhost"),
        ("https://localhost:8443", "localhost", 8443, "/", "localhost:8443"),
        ("http://[::1]:8001/health#frag", "::1", 8001, "/health", "[::1]:8001"),
        ("http://127.0.0.1:8001/a b/é?q=1 2", "127.0.0.1", 8001, "/a%20b/%C3%A9?q=1%202", "127.0.0.1:8001"),
        ("http://127.0.0.1:8001/a%2Fb?x=%41", "127.0.0.1", 8001, "/a%2Fb?x=%41", "127.0.0.1:8001"),
        ("HTTP://Bücher.example:81/", "xn--bcher-kva.example", 81, "/", "xn--bcher-kva.example:81"),
    ],
)
def test_http_urls_are_read_as_the_standard_library_reads_them(
    url: str, host: str, port: int, target: str, authority: str
) -> None:
    parsed = http_get.parse_url(url)
    assert (parsed.host, parsed.port, parsed.target, parsed.authority) == (host, port, target, authority)


@pytest.mark.parametrize("target", ["5432", "::1:5432", "127.0.0.1:", "127.0.0.1:99999", "host:port", ""])
def test_tcp_an_invalid_target_is_a_failed_probe(target: str) -> None:
    result = asyncio.run(probe_tcp(tcp_spec(target)))
    assert not result.ok
    assert result.error == f"invalid tcp target {target!r}: expected host:port, e.g. 127.0.0.1:5432"


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


def test_run_probe_refuses_log_probes(tmp_path: Path) -> None:
    spec = HealthSpec(kind=ProbeKind.LOG, target="ready")
    with pytest.raises(ValueError, match="not polled"):
        asyncio.run(run_probe(spec, tmp_path, {}))

