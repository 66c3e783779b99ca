"""A service that daemonizes, then exits (standard library only; run it with `python -S`).

    daemonize.py --log PATH [--shape SHAPE] [--after S] [--code N]

Leaves a daemon behind the way SHAPE says (`rotate`, the default, takes the next shape at each
start, counting the starts already in the log), waits S seconds and exits with code N:

- `setsid-env-i`: `setsid -f env -i …`: a new session, an environment with nothing of devstack's
  (only DEVSTACK_TEST_RUN, the fault suite's own ground truth, is passed on);
- `double-fork`: fork, setsid, fork again, as daemon(3) does;
- `background`: a child left running in the service's own session (`server &; exit`).

Its log, the ground truth of the fault tests: `start <pid> <monotonic_ns>` at each start, and the
daemon's `daemon <pid> <ppid>` once its parent has exited: the process it was reparented to
(the supervisor, with a subreaper; PID 1 or another subreaper without one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

SHAPES = ("setsid-env-i", "double-fork", "background")


def log(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def be_daemon(path: str, parent: int) -> None:
    """Wait (at most 5 s) to be reparented, say to whom, then live until killed. `parent`: the
    pid of the parent that will exit, or 0 for "the setsid process that forked me"."""
    deadline = time.monotonic() + 5

    def orphaned() -> bool:
        ppid = os.getppid()
        return ppid != parent if parent else comm(ppid) != "setsid"

    while not orphaned() and time.monotonic() < deadline:
        time.sleep(0.005)
    log(path, f"daemon {os.getpid()} {os.getppid()}")
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--shape", default="rotate", choices=("rotate", *SHAPES))
    parser.add_argument("--after", type=float, default=0.05)
    parser.add_argument("--code", type=int, default=1)
    parser.add_argument("--be-daemon", type=int, metavar="PARENT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.be_daemon is not None:
        be_daemon(args.log, args.be_daemon)
    starts = 0
    if os.path.exists(args.log):
        with open(args.log) as f:
            starts = sum(line.startswith("start ") for line in f)
    log(args.log, f"start {os.getpid()} {time.monotonic_ns()}")
    shape = SHAPES[starts % len(SHAPES)] if args.shape == "rotate" else args.shape
    me = [sys.executable, "-S", __file__, "--log", args.log]
    if shape == "setsid-env-i":
        # setsid -f forks the daemon: its parent is setsid's own process, which exits at once
        tag = os.environ.get("DEVSTACK_TEST_RUN", "")
        proc = subprocess.Popen(["setsid", "-f", "env", "-i", f"DEVSTACK_TEST_RUN={tag}", *me,
                                 "--be-daemon", "0"], stdin=subprocess.DEVNULL)
        proc.wait()
    elif shape == "double-fork":
        if os.fork() == 0:
            os.setsid()
            middle = os.getpid()
            if os.fork() == 0:
                be_daemon(args.log, middle)
            os._exit(0)
        os.wait()
    else:
        subprocess.Popen([*me, "--be-daemon", str(os.getpid())], stdin=subprocess.DEVNULL)
    time.sleep(args.after)
    os._exit(args.code)


if __name__ == "__main__":
    main()
