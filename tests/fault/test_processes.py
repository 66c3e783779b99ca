"""Process faults (RELIABILITY.md R01, R02, R05–R08, R10, R11, R44), against the real CLI.

Ground truth never comes from devstack's status:
- survivors are the processes whose /proc/<pid>/environ carries this test's DEVSTACK_TEST_RUN tag,
  which the harness gives to devstack and every descendant inherits (zombies hold nothing: not counted);
- ports are free when the test itself can bind them, and held by whoever /proc/net/tcp and the
  /proc/<pid>/fd socket inodes say;
- starts, exits, binds and SIGTERMs come from each helper's own start log (tests/fault/helpers).

Status is only used to learn the supervisor's pid and to time a fault (e.g. "now it is in backoff").

    python -m pytest tests/fault/test_processes.py -q -s            # CI variants
    python -m pytest tests/fault/test_processes.py -q -s --soak     # soak variants
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from tests.support.ground_truth import cmdline, fd_count, is_background_supervisor, supervisor_pid
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port, port_is_free
from tests.support.waiting import wait_until

HELPERS = Path(__file__).parent / "helpers"
TREE = HELPERS / "tree.py"
CRASH = HELPERS / "crash.py"
TEST_TAG = "DEVSTACK_TEST_RUN"
CLK_TCK = os.sysconf("SC_CLK_TCK")

Figure = Callable[..., None]


# --------------------------------------------------------------------------- ground truth from /proc


@dataclass(frozen=True)
class Stat:
    state: str
    ppid: int
    starttime: int  # clock ticks after boot (field 22): with the pid, names a process uniquely
    cpu_ticks: int  # utime + stime


def proc_stat(pid: int) -> Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    return Stat(fields[0].decode(), int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]))


@dataclass(frozen=True)
class Proc:
    pid: int
    starttime: int

    def alive(self) -> bool:
        st = proc_stat(self.pid)
        return st is not None and st.starttime == self.starttime and st.state != "Z"


def gone(proc: Proc) -> bool:
    return not proc.alive()


def snapshot(pid: int) -> Proc | None:
    st = proc_stat(pid)
    return Proc(pid, st.starttime) if st is not None and st.state != "Z" else None


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def tagged(tag: str) -> list[Proc]:
    """Live (non-zombie) processes whose environment carries DEVSTACK_TEST_RUN=<tag>."""
    needle = f"{TEST_TAG}={tag}".encode()
    found = []
    for pid in pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            proc = snapshot(pid)
            if proc is not None:
                found.append(proc)
    return found


def describe(procs: list[Proc]) -> str:
    return "; ".join(f"{p.pid} {cmdline(p.pid)[:120]}" for p in procs)


def listener_pids(port: int) -> set[int]:
    """Pids with a TCP socket listening on `port` (IPv4 or IPv6), from /proc/net and /proc/*/fd."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    holders: set[int] = set()
    if not inodes:
        return holders
    for pid in pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    holders.add(pid)
                    break
            except OSError:
                continue
    return holders


def zombie_children(parent: int) -> int:
    count = 0
    for pid in pids():
        st = proc_stat(pid)
        if st is not None and st.ppid == parent and st.state == "Z":
            count += 1
    return count


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def ms_until_port_free(port: int, since: float, timeout: float = 10.0) -> float:
    """Milliseconds from `since` (monotonic) until the test can bind `port`."""
    wait_until(lambda: port_is_free(port), timeout, f"port {port} to be free", interval=0.002)
    return max(0.0, (time.monotonic() - since) * 1000)


def rounded(value: float, digits: int = 1) -> float | None:
    """A figure's value: rounded, and None (JSON null) when nothing was measured."""
    return None if math.isnan(value) else round(value, digits)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (NaN for no values: a test that failed before measuring)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# --------------------------------------------------------------------------- the helpers' start logs


@dataclass(frozen=True)
class Event:
    name: str
    event: str  # start, bound, eaddrinuse, exit, term
    pid: int
    ns: int  # CLOCK_MONOTONIC, the same clock as time.monotonic_ns() here
    role: str


def read_log(path: Path) -> list[Event]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2].isdigit():
            events.append(Event(parts[0], parts[1], int(parts[2]), int(parts[3]),
                                parts[4] if len(parts) > 4 else ""))
    return events


def happened_since(check: Callable[[list[Event]], bool], log: Path, mark: int) -> bool:
    """`check` on the start log's events from index `mark` on, read afresh."""
    return check(read_log(log)[mark:])


def started(events: list[Event]) -> list[Proc]:
    """The processes that logged a start and are (still) alive, as pid + start time."""
    out = []
    for e in events:
        if e.event == "start":
            proc = snapshot(e.pid)
            if proc is not None:
                out.append(proc)
    return out


def safe(path: Path) -> str:
    text = str(path)
    assert shlex.quote(text) == text, f"test paths must need no quoting: {text}"
    return text


def supervisors(tag: str) -> list[Proc]:
    return [p for p in tagged(tag) if is_background_supervisor(p.pid)]


def service_procs(tag: str) -> list[Proc]:
    """Every tagged process but the supervisor: whatever the services are made of right now."""
    sups = {p.pid for p in supervisors(tag)}
    return [p for p in tagged(tag) if p.pid not in sups]


@dataclass
class Down:
    latency: float  # s from launching `devstack down` until it returned
    services_gone: float  # s from launching it until the last service process was gone (by tag)
    orphans: int  # tagged processes alive right after it returned
    free_ms: list[float]  # per port: ms from its return until the port could be bound


def down(stack: Stack, ports: list[int]) -> Down:
    """`devstack down`, watched from outside: when the services' processes die (by tag), when the
    command returns, what is left right after, and when each port can be bound again."""
    services = service_procs(stack.tag)
    out = stack.root.parent / "down.out"
    with open(out, "wb") as sink:
        t0 = time.monotonic()
        proc = subprocess.Popen([PY, "-m", "devstack", "down"], cwd=stack.root, env=stack.env(),
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
        gone_at: float | None = None
        while proc.poll() is None:
            if gone_at is None and not any(p.alive() for p in services):
                gone_at = time.monotonic()
            time.sleep(0.005)
        returned = time.monotonic()
        proc.wait(60)
    assert proc.returncode == 0, out.read_text()
    left = tagged(stack.tag)
    free_ms = [ms_until_port_free(port, returned) for port in ports]
    assert not left, f"processes left after `down`: {describe(left)}"
    if gone_at is None:
        gone_at = returned
    return Down(returned - t0, gone_at - t0, len(left), free_ms)


# --------------------------------------------------------------------------- R06–R08: tree shapes


@dataclass(frozen=True)
class Shape:
    command: Callable[[Path, int], str]  # (start log, port) → the service's command
    extra: str = ""  # more stack.toml lines for the service
    # After `up -d`: what the start log must show before the cycle goes on (the fault happened).
    happened: Callable[[list[Event]], bool] | None = None


def tree_cmd(*flags: str) -> Callable[[Path, int], str]:
    def command(log: Path, port: int) -> str:
        return f"{PY} -S {safe(TREE)} --log {safe(log)} --name svc --bind {port} {' '.join(flags)}"

    return command


def bash_tree(log: Path, port: int) -> str:
    # sh → bash → subshell → (sleep, python tree leader → binder + sibling): `; wait` keeps
    # bash from exec'ing its last command, so every level is a real process.
    inner = f"{PY} -S {safe(TREE)} --log {safe(log)} --name svc --depth 1 --width 2 --bind {port}"
    return f"bash -c '( sleep 1000 & {inner} ; wait ) & sleep 1000 & wait'"


def leader_exited_and_respawned(events: list[Event]) -> bool:
    """A leader exited by itself, and a later generation bound the port again."""
    exits = [i for i, e in enumerate(events) if e.event == "exit"]
    return bool(exits) and any(e.event == "bound" for e in events[exits[0]:])


SHAPES: dict[str, Shape] = {
    "bash-tree": Shape(bash_tree),
    "python-tree": Shape(tree_cmd("--depth", "3", "--width", "2")),
    # R07: the leader exits 1 0.2 s after its child bound the port; its group stays behind.
    "leader-exits-first": Shape(tree_cmd("--depth", "1", "--width", "2", "--leader-exits", "0.2"),
                                'backoff = "100ms"\nbackoff_max = "100ms"\nmax_restarts = 100000',
                                leader_exited_and_respawned),
    # R08: the port holder double-forks into its own session and keeps writing to the stdout pipe.
    "setsid-escaper": Shape(tree_cmd("--depth", "0", "--escaper")),
    # R05 in a tree: the grandchild holding the port ignores SIGTERM.
    "term-ignoring-child": Shape(tree_cmd("--depth", "2", "--width", "1", "--ignore-term", "binder"),
                                 'stop_timeout = "300ms"'),
}


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_tree_shapes_leave_nothing_after_down_and_restart(stack: Stack, soak: bool, figure: Figure,
                                                         shape_name: str) -> None:
    """R06–R08: N × (`up -d`, `restart svc`, `down`); after each restart no process of the previous
    generation is alive and the port is held by the new one; after each down nothing with the
    run's tag is alive and the port is free."""
    shape = SHAPES[shape_name]
    cycles = 50 if soak else 5
    port = free_port()
    log = stack.root.parent / "starts.log"
    stack.toml(f"""
[services.svc]
command = {q(shape.command(log, port))}
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
{shape.extra}
""")
    orphans_after_down = 0
    orphans_after_restart = 0
    free_ms: list[float] = []
    done = 0
    try:
        for cycle in range(cycles):
            mark = len(read_log(log))
            up = stack.run("up", "-d")
            assert up.code == 0, up
            if shape.happened is not None:
                wait_until(partial(happened_since, shape.happened, log, mark), 10, f"{shape_name} to happen")
            first = service_procs(stack.tag)
            assert listener_pids(port) & {p.pid for p in first}, \
                f"cycle {cycle}: port {port} is not held by the stack just started"

            restart = stack.run("restart", "svc")
            assert restart.code == 0, restart
            previous = [p for p in first if p.alive()]
            orphans_after_restart += len(previous)
            assert not previous, f"cycle {cycle}: alive after `restart`: {describe(previous)}"
            holders = listener_pids(port)
            second = {p.pid for p in service_procs(stack.tag)}
            assert holders and holders <= second, \
                f"cycle {cycle}: port {port} held by {holders}, not by the new generation {second}"

            result = down(stack, [port])
            orphans_after_down += result.orphans
            free_ms += result.free_ms
            done += 1
    finally:
        events = read_log(log)
        binds_failed = sum(e.event == "eaddrinuse" for e in events)
        figure("orphans_left_after_down", orphans_after_down, "processes", 0)
        figure("orphans_left_after_restart", orphans_after_restart, "processes", 0)
        figure("port_free_after_down_p95", rounded(p95(free_ms), 1), "ms", 500)
        figure("eaddrinuse_respawns", binds_failed, "binds", 0)
        figure("cycles", done, "up/restart/down cycles", cycles)
        strays = stray_lifetimes(events)
        if shape_name == "leader-exits-first":
            figure("stray_lifetime_after_leader_exit_p95", rounded(p95(strays), 1), "ms", None)
    if shape_name == "leader-exits-first":
        assert strays, "the leader never exited on its own: the shape did not happen"
    assert binds_failed == 0, f"{binds_failed} respawns hit EADDRINUSE"


def stray_lifetimes(events: list[Event]) -> list[float]:
    """For each leader that exited by itself: ms until the binder it left behind got SIGTERM."""
    strays = []
    for i, e in enumerate(events):
        if e.event != "exit":
            continue
        bound = [b for b in events[:i] if b.event == "bound"]
        if not bound:
            continue
        term = [t for t in events[i:] if t.event == "term" and t.pid == bound[-1].pid]
        if term:
            strays.append((term[0].ns - e.ns) / 1e6)
    return strays


# --------------------------------------------------------------------------- R05: SIGTERM ignorers


class OverBudget(AssertionError):
    """A latency figure over its threshold (the one failure an xfail below expects)."""


def test_sigterm_ignorers_down_latency(stack: Stack, soak: bool, figure: Figure) -> None:
    """R05: three services whose whole trees ignore SIGTERM, stop_timeout 1 s, stopped in parallel:
    `down` takes at most stop_timeout + 300 ms (p95), and leaves nothing behind."""
    cycles = 20 if soak else 5
    grace = 1.0
    log = stack.root.parent / "starts.log"
    ports = [free_port() for _ in range(3)]
    text = ""
    for i, port in enumerate(ports):
        command = (f"{PY} -S {safe(TREE)} --log {safe(log)} --name s{i} --depth 1 --width 2 "
                   f"--ignore-term all --bind {port}")
        text += f"""
[services.s{i}]
command = {q(command)}
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
stop_timeout = "{grace:g}s"
"""
    stack.toml(text)
    excess: list[float] = []
    killed: list[float] = []
    survivors = 0
    try:
        for _ in range(cycles):
            up = stack.run("up", "-d")
            assert up.code == 0, up
            result = down(stack, ports)
            excess.append((result.latency - grace) * 1000)
            killed.append((result.services_gone - grace) * 1000)
            survivors += result.orphans
            assert result.services_gone >= grace - 0.05, \
                f"SIGTERM ignorers gone {result.services_gone:.3f} s after `down`, before stop_timeout"
    finally:
        figure("down_latency_minus_stop_timeout_p95", rounded(p95(excess), 1), "ms", 300)
        figure("services_gone_minus_stop_timeout_p95", rounded(p95(killed), 1), "ms", None)
        figure("survivors", survivors, "processes", 0)
        figure("cycles", len(excess), "up/down cycles", cycles)
    if p95(excess) >= 300:
        raise OverBudget(f"down latency beyond stop_timeout (ms): {[round(e) for e in sorted(excess)]}")


# --------------------------------------------------------------------------- R10 + R11: kill -9 devstack


def test_supervisor_sigkill_then_up_cleans_and_reclaims(stack: Stack, soak: bool, figure: Figure) -> None:
    """R10+R11: SIGKILL the supervisor of a running stack (trees holding ports, a SIGPIPE-ignoring
    chatterer, a setsid escaper), then `up -d`: none of the old processes survives it, the
    old processes are gone before the new ones start, every port is held by a new process, there
    is one supervisor, and the stack is healthy again within 5 s without manual steps."""
    runs = 20 if soak else 3
    log = stack.root.parent / "starts.log"
    p_tree, p_keeper, p_escaper = free_port(), free_port(), free_port()
    base = f"{PY} -S {safe(TREE)} --log {safe(log)}"
    stack.toml(f"""
[services.tree]
command = {q(f"{base} --name tree --depth 3 --width 2 --bind {p_tree}")}
port = {p_tree}
health = {{ tcp = "127.0.0.1:{p_tree}" }}

[services.keeper]
command = {q(f"{base} --name keeper --depth 0 --chatter --bind {p_keeper}")}
port = {p_keeper}
health = {{ tcp = "127.0.0.1:{p_keeper}" }}
depends_on = ["tree"]

[services.escaper]
command = {q(f"{base} --name escaper --depth 0 --escaper --bind {p_escaper}")}
port = {p_escaper}
health = {{ tcp = "127.0.0.1:{p_escaper}" }}
""")
    ports = [p_tree, p_keeper, p_escaper]
    after_crash: list[int] = []
    after_up: list[int] = []
    recovery: list[float] = []
    reclaimed = 0
    try:
        for run in range(runs):
            up = stack.run("up", "-d")
            assert up.code == 0, up
            sup = supervisor_pid(stack)
            sup_proc = snapshot(sup)
            assert sup_proc is not None
            old = [p for p in tagged(stack.tag) if p.pid != sup]
            os.kill(sup, signal.SIGKILL)
            wait_until(partial(gone, sup_proc), 5, "the supervisor to die")
            after_crash.append(sum(p.alive() for p in old))

            status = stack.run("status")  # R11: a dead supervisor's socket is "not running", exit 3
            assert status.code == 3, status

            mark = len(read_log(log))
            t0 = time.monotonic()
            up = stack.run("up", "-d")
            recovery.append(time.monotonic() - t0)
            survivors = [p for p in old if p.alive()]
            after_up.append(len(survivors))
            new = read_log(log)[mark:]
            new_pids = {p.pid for p in started(new)}
            old_pids = {p.pid for p in old}
            holders = {port: listener_pids(port) for port in ports}
            ok = [port for port, pids in holders.items() if pids and pids <= new_pids and not pids & old_pids]
            reclaimed += len(ok)
            assert up.code == 0, up
            assert not survivors, f"run {run}: old processes alive after the next `up`: {describe(survivors)}"
            assert len(ok) == len(ports), f"run {run}: port holders {holders}; new processes {new_pids}"
            # The old binders got their SIGTERM before anything of the new run started.
            old_terms = [e.ns for e in new if e.event == "term" and e.pid in old_pids]
            first_new = min(e.ns for e in new if e.event == "start" and e.pid in new_pids)
            assert old_terms and max(old_terms) < first_new, \
                f"run {run}: old processes stopped after the new run started"
            sups = supervisors(stack.tag)
            assert len(sups) == 1, f"run {run}: supervisors {describe(sups)}"
            assert recovery[-1] < 5.0, f"run {run}: recovery took {recovery[-1]:.2f} s"
            down(stack, ports)
    finally:
        figure("orphans_after_crash_max", max(after_crash, default=0), "processes", None)
        figure("orphans_after_next_up", sum(after_up), "processes", 0)
        figure("ports_reclaimed", round(100 * reclaimed / max(1, len(ports) * len(after_up)), 1), "%", 100)
        figure("recovery_time_p95", rounded(p95(recovery), 2), "s", 5)
        figure("runs", len(after_up), "kill -9 + up runs", runs)


# --------------------------------------------------------------------------- R01/R02/R44: crash loop


@dataclass
class Sample:
    t: float
    fds: int
    zombies: int
    threads: int
    rss_kb: int


@dataclass
class Sampler:
    """H-fd / H-zombie / H-rss of one process, every `every` s, in a thread."""

    pid: int
    every: float = 0.05
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                threads = int(next(line.split()[1] for line in
                                   Path(f"/proc/{self.pid}/status").read_text().splitlines()
                                   if line.startswith("Threads:")))
                self.samples.append(Sample(time.monotonic(), fd_count(self.pid), zombie_children(self.pid),
                                           threads, rss_kb(self.pid)))
            except (OSError, StopIteration):
                return
            self._stop.wait(self.every)

    def window(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]


def expected_backoff(failures: int, floor: float, cap: float) -> float:
    return min(floor * 2.0 ** min(failures - 1, 32), cap)


def test_crash_loop_backoff_and_no_leaks(stack: Stack, soak: bool, figure: Figure) -> None:
    """R01/R02/R44: `exit 1` after 0.05 s, forever, with backoff 10 ms doubling to 50 ms: the gaps
    between a run's exit and the next start follow the doubling and its ceiling, and the
    supervisor's fd count and zombie children stay flat (threads bounded) over ~200 (soak: 2,000)
    restarts. Ground truth: the helper's start/exit log, /proc/<supervisor>/fd and /proc/*/stat."""
    target = 2000 if soak else 200
    floor, cap = 0.010, 0.050
    log = stack.root.parent / "starts.log"
    stack.toml(f"""
