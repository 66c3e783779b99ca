"""Helpers shared by W1, W2 and W4: the same set of services run under each tool.

A workload describes its services once (name → argv); `launch` writes the tool's own
configuration for them (stack.toml, Procfile, supervisord.conf, concurrently's argv) in a fresh
workdir and starts the tool in its own session with stdout to a file. `stop` stops it the way a
user would (Ctrl-C / SIGTERM / `devstack down`), and `sweep` then kills (and notes) anything still
running from the workdir, so that no run leaves a process behind.

`Tree` counts a tool's descendant processes by name cheaply enough to poll every 5 ms: after a
snapshot taken before the launch, it reads /proc/PID/stat only for processes born since.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil
from common import PY, Bench, clean_env, devstack, stop_tree
from kit import supervisord_conf

# Tool names as they appear in the table, in the order they run within a repetition.
DEVSTACK = "devstack"
DEVSTACK_D = "devstack up -d"
PEERS = ("honcho", "supervisord", "concurrently")

Services = dict[str, list[str]]  # name → argv


def peers_available(bench: Bench, workload: str) -> list[str]:
    """The peers that are installed; a note for each that is not."""
    out = []
    for name in PEERS:
        if bench.peers.tool(name) is None:
            bench.note(f"{workload}: {name} is not installed (bench/.peers, bench/.node); skipped")
        else:
            out.append(name)
    return out


class Failures:
    """One tool's failed run must not lose the other tools' figures: each run goes in
    `with failures.guard(tool, rep):`, a failure becomes a note, and `check()` at the end of the
    workload raises if any run failed (so that bench/run.py reports the workload as failed)."""

    def __init__(self, bench: Bench, workload: str) -> None:
        self.bench, self.workload = bench, workload
        self.failed: list[str] = []

    @contextlib.contextmanager
    def guard(self, tool: str, rep: int) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.failed.append(f"{tool} (repetition {rep + 1})")
            self.bench.note(f"{self.workload} {tool}: FAILED in repetition {rep + 1}: "
                            f"{type(exc).__name__}: {exc}")

    def check(self) -> None:
        if self.failed:
            raise RuntimeError(f"{self.workload}: runs failed: {', '.join(self.failed)}")


def bench_env() -> dict[str, str]:
    env = clean_env()
    env["PYTHONUNBUFFERED"] = "1"  # devstack sets it for its children; give every tool the same
    return env


# ----------------------------------------------------------------------------- configurations


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_stack_toml(workdir: Path, services: Services, extra: dict[str, str] | None = None) -> Path:
    """stack.toml with each service's command as a shell string (what users write); `extra` maps
    a service name to more TOML keys, e.g. 'health = { http = "…" }'."""
    lines = ['[stack]', 'name = "bench"', ""]
    for name, argv in services.items():
        lines += [f"[services.{name}]", f"command = {_toml_str(shlex.join(argv))}"]
        if extra and name in extra:
            lines.append(extra[name])
        lines.append("")
    path = workdir / "stack.toml"
    path.write_text("\n".join(lines))
    return path


def write_procfile(workdir: Path, services: Services) -> Path:
    path = workdir / "Procfile"
    path.write_text("".join(f"{name}: {shlex.join(argv)}\n" for name, argv in services.items()))
    return path


def write_supervisord_conf(workdir: Path, services: Services, autorestart: str = "false") -> Path:
    programs = {name: {"command": shlex.join(argv), "startsecs": 0, "autorestart": autorestart,
                       "stdout_logfile": supervisord_log(workdir, name), "stdout_logfile_maxbytes": 0,
                       "stopasgroup": "true", "killasgroup": "true"}
                for name, argv in services.items()}
    # One group for all: supervisord stops one group at a time, ~0.3 s each, so with a group per
    # program stopping 100 of them takes 30-45 s. Starting is the same either way.
    return supervisord_conf(workdir, programs, group="bench")


def supervisord_log(workdir: Path, name: str) -> Path:
    return workdir / f"{name}.stdout.log"


# ----------------------------------------------------------------------------- launching, stopping


def launch(bench: Bench, tool: str, workdir: Path, services: Services, out: Path,
           stack_extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Write `tool`'s configuration for `services` into `workdir` and start it there, in its own
    session, stdout and stderr appended to `out`. For devstack up -d the process is the CLI."""
    if tool in (DEVSTACK, DEVSTACK_D):
        write_stack_toml(workdir, services, stack_extra)
        argv = [PY, "-m", "devstack", "up", *(["-d"] if tool == DEVSTACK_D else [])]
    elif tool == "honcho":
        write_procfile(workdir, services)
        argv = [_exe(bench, tool), "start", "-f", "Procfile"]
    elif tool == "supervisord":
        conf = write_supervisord_conf(workdir, services)
        argv = [_exe(bench, tool), "-n", "-c", str(conf)]
    elif tool == "concurrently":
        argv = [_exe(bench, tool), "--names", ",".join(services),
                *(shlex.join(a) for a in services.values())]
    else:
        raise ValueError(f"unknown tool {tool}")
    return spawn(argv, workdir, out)


def spawn(argv: Sequence[str], cwd: Path, out: Path) -> subprocess.Popen[bytes]:
    with open(out, "ab") as stdout:
        return subprocess.Popen(list(argv), cwd=cwd, env=bench_env(), stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)


