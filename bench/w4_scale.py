"""W4 scale: 100 services each `sleep 100000`.

The figure is the time from launching the tool until all 100 sleeps run (ground truth: the
tool's descendant processes called `sleep`, read from /proc every 5 ms), and the supervising
process's RSS once they do. devstack runs twice: `up -d` (timed from the launch of the CLI; the
detached supervisor is then found with `status --json`; also the time until the CLI returns,
which waits until every service has stayed up for 1 s) and foreground `up`.

The floor is a tiny Python script that Popen()s the 100 sleeps.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import fleet
from common import PY, Bench, rss_mb, stop_tree, supervisor_pid
from fleet import DEVSTACK, DEVSTACK_D

WORKLOAD = "W4"
TITLE = "scale to 100 services"

SERVICES = 100

FLOOR = r'''
import subprocess, sys, time
procs = [subprocess.Popen(["sleep", "100000"]) for _ in range(int(sys.argv[1]))]
while True:
    time.sleep(3600)
'''


def run(bench: Bench) -> None:
    floor = bench.scratch / "w4_floor.py"
    floor.write_text(FLOOR)
    tools = [DEVSTACK_D, DEVSTACK, *fleet.peers_available(bench, WORKLOAD), "floor"]
    bench.note(f"W4: {SERVICES} × `sleep 100000`; launch → all {SERVICES} sleeps running (descendants of "
               "the launched process named sleep, from /proc every 5 ms); RSS of the supervising process "
               "then (devstack up -d: the detached supervisor; floor: the Python script that Popen()s "
               "the sleeps). devstack's services are shell strings, as in the Procfile.")
    failures = fleet.Failures(bench, WORKLOAD)
    for rep in bench.reps():
        for tool in tools:
            with failures.guard(tool, rep):
                one_run(bench, tool, floor)
    failures.check()


def one_run(bench: Bench, tool: str, floor: Path) -> None:
    workdir = bench.workdir(f"w4-{tool.replace(' ', '')}")
    services = {f"s{i:03d}": ["sleep", "100000"] for i in range(SERVICES)}
    out = workdir / "stdout.txt"
    tree = fleet.Tree()
    proc = None
    returned = None
    try:
        launched = time.monotonic()
        if tool == "floor":
            proc = fleet.spawn([PY, str(floor), str(SERVICES)], workdir, out)
        else:
            proc = fleet.launch(bench, tool, workdir, services, out)
        tree.root = proc.pid
        running = fleet.wait_count(tree, "sleep", SERVICES, 60, proc)
        if tool == DEVSTACK_D:
            code = proc.wait(60)
            returned = time.monotonic()
            if code != 0:
                raise RuntimeError(f"devstack up -d exited {code}: {out.read_text()[-500:]}")
            rss = rss_mb(supervisor_pid(workdir))
        else:
            rss = rss_mb(proc.pid)
    finally:
        if proc is not None:
            if tool == "floor":
                stop_tree(proc, sig=signal.SIGTERM)
            else:
                fleet.stop(tool, proc, workdir)
        fleet.sweep(bench, workdir, f"W4 {tool}")
    target = tool in (DEVSTACK, DEVSTACK_D)
    bench.add(WORKLOAD, f"launch → {SERVICES} running", tool, running - launched, "s",
              "≤ 0.4 s" if target else "")
    bench.add(WORKLOAD, f"RSS, {SERVICES} running", tool, rss, "MB", "≤ 40 MB" if target else "")
    if returned is not None:
        bench.add(WORKLOAD, "`up -d` returns", tool, returned - launched, "s")