[services.crash]
command = {q(f"{PY} -S {safe(CRASH)} --log {safe(log)} --name crash --after 0.05 --code 1")}
restart = "always"
backoff = "10ms"
backoff_max = "50ms"
max_restarts = 1000000
""")
    stack.run("up", "-d", "--timeout", "100ms")  # it never settles: don't wait for it
    sup = supervisor_pid(stack)
    cpu0 = proc_stat(sup)
    assert cpu0 is not None
    t0 = time.monotonic()

    def starts() -> list[Event]:
        return [e for e in read_log(log) if e.event == "start"]

    with Sampler(sup) as sampler:
        wait_until(lambda: len(starts()) >= target, target * 0.5, f"{target} starts", interval=0.1)
    elapsed = time.monotonic() - t0
    cpu1 = proc_stat(sup)
    assert cpu1 is not None
    stop = stack.run("stop", "crash")
    assert stop.code == 0, stop
    stopped_at = time.monotonic_ns()

    events = read_log(log)
    runs = [e for e in events if e.event == "start"]
    exits = {e.pid: e.ns for e in events if e.event == "exit"}
    # delay k = the wait after failure k: from run k's exit to run k+1's start
    delays = [(k + 1, (runs[k + 1].ns - exits[runs[k].pid]) / 1e9)
              for k in range(len(runs) - 1) if runs[k].pid in exits]
    early = [(k, d) for k, d in delays if d < expected_backoff(k, floor, cap) - 0.001]
    assert not early, f"restarted before the backoff: {early[:5]}"
    capped = [d for k, d in delays if k >= 4]
    excess = [(d - cap) * 1000 for d in capped]
    max_gap = max(d for _k, d in delays)
    assert max_gap < cap + 0.5, f"the backoff exceeded its ceiling: {max_gap:.3f} s"
    median_excess = statistics.median(excess)
    assert median_excess < 100, f"median delay {median_excess:.0f} ms over the ceiling"

    # fd / zombies / threads: the first window after warm-up against the last window.
    first_t = runs[min(20, len(runs) - 1)].ns / 1e9
    warm = sampler.window(first_t, first_t + 2.0)
    last = sampler.window(runs[-1].ns / 1e9 - 2.0, runs[-1].ns / 1e9)
    assert warm and last, "no fd samples"
    fd_delta = min(s.fds for s in last) - min(s.fds for s in warm)
    zombies = min(s.zombies for s in last)
    thread_delta = min(s.threads for s in last) - min(s.threads for s in warm)
    rss_delta_mb = (min(s.rss_kb for s in last) - min(s.rss_kb for s in warm)) / 1024
    cpu_s = (cpu1.cpu_ticks - cpu0.cpu_ticks) / CLK_TCK
    late = [e for e in read_log(log) if e.event == "start" and e.ns > stopped_at]

    figure("starts", len(runs), "starts", target)
    figure("restart_rate", round(len(runs) / elapsed, 1), "starts/s", None)
    figure("delay_over_ceiling_p95", rounded(p95(excess), 1), "ms", None)
    figure("max_gap", round(max_gap * 1000, 1), "ms", round((cap + 0.5) * 1000))
    figure("fd_delta", fd_delta, "fds", "0±2")
    figure("zombies", zombies, "processes", 0)
    figure("zombies_seen_max", max(s.zombies for s in sampler.samples), "processes", None)
    # The default executor adds threads on demand (at most min(32, cpus + 4)), never one per restart.
    figure("thread_delta", thread_delta, "threads", None)
    figure("rss_delta", round(rss_delta_mb, 1), "MB", None)
    figure("supervisor_cpu", round(cpu_s, 2), "s", None)
    figure("supervisor_cpu_percent", round(100 * cpu_s / elapsed, 1), "%", None)
    assert abs(fd_delta) <= 2, f"fd count grew by {fd_delta}"
    assert zombies == 0, f"{zombies} zombie children of the supervisor"
    assert max(s.threads for s in sampler.samples) <= 40, "the supervisor's threads keep growing"
    assert not late, f"{len(late)} starts after `stop` returned"


# --------------------------------------------------------------------------- restarts after a stop request


def test_no_restart_after_stop_request(stack: Stack, soak: bool, figure: Figure) -> None:
    """`devstack stop` while the service is in backoff, or launched so that it lands around the
    moment the run exits (sweeping the offset across rounds): no new start appears in its start
    log, however long one waits past the backoff, and none of its processes is left."""
    rounds = 20 if soak else 4
    backoff, after = 0.6, 0.2
    offsets = [0.05, 0.1, 0.15, 0.2, 0.25]  # s after the start: the CLI needs ~0.1 s to reach devstack
    log = stack.root.parent / "starts.log"
    stack.toml(f"""
