"""W6 ready detection: how soon after a service starts answering devstack marks it healthy.

The service listens 2 s after it starts and records that instant (time.time() right after
bind + listen, before serving); the figure is the timestamp of devstack's own "<svc> is healthy"
event (.devstack/logs/devstack.log) minus that instant. With an HTTP probe and with a TCP probe,
alternating, 3 times each per repetition (once with --quick). devstack only: honcho,
supervisord and concurrently have no health probes.
"""

from __future__ import annotations

import json

from common import PY, Bench, devstack
from kit import bench_env, event_time, free_port, reap

WORKLOAD = "W6"
TITLE = "ready detection"

TARGET = "≤ 20 ms"

SERVICE = r'''
import http.server, socket, sys, time
kind, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
time.sleep(2.0)


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


if kind == "tcp":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    listening = time.time()
    open(out, "w").write(repr(listening))
    while True:
        s.accept()[0].close()
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Ok)  # binds and listens
listening = time.time()
open(out, "w").write(repr(listening))
srv.serve_forever()
'''


def run(bench: Bench) -> None:
    bench.note("W6: devstack only; honcho, supervisord and concurrently have no health probes.")
    samples = 1 if bench.quick else 3  # per probe kind and repetition; each takes ~3 s
    for _ in bench.reps():
        for _ in range(samples):
            for kind in ("http", "tcp"):
                bench.add(WORKLOAD, f"listening → healthy event ({kind} probe)", "devstack",
                          _ready_ms(bench, kind), "ms", TARGET)


def _ready_ms(bench: Bench, kind: str) -> float:
    root = bench.workdir(f"w6-{kind}")
    port = free_port()
    (root / "service.py").write_text(SERVICE)
    probe = f'{{ tcp = "127.0.0.1:{port}" }}' if kind == "tcp" else f'{{ http = "http://127.0.0.1:{port}/" }}'
    command = json.dumps([PY, str(root / "service.py"), kind, str(port), str(root / "listening.txt")])
    (root / "stack.toml").write_text(
        f"[services.svc]\ncommand = {command}\nport = {port}\nhealth = {probe}\n")
    try:
        up = devstack(root, "up", "-d", timeout=60, env=bench_env())
        if up.returncode != 0:
            raise RuntimeError(f"devstack up -d: {up.returncode} {up.stdout}{up.stderr}")
        listening = float((root / "listening.txt").read_text())
        return (event_time(root, "svc is healthy") - listening) * 1000
    finally:
        devstack(root, "down")
        reap(bench, root, f"W6 devstack ({kind})")
