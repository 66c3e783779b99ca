"""Ready-detection and restart latency of devstack, measured from the services' own timestamps.

    python bench/latency.py [--runs 5]

ready: a service starts listening 2 s after it starts and records that instant; the figure is the
time until devstack's own event line says it is healthy (its timestamp in .devstack/logs/devstack.log).
restart: a service that exits 1 after 0.2 s with backoff = 0 records its exit and start instants;
the figure is exit → next start, over its first 10 restarts.
(The full side-by-side benchmark against honcho and supervisord is bench/ work of issue 6.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

PY = sys.executable

READY = r'''
import socket, sys, time, http.server
kind, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
time.sleep(2.0)
if kind == "tcp":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(16)
    open(out, "w").write(repr(time.time()))
    while True:
        s.accept()[0].close()
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
open(out, "w").write(repr(time.time()))
srv.serve_forever()
'''

CRASH = r'''
import sys, time
with open("starts.txt", "a") as f:
    f.write(f"start {time.time()!r}\n")
time.sleep(0.2)
with open("starts.txt", "a") as f:
    f.write(f"exit {time.time()!r}\n")
sys.exit(1)
'''


def devstack(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "devstack", *args], cwd=root, capture_output=True, text=True,
                          timeout=120)


def event_time(root: Path, text: str) -> float:
    for line in (root / ".devstack" / "logs" / "devstack.log").read_text().splitlines():
        if text in line:
            return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00")).timestamp()
    raise RuntimeError(f"no event {text!r}")


def ready_delay(kind: str, port: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ready.py").write_text(READY)
        probe = (f'{{ tcp = "127.0.0.1:{port}" }}' if kind == "tcp"
                 else f'{{ http = "http://127.0.0.1:{port}/" }}')
        (root / "stack.toml").write_text(
            f"[services.svc]\ncommand = {json.dumps([PY, 'ready.py', kind, str(port), 'ready.txt'])}\n"
            f"health = {probe}\n")
        try:
            devstack(root, "up", "-d")
            listened = float((root / "ready.txt").read_text())
            return event_time(root, "svc is healthy") - listened
        finally:
            devstack(root, "down")


def restart_gaps() -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "crash.py").write_text(CRASH)
        (root / "stack.toml").write_text(
            f'[services.crash]\ncommand = {json.dumps([PY, "crash.py"])}\nbackoff = 0\nmax_restarts = 11\n')
        try:
            devstack(root, "up", "-d")
            deadline = time.monotonic() + 60
            while (root / "starts.txt").read_text().count("start") < 11 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            devstack(root, "down")
        events = [line.split() for line in (root / "starts.txt").read_text().splitlines()]
        gaps = []
        for (kind_a, t_a), (kind_b, t_b) in itertools.pairwise(events):
            if kind_a == "exit" and kind_b == "start":
                gaps.append(float(t_b) - float(t_a))
        return gaps[:10]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    http = [ready_delay("http", 47811) * 1000 for _ in range(runs)]
    tcp = [ready_delay("tcp", 47812) * 1000 for _ in range(runs)]
    gaps = [g * 1000 for _ in range(max(1, runs // 2)) for g in restart_gaps()]
    for name, values in (("ready http", http), ("ready tcp", tcp), ("restart exit->start", gaps)):
        print(f"{name:22s} median {statistics.median(values):7.1f} ms  "
              f"[{min(values):.1f}–{max(values):.1f}]  n={len(values)}")


if __name__ == "__main__":
    main()