[services.crash]
command = {q(f"{PY} -S {safe(CRASH)} --log {safe(log)} --name crash --after {after:g} --code 1")}
restart = "always"
backoff = "{backoff:g}s"
backoff_max = "{backoff:g}s"
max_restarts = 1000
""")
    late_total = 0
    for i in range(rounds):
        mode = "in-backoff" if i % 2 == 0 else f"racing-exit+{offsets[(i // 2) % len(offsets)]:g}s"
        mark = len(read_log(log))
        stack.run("up", "-d", "crash", "--timeout", "10ms")  # crash-looping: it never settles

        def event(kind: str, mark: int = mark) -> Event | None:
            return next((e for e in read_log(log)[mark:] if e.event == kind), None)

        start = wait_until(partial(event, "start"), 10, "the run to start", interval=0.002)
        assert start is not None
        if mode == "in-backoff":
            wait_until(partial(event, "exit"), 10, "the run to exit", interval=0.005)
            stack.wait_state("crash", "backoff", timeout=5)  # status only times the fault
        else:
            offset = offsets[(i // 2) % len(offsets)]
            time.sleep(max(0.0, start.ns / 1e9 + offset - time.monotonic()))
        sent = time.monotonic_ns()
        stop = stack.run("stop", "crash")
        assert stop.code == 0, stop
        # Prove an absence: watch the log until well past the backoff, failing at the first start.
        deadline = time.monotonic() + after + backoff + 0.5
        late: list[Event] = []
        while time.monotonic() < deadline and not late:
            late = [e for e in read_log(log)[mark:] if e.event == "start" and e.ns > sent]
            time.sleep(0.02)
        late_total += len(late)
        assert not late, f"round {i} ({mode}): started again after `stop`: {late}"
        children = service_procs(stack.tag)
        assert not children, f"round {i} ({mode}): alive after `stop`: {describe(children)}"
    figure("restarts_after_stop", late_total, "starts", 0)
    figure("rounds", rounds, "stop requests", None)
