"""W3 restart: how fast a crashed service is started again, and whether a stop really stops it.

The service is a bash script that appends `start <t>`, sleeps 0.2 s, appends `exit <t>` and exits 1
(`$EPOCHREALTIME`, a builtin, so the service's own start-up cost is tiny and the same for every
tool). Figure: exit → next start over the first 10 restarts (each gap one value). Floor: a Python
loop that respawns the same script (Popen + wait, no delay). Then the tool is asked to stop the
service; any `start` stamped after that request returned is counted (should be 0).

devstack: `backoff = 0`; supervisord: autorestart=true, startsecs=0; concurrently:
`--restart-tries 20 --restart-after 0`; honcho has no restart.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from common import PY, Bench, devstack, stop_tree, wait_until
from kit import bench_env, reap, spawn, start_supervisord, stop_supervisord, supervisorctl, supervisord_conf

WORKLOAD = "W3"
TITLE = "restart after a crash"

RESTARTS = 10
AFTER_STOP = 1.0  # s watched for a start after the stop request returned (the service lives 0.2 s)
GAP = "restart: exit → next start"
STOP = "stop request → returned"
LATE = "starts after stop returned"

FLOOR_LOOP = """import subprocess, sys
for _ in range(int(sys.argv[2])):
    subprocess.Popen([sys.argv[1]]).wait()
"""


def run(bench: Bench) -> None:
    bash = shutil.which("bash") or "/bin/bash"
    concurrently = bench.peers.tool("concurrently")
    bench.note("W3: honcho has no restart (a process that exits ends the whole honcho run), so it is "
               "not in W3.")
    if concurrently is None:
        bench.note("W3: concurrently (npm) is not installed; skipped.")
    for _ in bench.reps():
        _floor(bench, bash)
        _devstack(bench, bash)
        _supervisord(bench, bash)
        if concurrently:
            _concurrently(bench, bash, concurrently)


# ----------------------------------------------------------------------------- the service


def _service(bench: Bench, name: str, bash: str) -> tuple[Path, Path, Path]:
    """(workdir, script, events file)."""
    workdir = bench.workdir(f"w3-{name}")
    events = workdir / "events.txt"
    script = workdir / "crash.sh"
    script.write_text(f'#!{bash}\necho "start $EPOCHREALTIME" >> {events}\nsleep 0.2\n'
                      f'echo "exit $EPOCHREALTIME" >> {events}\nexit 1\n')
    script.chmod(0o755)
    return workdir, script, events


def _read(events: Path) -> list[tuple[str, float]]:
    if not events.exists():
        return []
    out = []
    for line in events.read_text().splitlines():
        kind, _, stamp = line.partition(" ")
        with contextlib.suppress(ValueError):
            out.append((kind, float(stamp)))
    return out


def _starts(events: Path) -> int:
    return sum(1 for kind, _ in _read(events) if kind == "start")


def _gaps_ms(events: Path) -> list[float]:
    gaps = [(b[1] - a[1]) * 1000 for a, b in itertools.pairwise(_read(events))
            if a[0] == "exit" and b[0] == "start"]
    if len(gaps) < RESTARTS:
        raise RuntimeError(f"only {len(gaps)} restarts recorded in {events}")
    return gaps[:RESTARTS]


def _measure(bench: Bench, tool: str, events: Path, stop: Callable[[], None], target: str = "") -> None:
    """Wait for RESTARTS restarts, record the gaps, stop, and count starts after the stop returned."""
    wait_until(lambda: _starts(events) >= RESTARTS + 1, 60, f"{tool}: {RESTARTS} restarts", interval=0.05)
    asked = time.time()
    stop()
    returned = time.time()
    time.sleep(AFTER_STOP)
    for gap in _gaps_ms(events):
        bench.add(WORKLOAD, GAP, tool, gap, "ms", target)
    bench.add(WORKLOAD, STOP, tool, (returned - asked) * 1000, "ms")
    late = sum(1 for kind, t in _read(events) if kind == "start" and t > returned)
    bench.add(WORKLOAD, LATE, tool, late, "starts", "0" if target else "")


# ----------------------------------------------------------------------------- the tools


def _floor(bench: Bench, bash: str) -> None:
    workdir, script, events = _service(bench, "floor", bash)
    proc = spawn([PY, "-c", FLOOR_LOOP, str(script), str(RESTARTS + 1)], workdir)
    try:
        proc.wait(60)
        for gap in _gaps_ms(events):
            bench.add(WORKLOAD, GAP, "floor", gap, "ms")
    finally:
        stop_tree(proc)
        reap(bench, workdir, "W3 floor")


def _devstack(bench: Bench, bash: str) -> None:
    workdir, script, events = _service(bench, "devstack", bash)
    (workdir / "stack.toml").write_text(
        f'[services.svc]\ncommand = ["{script}"]\nbackoff = 0\nmax_restarts = 1000\n')
    # Foreground `up`, like the peers: `up -d` would wait for a service that never stays up.
    proc = spawn([PY, "-m", "devstack", "up"], workdir, out=workdir / "up.out")

    def stop() -> None:
        result = devstack(workdir, "stop", "svc", env=bench_env())
        if result.returncode != 0:
            raise RuntimeError(f"devstack stop svc: {result.returncode} {result.stdout}{result.stderr}")

    try:
        _measure(bench, "devstack", events, stop, target="≤ 10 ms")
    finally:
        devstack(workdir, "down", env=bench_env())
        stop_tree(proc)
        reap(bench, workdir, "W3 devstack")


def _supervisord(bench: Bench, bash: str) -> None:
    workdir, script, events = _service(bench, "supervisord", bash)
    conf = supervisord_conf(workdir, {"svc": {"command": str(script), "autostart": "true",
                                              "autorestart": "true", "startsecs": 0,
                                              "startretries": 1000}})
    proc = start_supervisord(bench, conf)

    def stop() -> None:
        result = supervisorctl(bench, conf, "stop", "svc")
        if "stopped" not in result.stdout and "not running" not in result.stdout:
            raise RuntimeError(f"supervisorctl stop svc: {result.returncode} {result.stdout}{result.stderr}")

    try:
        _measure(bench, "supervisord", events, stop)
    finally:
        stop_supervisord(proc)
        reap(bench, workdir, "W3 supervisord")


def _concurrently(bench: Bench, bash: str, exe: str) -> None:
    workdir, script, events = _service(bench, "concurrently", bash)
    proc = spawn([exe, "--restart-tries", "20", "--restart-after", "0", str(script)], workdir,
                 out=workdir / "concurrently.out")

    def stop() -> None:  # Ctrl-C as concurrently sees it; "returned" = concurrently has exited
        os.kill(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)

    try:
        _measure(bench, "concurrently", events, stop)
    finally:
        stop_tree(proc)
        reap(bench, workdir, "W3 concurrently")
