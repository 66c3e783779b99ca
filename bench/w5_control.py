"""W5 control CLI: the wall time of one `status` call against a running stack of 10 services.

devstack (`up -d`) runs 10 sleeping services; `devstack status` is timed both as the installed
console script (.venv/bin/devstack) and as `python -m devstack status`, against
`supervisorctl status` on a supervisord running the same 10 programs, and `python -c pass` (the
interpreter devstack runs on) as the floor. The calls are interleaved, each one a value.
"""

from __future__ import annotations

import re
import subprocess
import time
from functools import partial
from pathlib import Path

from common import PY, Bench, devstack, stop_tree, wait_until
from kit import bench_env, reap, start_supervisord, stop_supervisord, supervisor_states, supervisord_conf

WORKLOAD = "W5"
TITLE = "control CLI (status)"

SERVICES = 10
METRIC = "`status` wall, 10 services"
TARGET = "≤ 100 ms"


def run(bench: Bench) -> None:
    calls = 10 if bench.quick else 20
    console = Path(PY).parent / "devstack"
    for rep in bench.reps():
        ours = bench.workdir("w5-devstack")
        (ours / "stack.toml").write_text("".join(
            f'[services.s{i}]\ncommand = ["sleep", "100000"]\n\n' for i in range(SERVICES)))
        theirs = bench.workdir("w5-supervisord")
        conf = supervisord_conf(theirs, {f"s{i}": {"command": "sleep 100000"} for i in range(SERVICES)})
        sup = None
        try:
            up = devstack(ours, "up", "-d", env=bench_env())
            if up.returncode != 0:
                raise RuntimeError(f"devstack up -d: {up.returncode} {up.stdout}{up.stderr}")
            sup = start_supervisord(bench, conf)
            wait_until(partial(_all_running, bench, conf), 60, "supervisord: all programs RUNNING",
                       interval=0.1)
            tools = [
                ("floor", [PY, "-c", "pass"], ours, ""),
                ("devstack", [str(console), "status"], ours, TARGET),
                ("devstack (python -m)", [PY, "-m", "devstack", "status"], ours, TARGET),
                ("supervisorctl", [str(bench.peers.tool("supervisorctl")), "-c", str(conf), "status"],
                 theirs, ""),
            ]
            env = bench_env()
            for i in range(calls + 1):  # call 0 of each tool warms caches and is not counted
                for tool, argv, cwd, target in tools:
                    started = time.perf_counter()
                    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True,
                                            stdin=subprocess.DEVNULL, timeout=30)
                    took = time.perf_counter() - started
                    if result.returncode != 0:
                        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: "
                                           f"{result.stdout.decode()}{result.stderr.decode()}")
                    if i:
                        bench.add(WORKLOAD, METRIC, tool, took * 1000, "ms", target)
            if rep == 0:
                _importtime(bench, ours)
        finally:
            devstack(ours, "down")
            if sup is not None:
                stop_supervisord(sup)
                stop_tree(sup)
            reap(bench, ours, "W5 devstack")
            reap(bench, theirs, "W5 supervisord")


def _all_running(bench: Bench, conf: Path) -> bool:
    return list(supervisor_states(bench, conf).values()) == ["RUNNING"] * SERVICES


def _importtime(bench: Bench, root: Path) -> None:
    """`python -X importtime -m devstack status`: the 5 imports with the largest cumulative time."""
    result = subprocess.run([PY, "-X", "importtime", "-m", "devstack", "status"], cwd=root, env=bench_env(),
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    rows = []
    for line in result.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    total = sum(cumulative for cumulative, _, depth, _ in rows if depth == 0)
    top = sorted(rows, reverse=True)[:5]
    listed = "; ".join(f"{name} {cum / 1000:.1f} ms (self {own / 1000:.1f}, depth {depth})"
                       for cum, own, depth, name in top)
    packages = sorted((r for r in rows if "." not in r[3] and r[3] != "devstack"), reverse=True)[:5]
    listed_third = ", ".join(f"{name} {cum / 1000:.1f} ms" for cum, _, _, name in packages)
    bench.note(f"W5: `python -X importtime -m devstack status` (one run, loaded figures): all imports "
               f"{total / 1000:.0f} ms; top 5 cumulative: {listed}. Largest packages other than "
               f"devstack: {listed_third}.")
