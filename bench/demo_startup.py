"""The demo stack: `devstack up -d` until all four are healthy, versus starting the same four by
hand one after another (each started once the previous one answers its health check), on the
same machine, alternating. Run `scripts/demo -d && .venv/bin/devstack down` once first (setup).

    python bench/demo_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"


def devstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def http_ok(url: str, field: str | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            body = response.read()
            return field is None or json.loads(body).get("status") == "OK"
    except (OSError, ValueError):
        return False


def pg_ok() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-d", "lifebit_db", "-U",
                           "lifebit_user"], capture_output=True).returncode == 0


def wait(check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.01)


def by_hand() -> float:
    env = dict(os.environ)
    steps = [
        (["./run.sh"], DEMO / "db", pg_ok),
        (["./run.sh"], DEMO / "core-api", lambda: http_ok("http://localhost:8080/api/health/db", "status")),
        (["venv/bin/uvicorn", "main:app", "--host", "127.0.0.1", "--port", "8001"], DEMO / "ai-api",
         lambda: http_ok("http://localhost:8001/", "status")),
        (["npm", "run", "dev"], DEMO / "frontend", lambda: http_ok("http://localhost:5173/")),
    ]
    procs = []
    started = time.monotonic()
    try:
        for argv, cwd, check in steps:
            procs.append(subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
            wait(check)
        return time.monotonic() - started
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGINT if proc is procs[0] else signal.SIGTERM)
            proc.wait(30)


def with_devstack() -> float:
    started = time.monotonic()
    result = devstack("up", "-d")
    took = time.monotonic() - started
    devstack("down")
    if result.returncode != 0:
        raise RuntimeError(result.stdout + result.stderr)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    ours, hand = [], []
    for _ in range(runs):
        ours.append(with_devstack())
        hand.append(by_hand())
        time.sleep(1)
    for name, values in (("devstack up -d", ours), ("by hand, one after another", hand)):
        print(f"{name:28s} median {statistics.median(values):6.2f} s  [{min(values):.2f}–{max(values):.2f}]"
              f"  n={len(values)}")


if __name__ == "__main__":
    main()