def _exe(bench: Bench, tool: str) -> str:
    exe = bench.peers.tool(tool)
    if exe is None:
        raise RuntimeError(f"{tool} is not installed")
    return exe


def stop(tool: str, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    """Stop the tool as its user would: Ctrl-C (SIGINT to its process group, as a terminal sends
    it) for devstack, honcho and concurrently, SIGTERM for supervisord, `devstack down` for a
    detached devstack; then give the rest of the group up to 10 s to exit on its own. Only then
    stop_tree (SIGKILL to the group): killing honcho's per-service helpers (same group) the
    moment honcho itself exits would orphan their children before they are told to stop."""
    try:
        if tool == DEVSTACK_D:
            with contextlib.suppress(subprocess.TimeoutExpired):
                devstack(workdir, "down", timeout=60)
        elif proc.poll() is None:
            sig = signal.SIGTERM if tool == "supervisord" else signal.SIGINT
            with contextlib.suppress(ProcessLookupError):
                if tool == "supervisord":
                    os.kill(proc.pid, sig)  # supervisord alone: it stops its programs itself
                else:
                    os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
        deadline = time.monotonic() + 10
        while _group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop_tree(proc, sig=signal.SIGINT)


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    found = []
    for pid in Tree.pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        if fields[0] != b"Z" and int(fields[2]) == pgid:
            found.append(pid)
    return found


def sweep(bench: Bench, workdir: Path, who: str) -> int:
    """Kill, and note, every process still running from `workdir` (its cwd, or its path on the
    command line) after the tool was stopped. Waits up to 3 s for stragglers to exit first."""
    deadline = time.monotonic() + 3
    while True:
        found = _from_workdir(workdir)
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    what = ", ".join(f"{p.pid} {' '.join(_cmdline(p))[:60]}" for p in found[:5])
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(found, timeout=5)
    if found:
        bench.note(f"LEFTOVER {who}: {len(found)} process(es) still ran from its workdir 3 s after it was "
                   f"stopped (killed): {what}")
    return len(found)


def _from_workdir(workdir: Path) -> list[psutil.Process]:
    me, root = os.getpid(), str(workdir)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        if proc.info["pid"] == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cwd = proc.info["cwd"] or ""
        if cwd == root or cwd.startswith(root + "/") or root in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return ["?"]


# ----------------------------------------------------------------------------- processes


class Tree:
    """The descendants of one process, by name, from /proc; cheap to poll every few ms.

    Create it *before* launching the tool (it snapshots the pids that exist, which can never be
    descendants), then set `root`. Pids born since are read once; those that are descendants
    and not yet of the wanted name are read again on each poll (a fork that has not exec'd yet).
    A descendant keeps counting as one after its parent exits (e.g. once `up -d` returns).
    """

    def __init__(self) -> None:
        self.root: int | None = None
        self._old = set(self.pids())
        self._ppid: dict[int, int] = {}
        self._name: dict[int, str] = {}
        self._foreign: set[int] = set()
        self._desc: set[int] = set()

    @staticmethod
    def pids() -> list[int]:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]

    @staticmethod
    def _stat(pid: int) -> tuple[int, str] | None:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
        except OSError:
            return None
        close = data.rfind(b")")
        name = data[data.find(b"(") + 1 : close].decode(errors="replace")
        fields = data[close + 2 :].split()
        if fields[0] == b"Z":
            return None
        return int(fields[1]), name

    def count(self, name: str) -> int:
        """How many live descendants of `root` are called `name` (their comm, e.g. "sleep")."""
        alive = set(self.pids())
        new = alive - self._old - self._foreign
        for pid in new:
            if pid in self._desc and self._name.get(pid) == name:
                continue
            stat = self._stat(pid)
            if stat is None:
                continue
            self._ppid[pid], self._name[pid] = stat
        for pid in sorted(new):
            if pid in self._desc or pid not in self._ppid:
                continue
            if self._is_descendant(pid):
                self._desc.add(pid)
            elif self.root is not None:
                self._foreign.add(pid)
        return sum(1 for pid in self._desc if pid in alive and self._name.get(pid) == name)

    def _is_descendant(self, pid: int) -> bool:
        seen = 0
        while pid in self._ppid and seen < 64:
            if pid == self.root:
                return True
            pid = self._ppid[pid]
            seen += 1
        return pid == self.root


def wait_count(tree: Tree, name: str, n: int, timeout: float, proc: subprocess.Popen[bytes],
               interval: float = 0.005) -> float:
    """Poll until `n` descendants called `name` run; returns time.monotonic() of that poll."""
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if tree.count(name) >= n:
            return now
        if now > deadline:
            raise TimeoutError(f"only {tree.count(name)} of {n} {name} processes after {timeout:g} s")
        if proc.poll() is not None and tree.count(name) == 0 and now > deadline - timeout + 5:
            raise RuntimeError(f"the tool exited with code {proc.returncode} before starting its services")
        time.sleep(interval)


def cpu_precise(pid: int) -> tuple[float, frozenset[int]]:
    """CPU seconds of every live thread of `pid` from /proc/PID/task/*/schedstat (nanoseconds,
    unlike the 10 ms ticks of /proc/PID/stat), and the thread ids they came from."""
    total, tids = 0, []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
            tids.append(int(tid))
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9, frozenset(tids)
