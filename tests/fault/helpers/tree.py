"""An adversarial process tree for the fault suite (standard library only; run it with `python -S`).

    tree.py --log PATH --name NAME [--depth D] [--width W] [--bind PORT]
            [--leader-exits S] [--escaper] [--ignore-term none|binder|all] [--chatter]

The leader forks a tree `depth` levels deep and `width` wide. One process (the first child at
every level, down to the deepest) is the *binder*: it listens on PORT, the way a dev server
deep under npm or mvn does. Every process appends `<name> <event> <pid> <monotonic_ns> <role>`
to the start log at PATH: the ground truth of starts that the tests count, never devstack's
status. Events: `start` (every process), `bound` / `eaddrinuse` (the binder), `exit` (a leader
that leaves on its own), `term` (a binder receiving SIGTERM, just before it dies).

--leader-exits S   the leader exits 1 S seconds after the port is bound, leaving its group
                   (the binder included) behind (R07).
--escaper          the binder daemonizes (fork, setsid, fork) before binding: it leaves the
                   leader's session and process group and is reparented, but keeps the stdout
                   pipe and writes to it (R08, pg_ctl-style).
--ignore-term      `binder`: the binder ignores SIGTERM; `all`: every process does (R05).
--chatter          the binder writes a line to stdout every 50 ms, ignores SIGPIPE and carries
                   on when the reader is gone, like a JVM (the sigpipe_keeper of R10).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import select
import signal
import socket
import sys
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--depth", type=int, default=0)
    parser.add_argument("--width", type=int, default=1)
    parser.add_argument("--bind", type=int, default=0)
    parser.add_argument("--leader-exits", type=float, default=None)
    parser.add_argument("--escaper", action="store_true")
    parser.add_argument("--ignore-term", choices=["none", "binder", "all"], default="none")
    parser.add_argument("--chatter", action="store_true")
    args = parser.parse_args()
    Tree(args).run()


class Tree:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ready_r, self.ready_w = os.pipe()

    def log(self, event: str, role: str) -> None:
        line = f"{self.args.name} {event} {os.getpid()} {time.monotonic_ns()} {role}\n"
        fd = os.open(self.args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def run(self) -> None:
        args = self.args
        if args.ignore_term == "all":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.log("start", "leader")
        self.spawn_level(0, binder_path=True)
        os.close(self.ready_w)
        if args.bind:
            # Until the port is bound (or the bind failed): an `E` from the binder, or 10 s.
            ready, _, _ = select.select([self.ready_r], [], [], 10.0)
            if ready:
                os.read(self.ready_r, 1)
        if args.leader_exits is not None:
            time.sleep(args.leader_exits)
            self.log("exit", "leader")
            sys.stdout.flush()
            os._exit(1)
        print(f"{args.name} leader {os.getpid()} up", flush=True)
        self.idle()

    def spawn_level(self, level: int, binder_path: bool) -> None:
        """Fork this process's children; the first child on the binder path continues it."""
        args = self.args
        if level >= args.depth:
            if binder_path and args.bind:
                self.become_binder(level)
            return
        for i in range(args.width):
            pid = os.fork()
            if pid == 0:
                self.log("start", f"node-{level + 1}")
                self.spawn_level(level + 1, binder_path and i == 0)
                self.idle()

    def become_binder(self, level: int) -> None:
        """Bind the port in this process (or in a daemonized grandchild with --escaper)."""
        args = self.args
        if level == 0:
            # The leader itself would bind at depth 0: give the port to a child instead, so the
            # leader stays a plain waiter, like `sh` in front of a server.
            pid = os.fork()
            if pid != 0:
                return
            self.log("start", "binder-child")
        if args.escaper:
            if os.fork() != 0:
                os._exit(0)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            self.log("start", "escaper")
        self.serve()

    def serve(self) -> None:
        args = self.args
        if args.ignore_term in ("binder", "all"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        else:
            def on_term(signum: int, frame: object) -> None:
                self.log("term", "binder")
                os._exit(143)

            signal.signal(signal.SIGTERM, on_term)
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind(("127.0.0.1", args.bind))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                self.log("eaddrinuse", "binder")
                print(f"{args.name}: EADDRINUSE on {args.bind}", flush=True)
            os.write(self.ready_w, b"E")
            os._exit(1)
        srv.listen(64)
        self.log("bound", "binder")
        os.write(self.ready_w, b"B")
        os.close(self.ready_w)
        if args.chatter or args.escaper:
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            threading.Thread(target=self.chatter, daemon=True).start()
        while True:
            conn, _ = srv.accept()
            conn.close()

    def chatter(self) -> None:
        n = 0
        while True:
            n += 1
            with contextlib.suppress(OSError):  # the reader is gone (EPIPE): carry on, like a JVM
                os.write(1, f"{self.args.name} hold seq={n}\n".encode())
            time.sleep(0.05)

    def idle(self) -> None:
        while True:
            try:
                os.wait()
            except ChildProcessError:
                signal.pause()


if __name__ == "__main__":
    main()
