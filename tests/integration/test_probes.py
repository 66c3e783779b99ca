"""Each probe kind against real servers and real output."""

from __future__ import annotations

import pytest
from harness import PY, Stack, can_bind_ipv6, free_port, q

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


@pytest.mark.skipif(not can_bind_ipv6(), reason="this machine cannot bind ::1")
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
