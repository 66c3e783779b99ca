"""CPU of one HTTP probe, as devstack's probes.http.probe_http makes it (W2's probe variant).

    .venv/bin/python bench/probe_cost.py [--host 127.0.0.1|localhost] [--n 200]

Runs a local http.server on a thread and probes it n times; prints the event loop thread's CPU
per probe (the server's work is on another thread, not counted). Then the same for a port that
refuses: an HTTP probe against a tcp probe (a bare connect), the question a starting service is
asked every few ms. Where httpx is installed (devstack used it before its own h11 client), the
same GET through httpx, configured as devstack's client was, is measured for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import socket
import threading
import time
from collections.abc import Awaitable, Callable

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.probes.http import probe_http
from devstack.probes.tcp import probe_tcp


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def cpu_per_call(call: Callable[[], Awaitable[bool]], n: int) -> tuple[float, float]:
    """(ms of this thread's CPU, ms of wall time) per call; the first call (imports) is not counted."""
    assert await call()
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(n):
        assert await call()
    return (time.thread_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000


async def httpx_figure(url: str, n: int) -> tuple[float, float] | None:
    try:
        import httpx
    except ImportError:
        return None
    async with httpx.AsyncClient(  # as devstack's make_http_client made it, up to 0562102
        trust_env=False, follow_redirects=False, verify=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        headers={"User-Agent": "devstack-probe", "Connection": "close"},
    ) as client:
        async def get() -> bool:
            response = await client.send(client.build_request("GET", url, timeout=5.0), stream=True)
            await response.aclose()
            return 200 <= response.status_code <= 399

        return await cpu_per_call(get, n)


async def measure(host: str, n: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{host}:{server.server_address[1]}/"
    spec = HealthSpec(ProbeKind.HTTP, url)

    async def probe() -> bool:
        result = await probe_http(spec)
        assert result.ok, result.error
        return True

    cpu, wall = await cpu_per_call(probe, n)
    print(f"{host}: {cpu:.2f} ms CPU and {wall:.2f} ms wall per probe (h11, n={n})")
    old = await httpx_figure(url, n) if host == "127.0.0.1" else None
    if old is not None:
        print(f"{host}: {old[0]:.2f} ms CPU and {old[1]:.2f} ms wall per GET through httpx as before (n={n})")
    server.shutdown()

    port = closed_port()
    refused_http = HealthSpec(ProbeKind.HTTP, f"http://{host}:{port}/")
    refused_tcp = HealthSpec(ProbeKind.TCP, f"{host}:{port}")

    async def http_refused() -> bool:
        return not (await probe_http(refused_http)).ok

    async def tcp_refused() -> bool:
        return not (await probe_tcp(refused_tcp)).ok

    http_cpu, _ = await cpu_per_call(http_refused, n * 5)
    tcp_cpu, _ = await cpu_per_call(tcp_refused, n * 5)
    print(f"{host}, refused: {http_cpu:.3f} ms CPU per HTTP probe, {tcp_cpu:.3f} ms per tcp probe "
          f"(n={n * 5})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(measure(args.host, args.n))


if __name__ == "__main__":
    main()
