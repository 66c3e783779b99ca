"""A crash-looping service for the fault suite (standard library only; run it with `python -S`).

    crash.py --log PATH --name NAME [--after S] [--code N]

Appends `<name> start <pid> <monotonic_ns>` to the start log at PATH when it starts, and
`<name> exit <pid> <monotonic_ns>` just before it exits with code N after S seconds: the ground
truth of spawn counts and backoff gaps, never devstack's own status.
"""

from __future__ import annotations

import argparse
import os
import time


def log(path: str, name: str, event: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name} {event} {os.getpid()} {time.monotonic_ns()}\n".encode())
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--after", type=float, default=0.05)
    parser.add_argument("--code", type=int, default=1)
    args = parser.parse_args()
    log(args.log, args.name, "start")
    print(f"{args.name} starting; will exit {args.code} in {args.after} s", flush=True)
    time.sleep(args.after)
    log(args.log, args.name, "exit")
    os._exit(args.code)


if __name__ == "__main__":
    main()
