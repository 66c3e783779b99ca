"""Programs the tests run as services: small servers written into the stack folder and started
by devstack. Each is plain Python source (a string), standard library only. The fault suite's
programs append their own account of what they did to a side log (SIDE): the ground truth the
tests judge devstack by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.harness import PY, q

# A JSON health endpoint on 127.0.0.1:PORT answering {"status": "OK"}, after an optional delay.
# argv: PORT [DELAY]
HTTP_SERVER = r'''
import http.server, sys, time
port = int(sys.argv[1])
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
time.sleep(delay)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "OK"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"serving on {port}", flush=True)
server.serve_forever()
'''

# The start of every fault-suite program: side() appends
# "<name> <event> <pid> <monotonic_ns> <wall_ns> [detail]" to the side log at `path`
# (ground_truth.side_events reads it back).
SIDE = r'''
import os, sys, time
def side(path, name, event, detail=""):
    with open(path, "a") as f:
        f.write(f"{name} {event} {os.getpid()} {time.monotonic_ns()} {time.time_ns()} {detail}\n")
'''

# An HTTP health endpoint whose answer is its mode (argv, or the mode file when it holds one):
# ok, 500, 503 (both with an OK body: the code must win), html, wrongjson, badjson, huge (10 MiB),
# redirect, hang (accepts, never answers), slowloris (a header byte every 50 ms), alternate
# (ok, 503, ok, …) and random:SEED (503 with p=0.5, seeded). Logs each request and its answer.
# argv: NAME PORT SIDE_LOG MODE [MODE_FILE]
HEALTH = SIDE + r'''
import http.server, random, threading
name, port, side_log, fixed = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
mode_file = sys.argv[5] if len(sys.argv) > 5 else ""
OK = b'{"status": "OK"}'
CHUNK = b"<p>" + b"x" * 65532 + b"\n"
lock = threading.Lock()
served = [0]
rng = random.Random(int(fixed.split(":", 1)[1])) if fixed.startswith("random:") else None

def mode():
    if mode_file:
        try:
            with open(mode_file) as f:
                text = f.read().strip()
            if text:
                return text
        except OSError:
            pass
    return fixed

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def hold(self, slow):
        side(side_log, name, "hang")
        try:
            if slow:
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                while True:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            while self.connection.recv(4096):
                pass
        except OSError:
            pass
        side(side_log, name, "closed")
        self.close_connection = True

    def do_GET(self):
        m = mode()
        with lock:
            served[0] += 1
            if m == "alternate":
                m = "ok" if served[0] % 2 else "503"
            elif m.startswith("random:"):
                m = "ok" if rng.random() >= 0.5 else "503"
        side(side_log, name, "req", m)
        if m == "ok":
            self.reply(200, OK)
        elif m in ("500", "503"):
            self.reply(int(m), OK)
        elif m == "html":
            self.reply(200, b"<html><body><h1>Whitelabel Error Page</h1></body></html>", "text/html")
        elif m == "wrongjson":
            self.reply(200, b'{"status": "DOWN"}')
        elif m == "badjson":
            self.reply(200, b'{"status": "OK"')
        elif m == "redirect":
            self.reply(302, b"<html>moved</html>", "text/html", [("Location", "/login")])
        elif m == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(160 * len(CHUNK)))
            self.end_headers()
            try:
                for _ in range(160):
                    self.wfile.write(CHUNK)
            except OSError:
                pass
        elif m in ("hang", "slowloris"):
            self.hold(m == "slowloris")
        else:
            self.reply(400, b"unknown mode")

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass

server = Server(("127.0.0.1", port), Handler)
side(side_log, name, "start", os.getcwd())
print(f"{name} serving on {port} ({fixed})", flush=True)
server.serve_forever()
'''

# A process with a lifecycle: run (forever), zero (exit 0 after S s), segv (SIGSEGV after S s),
# flag:PATH (exit 1 after S s while PATH exists, else run). SIGTERM: logs it and exits 0.
# argv: NAME SIDE_LOG HOW S
LIFE = SIDE + r'''
import resource, signal
name, side_log, how, after = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
side(side_log, name, "start", os.getcwd())
print(f"{name} started ({how})", flush=True)

def on_term(*_):
    side(side_log, name, "exit", "0 on SIGTERM")
    os._exit(0)

signal.signal(signal.SIGTERM, on_term)
if how.startswith("flag:"):
    how = "one" if os.path.exists(how[5:]) else "run"
if how == "run":
    while True:
        time.sleep(1)
time.sleep(after)
if how == "zero":
    side(side_log, name, "exit", "0")
    print(f"{name}: work done, exiting 0", flush=True)
    os._exit(0)
if how == "one":
    side(side_log, name, "exit", "1")
    print(f"{name}: cannot start while the flag file exists", flush=True)
    os._exit(1)
if how == "segv":
    side(side_log, name, "exit", "SIGSEGV")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(5)
'''

# A TCP server that answers every request `HTTP/1.0 200` with its name as the body, bound as
# `v4` (127.0.0.1), `v6` (::1, IPV6_V6ONLY) or `dual` (::, both families), after DELAY s;
# it closes its listener (and goes on running) once the file CLOSE_WHEN exists.
# argv: NAME PORT v4|v6|dual SIDE_LOG [DELAY [CLOSE_WHEN]]
SERVE = SIDE + r'''
import socket, sys, threading
name, port, bind, side_log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
close_when = sys.argv[6] if len(sys.argv) > 6 else ""
side(side_log, name, "start")
time.sleep(delay)
if bind == "v4":
    s = socket.socket(socket.AF_INET)
    address = ("127.0.0.1", port)
else:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if bind == "v6" else 0)
    address = ("::1" if bind == "v6" else "::", port)
s.bind(address)
s.listen(64)
side(side_log, name, "bind", bind)

def serve():
    while True:
        try:
            conn, _ = s.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(4096)
                body = name.encode()
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass

threading.Thread(target=serve, daemon=True).start()
while True:
    if close_when and os.path.exists(close_when):
        s.shutdown(socket.SHUT_RDWR)
        s.close()
        side(side_log, name, "closed")
        close_when = ""
    time.sleep(0.01)
'''


def http_service(name: str, port: int, side: Path, mode: str, mode_file: Path | None = None,
                 extra: str = "", **probe: Any) -> str:
    """A HEALTH service probed at http://127.0.0.1:PORT/ expecting {"status": "OK"}."""
    argv = [PY, "health.py", name, str(port), str(side), mode] + ([str(mode_file)] if mode_file else [])
    keys = [f'http = "http://127.0.0.1:{port}/"', 'expect_json = { status = "OK" }']
    keys += [f"{key} = {q(value)}" for key, value in probe.items()]
    return f"""
[services.{name}]
command = {q(argv)}
health = {{ {", ".join(keys)} }}
{extra}
"""


def life_service(name: str, side: Path, how: str = "run", after: float = 0.0, extra: str = "") -> str:
    return f"""
[services.{name}]
command = {q([PY, "life.py", name, str(side), how, str(after)])}
{extra}
"""
