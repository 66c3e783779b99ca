"""W2 idle: what a supervisor costs while nothing happens.

10 services each `sleep 100000` under each tool. Once all 10 sleeps run under the tool (counted
from /proc) and a settling pause has passed, the supervising process's CPU time is measured
over a window (30 s; 5 s with --quick, scaled to 30 s) and its RSS at the end of it.

CPU time comes from /proc/PID/task/*/schedstat (nanoseconds), not from the 10 ms ticks of
/proc/PID/stat: a target of 0.010 s per 30 s is a single tick. If threads came and went during
the window (whose time schedstat of the live threads would miss), the tick count is used instead.

Second variant, devstack only (the peers have no health probes): the same 10 services as tiny
HTTP servers (`python -m http.server`), each with an HTTP probe every 2 s; the window starts once
`devstack status` says every service is healthy, and lasts a whole number of probe rounds.
Then, with the same servers still up, a yardstick: "bare prober", the least a Python process
spends on the same GETs (BARE_PROBER: `python -I -S`, blocking sockets, the status line read and
the connection closed, every 2 s), measured over a window of its own: what the kernel's loopback
TCP and the least Python cost, so that what devstack spends beyond it is its own.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import fleet
from common import PY, Bench, cpu_seconds, devstack, rss_mb, stop_tree
from fleet import DEVSTACK

WORKLOAD = "W2"
TITLE = "idle cost"

SERVICES = 10
SETTLE = 3.0  # s after every service runs, before the window opens

BARE_PROBER = r'''
import socket, sys, time
ports = [int(p) for p in sys.argv[1:]]
request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
next_round = time.monotonic()
while True:
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            if not sock.recv(65536).startswith(b"HTTP/1."):
                sys.exit(f"port {port}: not an HTTP answer")
    next_round += 2.0
    time.sleep(max(0.0, next_round - time.monotonic()))
'''


def run(bench: Bench) -> None:
    window = 5.0 if bench.quick else 30.0
    tools = [DEVSTACK, *fleet.peers_available(bench, WORKLOAD)]
    bench.note(f"W2: {SERVICES} × `sleep 100000`; CPU of the supervising process (devstack: its foreground "
               f"`up` process; concurrently: node) over a {window:g} s window"
               f"{', scaled to 30 s' if window != 30 else ''}, opened {SETTLE:g} s after all {SERVICES} "
               "sleeps ran; RSS at the end of the window. No floor: a supervisor that does nothing costs 0. "
               "The probe variant is devstack only: honcho, supervisord and concurrently have no health "
               "probes.")
    failures = fleet.Failures(bench, WORKLOAD)
    for rep in bench.reps():
        for tool in tools:
            with failures.guard(tool, rep):
                idle(bench, tool, window)
        with failures.guard("devstack with probes", rep):
            probed(bench, window)
    failures.check()


def idle(bench: Bench, tool: str, window: float) -> None:
    workdir = bench.workdir(f"w2-{tool}")
    services = {f"s{i:02d}": ["sleep", "100000"] for i in range(SERVICES)}
    tree = fleet.Tree()
    proc = fleet.launch(bench, tool, workdir, services, workdir / "stdout.txt")
    try:
        tree.root = proc.pid
        fleet.wait_count(tree, "sleep", SERVICES, 60, proc, interval=0.05)
        time.sleep(SETTLE)
        cpu, rss = _window(bench, tool, proc.pid, window)
    finally:
        fleet.stop(tool, proc, workdir)
        fleet.sweep(bench, workdir, f"W2 {tool}")
    target = tool == DEVSTACK
    bench.add(WORKLOAD, "CPU per 30 s idle", tool, cpu, "s", "≤ 0.010 s" if target else "")
    bench.add(WORKLOAD, "RSS", tool, rss, "MB", "≤ 30 MB" if target else "")


def probed(bench: Bench, window: float) -> None:
    workdir = bench.workdir("w2-devstack-probes")
    ports = _free_ports(SERVICES)
    services = {f"h{i:02d}": [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
                for i, port in enumerate(ports)}
    extra = {name: f'health = {{ http = "http://127.0.0.1:{port}/", interval = "2s" }}'
             for name, port in zip(services, ports, strict=True)}
    proc = fleet.launch(bench, DEVSTACK, workdir, services, workdir / "stdout.txt", stack_extra=extra)
    try:
        _wait_healthy(workdir, proc, 60)
        time.sleep(SETTLE)
        # A whole number of probe rounds (2 s): with --quick 6 s rather than 5 s.
        rounds = 2.0 * math.ceil(window / 2.0)
        cpu, rss = _window(bench, "devstack with probes", proc.pid, rounds)
        prober_script = workdir / "bare_prober.py"
        prober_script.write_text(BARE_PROBER)
        prober = fleet.spawn([PY, "-I", "-S", str(prober_script), *map(str, ports)], workdir,
                             workdir / "prober.txt")
        try:
            time.sleep(SETTLE)
            bare, _ = _window(bench, "bare prober", prober.pid, rounds)
            if prober.poll() is not None:
                raise RuntimeError(f"the bare prober exited: {(workdir / 'prober.txt').read_text()}")
        finally:
            stop_tree(prober, sig=signal.SIGTERM)
    finally:
        fleet.stop(DEVSTACK, proc, workdir)
        fleet.sweep(bench, workdir, "W2 devstack with probes")
    bench.add(WORKLOAD, "CPU per 30 s idle, 10 HTTP probes every 2 s", DEVSTACK, cpu, "s", "≤ 0.1 s")
    bench.add(WORKLOAD, "RSS, 10 HTTP probes every 2 s", DEVSTACK, rss, "MB", "≤ 30 MB")
    bench.add(WORKLOAD, "CPU per 30 s idle, 10 HTTP probes every 2 s", "bare prober", bare, "s")


def _window(bench: Bench, who: str, pid: int, window: float) -> tuple[float, float]:
    """(CPU seconds of `pid` over `window`, scaled to 30 s; its RSS in MB at the end)."""
    ticks0 = cpu_seconds(pid)
    precise0, tids0 = fleet.cpu_precise(pid)
    time.sleep(window)
    precise1, tids1 = fleet.cpu_precise(pid)
    ticks1 = cpu_seconds(pid)
    rss = rss_mb(pid)
    cpu = precise1 - precise0
    if tids0 != tids1 or (ticks1 - ticks0) - cpu > 0.02:
        bench.note(f"W2 {who}: threads changed during the window ({len(tids0)} → {len(tids1)}); CPU from "
                   f"/proc ticks ({ticks1 - ticks0:.2f} s) instead of schedstat ({cpu:.4f} s)")
        cpu = ticks1 - ticks0
    return cpu * 30.0 / window, rss


def _wait_healthy(workdir: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    data: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("devstack up exited before the services were healthy")
        result = devstack(workdir, "status", "--json", timeout=30)
        try:
            data = json.loads(result.stdout)
        except ValueError:
            data = {}
        services = data.get("services") or []
        if services and all(s.get("state") == "healthy" for s in services):
            return
        time.sleep(0.5)
    raise TimeoutError(f"not every service was healthy after {timeout:g} s: {data}")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
