"""CPU of one HTTP probe, as devstack's health.probe_http makes it (W2's probe variant).

    .venv/bin/python bench/probe_cost.py [--host 127.0.0.1|localhost] [--n 200]

Runs a local http.server on a thread and probes it n times with devstack's HTTP client; prints
the event loop thread's CPU per probe (the server's work is on another thread, not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import threading
import time

from devstack.health import make_http_client, probe_http
from devstack.specs import HealthSpec, ProbeKind


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


async def measure(host: str, n: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = HealthSpec(ProbeKind.HTTP, f"http://{host}:{server.server_address[1]}/")
    async with make_http_client() as client:
        await probe_http(spec, client)  # the first request loads httpcore's backends
        cpu, wall = time.thread_time(), time.perf_counter()
        for _ in range(n):
            result = await probe_http(spec, client)
            assert result.ok, result.error
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    server.shutdown()
    print(f"{host}: {cpu / n * 1000:.2f} ms CPU and {wall / n * 1000:.2f} ms wall per probe (n={n})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(measure(args.host, args.n))


if __name__ == "__main__":
    main()
