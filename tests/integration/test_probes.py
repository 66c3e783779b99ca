"""Each probe kind against real servers and real output."""

from __future__ import annotations

import itertools

from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port, needs_ipv6
from tests.support.waiting import wait_until

V6_SERVER = r'''
import http.server, socket, sys

class V6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "OK", "db": {"state": "up"}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

V6(("::1", int(sys.argv[1])), Handler).serve_forever()
'''


@needs_ipv6
def test_localhost_probe_reaches_an_ipv6_only_server(stack: Stack) -> None:
    port = free_port()
    stack.write("v6.py", V6_SERVER)
    stack.toml(f"""
[services.v6]
command = {q([PY, "v6.py", str(port)])}
health = {{ http = "http://localhost:{port}/", expect_json = {{ db = {{ state = "up" }} }} }}
""")
    assert stack.run("up", "-d").code == 0
    health = stack.service("v6")["health"]
    assert health["status"] == "OK" and health["address"] == f"[::1]:{port}", health


def test_expect_json_mismatch_never_becomes_healthy(stack: Stack) -> None:
    port = free_port()
    stack.write("v4.py", V6_SERVER.replace("AF_INET6", "AF_INET").replace('"::1"', '"127.0.0.1"'))
    stack.toml(f"""
[services.api]
command = {q([PY, "v4.py", str(port)])}
max_restarts = 1
health = {{ http = "http://127.0.0.1:{port}/", expect_json = {{ status = "READY" }}, start_period = "1s" }}
""")
    up = stack.run("up", "-d")
    assert up.code == 1
    api = stack.service("api")
    assert api["state"] == "failed"
    assert api["health"]["error"] == (
        f'health probe did not pass within 1.0 s: HTTP 200 from 127.0.0.1:{port} but the JSON body '
        'has status="OK", expected "READY"'), api


def test_log_probe_marks_running_when_the_line_appears(stack: Stack) -> None:
    stack.toml(f"""
[services.jvm]
command = {q([PY, "-c", "import time; print('booting', flush=True); time.sleep(0.3); "
                       "print('Started CoreApi in 0.3 seconds', flush=True); time.sleep(600)"])}
health = {{ log = "Started \\\\w+ in [0-9.]+ seconds" }}

[services.client]
command = {q([PY, "-c", "import time; time.sleep(600)"])}
depends_on = ["jvm"]
""")
    assert stack.run("up", "-d").code == 0
    data = stack.status()
    assert stack.service("jvm", data)["state"] == "running"
    assert stack.service("client", data)["state"] == "running"


def test_cmd_probe_runs_in_the_service_cwd(stack: Stack) -> None:
    (stack.root / "app").mkdir()
    stack.toml(f"""
[services.worker]
cwd = "app"
command = {q([PY, "-c", "import pathlib, time; time.sleep(0.3); pathlib.Path('ready').touch(); "
                       "time.sleep(600)"])}
health = {{ cmd = "test -f ready" }}
""")
    assert stack.run("up", "-d").code == 0
    assert stack.service("worker")["state"] == "healthy"


def test_tcp_probe(stack: Stack) -> None:
    port = free_port()
    stack.toml(f"""
[services.db]
command = {q([PY, "-c", f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); "
                       "s.listen(); time.sleep(600)"])}
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    assert stack.run("up", "-d").code == 0
    assert stack.service("db")["state"] == "healthy"


STAMPING_SERVER = r'''
import http.server, sys, time
time.sleep(float(sys.argv[3]))  # start out of phase with the other service

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as f:  # CLOCK_MONOTONIC: one clock for every process
            f.write(f"{time.monotonic()}\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def test_services_with_the_same_interval_are_probed_on_one_shared_tick(stack: Stack) -> None:
    """Once up, every service probed at an interval is probed at the same instants (multiples
    of the interval on the monotonic clock): one wake-up of the supervisor for all of them.
    The second service starts half a second after the first: on cadences of their own, their
    probes would stay half a second apart."""
    stack.write("stamping.py", STAMPING_SERVER)
    services = ""
    for name, delay in (("a", "0"), ("b", "0.5")):
        port = free_port()
        services += f"""
[services.{name}]
command = {q([PY, "stamping.py", str(port), str(stack.root / f"{name}.stamps"), delay])}
health = {{ http = "http://127.0.0.1:{port}/", interval = "1s" }}
"""
    stack.toml(services)
    assert stack.run("up", "-d").code == 0

    def stamps(name: str) -> list[float]:
        return [float(x) for x in (stack.root / f"{name}.stamps").read_text().split()]

    def steady(name: str) -> list[float]:
        got = stamps(name)
        return [t for t in got if t >= got[0] + 1.0]  # past the fast probes of the start

    wait_until(lambda: len(steady("a")) >= 5 and len(steady("b")) >= 4, 15, "steady probes of both")
    b = stamps("b")
    a = [t for t in steady("a") if t < b[-1] + 0.5][-3:]  # ticks b has had as well
    for when in a:
        assert min(abs(when - other) for other in b) < 0.05, (a, b)
        assert abs(when - round(when)) < 0.05, a  # on the tick: a whole second of the clock
    gaps = [later - earlier for earlier, later in itertools.pairwise(a)]
    assert all(0.9 < gap < 1.1 for gap in gaps), gaps
