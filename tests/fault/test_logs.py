"""Fault rows R14+R20 (floods, a full log file), R19 (a terminal that stops reading), R15–R17
(framing under load), R23+R24 (localhost and impostors), R12+R40 (racing `up -d`, restarts
during `down`) and R41+R42 (Ctrl-C twice, terminal close) against the real CLI.

Ground truth never comes from devstack's status: every helper program (written into the test's
temp folder) appends its own start/bind/done events to a side log, lines carry sequence numbers,
survivors are counted by the test's env tag in /proc/*/environ, live instances by sampling /proc.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.control.paths import StatePaths
from devstack.errors import DevstackError
from devstack.logs.framing import DEFAULT_MAX_LINE
from devstack.logs.writer import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES
from tests.support.ground_truth import (
    Poller,
    SideEvent,
    cmdline,
    control,
    is_background_supervisor,
    lock_is_free,
    pctl,
    rss_mb,
    states,
    supervisor_pid,
)
from tests.support.harness import PY, Stack, q
from tests.support.ports import can_bind_ipv6, free_port
from tests.support.pty_harness import on_pty
from tests.support.waiting import wait_until

Figure = Callable[..., None]
RECORD_HEAD = 35  # "2026-11-26T05:39:45.123456Z stdout ": what the log file adds to each line
KEPT_BYTES = (DEFAULT_BACKUPS + 1) * DEFAULT_MAX_BYTES  # what rotation promises to keep per service


class KnownBug(AssertionError):
    """The failure an xfail test of this file documents as a devstack bug. Those tests are marked
    `raises=KnownBug`, so any other failure (a broken helper, a timeout) still fails loudly."""


# --------------------------------------------------------------------------- helper programs

# Every helper appends "<name> <event> <pid> <monotonic_ns> <wall_ns> [detail]" to the side log
# given on its command line: the ground truth for starts, binds and the end of a flood.
SIDE = r'''
import os, time
def side(path, name, event, detail=""):
    with open(path, "a") as f:
        f.write(f"{name} {event} {os.getpid()} {time.monotonic_ns()} {time.time_ns()} {detail}\n")
'''

FLOOD = SIDE + r'''
import sys
name, total, line_len, side_log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
go = sys.argv[5] if len(sys.argv) > 5 else None
side(side_log, name, "start")
while go and not os.path.exists(go):  # the test says when: after its samplers run
    time.sleep(0.01)
side(side_log, name, "go")
out = sys.stdout.buffer
head = name.encode()
pad = b"x" * (line_len - len(head) - 16)
n = total // line_len
for first in range(0, n, 2000):
    out.write(b"".join(b"%s seq=%09d %s\n" % (head, i, pad) for i in range(first, min(n, first + 2000))))
out.flush()
side(side_log, name, "done", str(n))
print(f"{name} done {n}", flush=True)
time.sleep(3600)
'''

HEARTBEAT = SIDE + r'''
import http.server, sys, threading
port, side_log, hz = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
side(side_log, "hb", "start")
i, period, due = 0, 1.0 / hz, time.monotonic()
while True:
    print(f"hb seq={i} t={time.time_ns()}", flush=True)
    i += 1
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
'''


def flood_line(name: str, seq: int, line_len: int) -> bytes:
    """The text of one FLOOD line (without its newline), as the helper writes it."""
    return b"%s seq=%09d %s" % (name.encode(), seq, b"x" * (line_len - len(name) - 16))


# --------------------------------------------------------------------------- ground truth


def side_events(path: Path) -> list[SideEvent]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        parts = line.split(" ", 5)
        if len(parts) >= 5:
            events.append(SideEvent(parts[0], parts[1], int(parts[2]), int(parts[3]), int(parts[4]),
                                    parts[5].strip() if len(parts) > 5 else ""))
    return events


@dataclass
class Record:
    ts: float  # POSIX seconds
    stream: str
    text: bytes


def _ts(head: bytes) -> float:
    from datetime import datetime

    return datetime.fromisoformat(head.decode().replace("Z", "+00:00")).timestamp()


def kept_records(log_dir: Path, name: str, with_ts: bool = False) -> list[Record]:
    """Every record of a service's kept files, oldest file first, as raw bytes."""
    files = [log_dir / f"{name}.log.{i}" for i in range(DEFAULT_BACKUPS, 0, -1)] + [log_dir / f"{name}.log"]
    out: list[Record] = []
    for path in files:
        if not path.is_file():
            continue
        data = path.read_bytes()
        for raw in data.split(b"\n")[:-1]:
            head, _, rest = raw.partition(b" ")
            stream, _, text = rest.partition(b" ")
            out.append(Record(_ts(head) if with_ts else 0.0, stream.decode(errors="replace"), text))
    return out


def tagged_pids(tag: str, pids: list[int] | None = None) -> list[int]:
    """Live (non-zombie) processes whose environment carries the test's tag (H-tag)."""
    needle = f"DEVSTACK_TEST_RUN={tag}".encode()
    found = []
    for pid in pids if pids is not None else [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
        except OSError:
            continue
        found.append(pid)
    return found


@dataclass
class StatusSample:
    t0: float  # monotonic, request sent
    ms: float
    states: dict[str, str]
    health: dict[str, str | None] = field(default_factory=dict)
    address: dict[str, str | None] = field(default_factory=dict)
    rss_mb: float = 0.0


def status_sampler(stack: Stack, supervisor_pid: int | None = None) -> Callable[[], StatusSample]:
    def sample() -> StatusSample:
        t0 = time.monotonic()
        data = control(stack, "status")
        ms = (time.monotonic() - t0) * 1000
        return StatusSample(t0, ms, states(data),
                            {s["name"]: s["health"]["status"] for s in data["services"]},
                            {s["name"]: s["health"]["address"] for s in data["services"]},
                            rss_mb(supervisor_pid) if supervisor_pid else 0.0)

    return sample


def no_traceback(stack: Stack) -> None:
    events = (stack.root / ".devstack" / "logs" / "devstack.log")
    text = events.read_text(errors="replace") if events.exists() else ""
    out = stack.root / ".devstack" / "supervisor.out"
    text += out.read_text(errors="replace") if out.exists() else ""
    assert "Traceback" not in text, text[-3000:]


# --------------------------------------------------------------------------- R14 + R20: floods


def check_flood(records: list[Record], name: str, n: int, line_len: int,
                rotated_away: bool) -> dict[str, int]:
    """Lost, duplicated and reordered lines of one FLOOD service (H-seq). With `rotated_away`
    only what rotation promises is checked: the kept lines are a gapless suffix ending at n-1."""
    prefix = name.encode() + b" seq="
    lines = [r.text for r in records if r.text.startswith(prefix)]
    seqs = [int(t[len(prefix):len(prefix) + 9]) for t in lines]
    distinct = set(seqs)
    first = seqs[0] if (rotated_away and seqs) else 0
    expected = list(range(first, n))
    reorders = sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
    corrupt = sum(1 for s, t in zip(seqs, lines, strict=True) if t != flood_line(name, s, line_len))
    return {"lost": len(set(expected) - distinct), "duplicates": len(seqs) - len(distinct),
            "reorders": reorders, "corrupt": corrupt, "kept": len(seqs), "first": first}


def flood_stack(stack: Stack, floods: list[str], size: int, line_len: int,
                after_hb: bool) -> tuple[int, Path, Path]:
    """A heartbeat service `hb` (HTTP probe every 200 ms) and flood services that wait for the
    `go` file; returns (hb's port, the side log, the go file)."""
    port = free_port()
    stack.write("flood.py", FLOOD)
    stack.write("heartbeat.py", HEARTBEAT)
    side, go = stack.root / "side.log", stack.root / "go"
    dep = 'depends_on = { hb = "healthy" }\n' if after_hb else ""
    stack.toml(f"""
[services.hb]
command = {q([PY, "heartbeat.py", str(port), str(side), "10"])}
health = {{ http = "http://127.0.0.1:{port}/", interval = "200ms", timeout = "1s" }}
""" + "".join(f"""
[services.{name}]
command = {q([PY, "flood.py", name, str(size), str(line_len), str(side), str(go)])}
{dep}""" for name in floods))
    return port, side, go


def test_flood_keeps_every_line_and_status_stays_fast(stack: Stack, figure: Figure, soak: bool) -> None:
    """R14: two services flood at full speed (CI ~50 MB, soak 1 GB) next to a heartbeat service
    whose HTTP probe must stay healthy, while `status` is polled over the control socket."""
    per_service = 500_000_000 if soak else 25_000_000
    line_len = 100
    n = per_service // line_len
    _port, side, go = flood_stack(stack, ["floodA", "floodB"], per_service, line_len, after_hb=True)
    assert stack.run("up", "-d").code == 0
    pid = supervisor_pid(stack)
    poller = Poller(status_sampler(stack, pid), 0.02)
    poller.start()
    wait_until(lambda: len(poller.results) >= 3, 10, "the status poller to run")
    started = time.monotonic()
    go.touch()
    try:
        wait_until(lambda: sum(e.event == "done" for e in side_events(side)) == 2, 1800 if soak else 120,
                   "both floods to finish")
        flood_s = time.monotonic() - started
        log_dir = stack.root / ".devstack" / "logs"
        wait_until(lambda: all(f"{s} done {n}" in stack.log_text(s) for s in ("floodA", "floodB")), 30,
                   "the floods' last lines in their files")
    finally:
        poller.stop()
    samples: list[StatusSample] = poller.results
    assert not poller.errors, poller.errors[:5]
    assert len(samples) >= 10, f"only {len(samples)} status samples during the flood"
    not_healthy = [s for s in samples if s.states["hb"] != "healthy" or s.health["hb"] != "OK"]
    results = {s: check_flood(kept_records(log_dir, s), s, n, line_len, rotated_away=soak)
               for s in ("floodA", "floodB")}
    hb = [r for r in kept_records(log_dir, "hb", with_ts=True) if r.text.startswith(b"hb seq=")]
    hb_seqs = [int(r.text.split()[1][4:]) for r in hb]
    hb_lag = [r.ts * 1000 - int(r.text.split()[2][2:]) / 1e6 for r in hb]
    lost = sum(r["lost"] + r["duplicates"] + r["reorders"] + r["corrupt"] for r in results.values())
    status_ms = [s.ms for s in samples]
    figure("flood volume", round(2 * per_service / 1e6), "MB", None)
    figure("flood throughput", round(2 * per_service / 1e6 / flood_s, 1), "MB/s", None)
    figure("flood lines lost (file)", lost, f"lines of {2 * n}" if not soak else "lines (kept files)", 0)
    figure("heartbeat lines lost (file)", len(set(range(hb_seqs[0], hb_seqs[-1] + 1)) - set(hb_seqs)),
           f"lines of {len(hb_seqs)}", 0)
    figure("heartbeat line lag p99", round(pctl(hb_lag, 99), 1), "ms", 500)
    figure("heartbeat probe not healthy", len(not_healthy), f"samples of {len(samples)}", 0)
    figure("status p99 during flood", round(pctl(status_ms, 99), 1), "ms", 200)
    figure("supervisor RSS max", round(max(s.rss_mb for s in samples), 1), "MB", 100)
    for name, r in results.items():
        assert r["lost"] == r["duplicates"] == r["reorders"] == r["corrupt"] == 0, (name, r)
        if soak:  # rotation promises the backups full (whole records only) plus the current file
            per_file = DEFAULT_MAX_BYTES // (line_len + RECORD_HEAD) - 1
            assert r["kept"] >= DEFAULT_BACKUPS * per_file, (name, r)
        else:
            assert r["kept"] == n, (name, r)
    assert hb_seqs == list(range(hb_seqs[0], hb_seqs[-1] + 1)) and hb_seqs[0] == 0
    assert not not_healthy, not_healthy[:5]
    assert pctl(status_ms, 99) < 200, sorted(status_ms)[-10:]
    assert pctl(hb_lag, 99) < 500, sorted(hb_lag)[-10:]
    assert max(s.rss_mb for s in samples) < 100
    sizes = sum(p.stat().st_size for p in log_dir.iterdir() if p.name.startswith("flood"))
    assert sizes <= 2 * KEPT_BYTES, f"log dir holds {sizes} bytes, cap {2 * KEPT_BYTES}"
    no_traceback(stack)


def full_disk_stack(stack: Stack, size: int) -> tuple[Path, Path]:
    """hb (probed) + `sink`, whose log file is /dev/full (every write: ENOSPC) + `witness`; both
    flood `size` bytes once the test touches the go file."""
    port = free_port()
    stack.write("flood.py", FLOOD)
    stack.write("heartbeat.py", HEARTBEAT)
    side, go = stack.root / "side.log", stack.root / "go"
    log_dir = stack.root / ".devstack" / "logs"
    log_dir.mkdir(parents=True)
    # A device node of /dev/full itself (a symlink to it would be refused: R21's O_NOFOLLOW).
    if os.geteuid() != 0:
        pytest.skip("needs root to create a /dev/full device node as the log file (CI runs as root)")
    full = os.stat("/dev/full").st_rdev
    os.mknod(log_dir / "sink.log", stat.S_IFCHR | 0o600, full)
    stack.toml(f"""
[services.hb]
command = {q([PY, "heartbeat.py", str(port), str(side), "10"])}
health = {{ http = "http://127.0.0.1:{port}/", interval = "200ms", timeout = "1s" }}

[services.sink]
command = {q([PY, "flood.py", "sink", str(size), "200", str(side), str(go)])}

[services.witness]
command = {q([PY, "flood.py", "witness", str(size), "200", str(side), str(go)])}
""")
    return side, go


def test_full_log_file_never_stops_devstack_or_the_service(stack: Stack, figure: Figure, soak: bool) -> None:
    """R20: a service's log file is /dev/full. devstack and the service keep running, the other
    services' files stay complete, and the heartbeat stays healthy."""
    size = 200_000_000 if soak else 10_000_000
    n = size // 200
    side, go = full_disk_stack(stack, size)
    assert stack.run("up", "-d").code == 0
    pid = supervisor_pid(stack)
    sink_pid = stack.service("sink")["pid"]
    poller = Poller(status_sampler(stack, pid), 0.02)
    poller.start()
    wait_until(lambda: len(poller.results) >= 3, 10, "the status poller to run")
    go.touch()
    try:
        wait_until(lambda: sum(e.event == "done" for e in side_events(side)) == 2, 600 if soak else 60,
                   "both floods to finish")
        wait_until(lambda: f"witness done {n}" in stack.log_text("witness"), 30, "witness's last line")
        # Past devstack's 1 s retry of the failing file, at least twice.
        deadline = time.monotonic() + 2.5
        wait_until(lambda: time.monotonic() > deadline and len(poller.results) > 50, 30, "more samples")
    finally:
        poller.stop()
    samples: list[StatusSample] = poller.results
    log_dir = stack.root / ".devstack" / "logs"
    witness = check_flood(kept_records(log_dir, "witness"), "witness", n, 200, rotated_away=soak)
    starts = [e for e in side_events(side) if e.event == "start"]
    bad = [s for s in samples if s.states != {"hb": "healthy", "sink": "running", "witness": "running"}]
    figure("devstack crashes on ENOSPC", 0 if os.path.exists(f"/proc/{pid}") else 1, "crashes", 0)
    figure("other services' lines lost", witness["lost"] + witness["duplicates"] + witness["reorders"],
           f"lines of {n}", 0)
    figure("samples with a service not up", len(bad), f"samples of {len(samples)}", 0)
    figure("status p99 with a full log file", round(pctl([s.ms for s in samples], 99), 1), "ms", 200)
    assert not poller.errors, poller.errors[:5]
    assert supervisor_pid(stack) == pid
    assert stack.service("sink")["pid"] == sink_pid and stack.service("sink")["restarts"] == 0
    assert sorted(e.name for e in starts) == ["hb", "sink", "witness"], starts
    assert witness["lost"] == witness["duplicates"] == witness["reorders"] == witness["corrupt"] == 0
    assert soak or witness["kept"] == n
    assert not bad, bad[:3]
    assert (log_dir / "sink.log").is_char_device()  # never replaced, never rotated away
    no_traceback(stack)


def test_full_log_file_is_reported(stack: Stack, figure: Figure) -> None:
    """R20: the user is told that a service's lines are not being kept, once, in devstack.log or
    in status, instead of losing them silently."""
    side, go = full_disk_stack(stack, 1_000_000)
    assert stack.run("up", "-d").code == 0
    go.touch()
    wait_until(lambda: sum(e.event == "done" for e in side_events(side)) == 2, 60, "both floods to finish")

    def reported() -> bool:
        said = (stack.root / ".devstack" / "logs" / "devstack.log").read_text(errors="replace")
        shown = json.dumps(stack.status())
        words = ("ENOSPC", "No space left", "not writable", "logging degraded")
        return any(word in said + shown for word in words)

    try:
        wait_until(reported, 5, "devstack to report the failing log file")
        figure("full log file reported", 1, "y/n", 1)
    except AssertionError as exc:
        figure("full log file reported", 0, "y/n", 1)
        raise KnownBug(str(exc)) from None


# --------------------------------------------------------------------------- R19: a stalled terminal

TERMINAL_LINE = re.compile(rb"^\d\d:\d\d:\d\d (\S+)\s*\| (.*)$")
FELL_BEHIND = re.compile(rb"the terminal fell behind: (\d+) lines not shown here")


def http_get_ms(port: int, timeout: float = 2.0) -> float:
    """One GET of the heartbeat's endpoint, straight from the test (not through devstack)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.0 200"), data[:100]
    return (time.monotonic() - started) * 1000


def unread_bytes(fd: int) -> int:
    import fcntl
    import termios

    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


class Drain(threading.Thread):
    """Reads a file descriptor to EOF into memory (once the test wants it read)."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.data = bytearray()
        self.lock = threading.Lock()

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:  # EIO: the pty's other side is gone
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def text(self) -> bytes:
        with self.lock:
            return bytes(self.data)


def test_terminal_that_stops_reading_never_stalls_services(stack: Stack, figure: Figure, soak: bool) -> None:
    """R19: foreground `devstack up` with stdout on a pipe nobody reads, during a flood. The
    services never stall, the files keep every line, and once the pipe is read again the
    terminal says how many lines it dropped, exactly as many as it did not show."""
    size = 200_000_000 if soak else 10_000_000
    line_len = 200
    n = size // line_len
    port, side, go = flood_stack(stack, ["flood"], size, line_len, after_hb=False)
    read_end, write_end = os.pipe()
    err = open(stack.root.parent / "up.err", "wb")  # noqa: SIM115 - closed below
    up = subprocess.Popen([PY, "-m", "devstack", "up"], cwd=stack.root, env=stack.env(),
                          stdin=subprocess.DEVNULL, stdout=write_end, stderr=err, start_new_session=True)
    stack.background.append(up)
    os.close(write_end)
    drain = Drain(read_end)
    try:
        wait_until(lambda: StatePaths.of(stack.root).socket.exists() and supervisor_pid(stack), 30,
                   "the foreground supervisor's socket")
        wait_until(lambda: states(control(stack, "status")) == {"hb": "healthy", "flood": "running"}, 30,
                   "hb healthy and flood running")
        pid = supervisor_pid(stack)
        poller = Poller(status_sampler(stack, pid), 0.05)
        probe = Poller(lambda: (time.monotonic(), http_get_ms(port)), 0.05)
        poller.start()
        probe.start()
        go_at = time.time()
        go.touch()
        wait_until(lambda: any(e.event == "done" for e in side_events(side)), 600 if soak else 60,
                   "the flood to finish while nobody reads the terminal")
        wait_until(lambda: f"flood done {n}" in stack.log_text("flood"), 30, "the flood's last line")
        stalled_until = time.monotonic() + 2.0  # the heartbeat must keep coming with the pipe full
        wait_until(lambda: time.monotonic() > stalled_until, 5, "two more seconds of heartbeats")
        pipe_full = unread_bytes(read_end)
        probe.stop()
        poller.stop()
        log_dir = stack.root / ".devstack" / "logs"
        hb = [r for r in kept_records(log_dir, "hb", with_ts=True)
              if r.text.startswith(b"hb seq=") and r.ts >= go_at]
        gaps = [(b.ts - a.ts) * 1000 for a, b in itertools.pairwise(hb)]
        flood = check_flood(kept_records(log_dir, "flood"), "flood", n, line_len, rotated_away=soak)
        # Now read the terminal again: the drop must be reported.
        drain.start()
        wait_until(lambda: FELL_BEHIND.search(drain.text()), 30, "the 'terminal fell behind' line")
        up.send_signal(signal.SIGINT)
        code = up.wait(30)
        drain.join(10)
    finally:
        err.close()
        if not drain.is_alive():
            with contextlib.suppress(OSError):
                os.close(read_end)
    out = drain.text()
    shown = reported = 0
    for line in out.split(b"\n"):
        match = TERMINAL_LINE.match(line)
        if match is None:
            continue
        behind = FELL_BEHIND.search(line)
        if behind and match.group(1) == b"devstack":
            reported += int(behind.group(1))
        else:
            shown += 1
    # Lines handed to the terminal: the flood's n + its "done" line (rotation may have dropped
    # some from the files in the soak variant), and every heartbeat and devstack record.
    sent = n + 1 + sum(len(kept_records(log_dir, s)) for s in ("hb", "devstack"))
    probe_ms = [ms for _t, ms in probe.results]
    figure("pipe bytes unread while stalled", pipe_full, "bytes", None)
    figure("file lines lost (flood)", flood["lost"] + flood["duplicates"] + flood["reorders"],
           f"lines of {n}", 0)
    figure("service stall (max heartbeat gap - 100 ms)", round(max(gaps) - 100, 1), "ms", 500)
    figure("heartbeat GET p99 while stalled", round(pctl(probe_ms, 99), 1), "ms", 100)
    figure("terminal drops reported", reported, "lines", None)
    figure("terminal drops measured", sent - shown, "lines", reported)
    assert code == 130, (code, out[-2000:])
    assert not poller.errors and not probe.errors, (poller.errors[:3], probe.errors[:3])
    assert all(s.states == {"hb": "healthy", "flood": "running"} and s.health["hb"] == "OK"
               for s in poller.results), [s for s in poller.results if s.health["hb"] != "OK"][:3]
    assert flood["lost"] == flood["duplicates"] == flood["reorders"] == flood["corrupt"] == 0, flood
    assert soak or flood["kept"] == n, flood
    assert len(hb) >= 15 and max(gaps) < 600, (len(hb), sorted(gaps)[-5:])
    assert pctl(probe_ms, 99) < 100, sorted(probe_ms)[-5:]
    assert reported > 0, "the pipe never filled: nothing was dropped"
    assert reported == sent - shown, (reported, sent, shown)
    assert b"Traceback" not in out
    no_traceback(stack)


# --------------------------------------------------------------------------- R15–R17: framing


def framing_plan(k: int, max_line: int) -> tuple[list[tuple[int, bytes, float]], list[tuple[str, bytes]]]:
    """Iteration k of the framing helper: (writes as (fd, bytes, pause after), expected records).

    The helper runs the writes; the test compares the file with the expected records, which
    spell out the promise: lines whole up to `max_line`, longer ones in `max_line` pieces."""
    tag = b"%04d" % k

    def body(kind: bytes, length: int) -> bytes:
        head, tail = b"<%s %s " % (kind, tag), b" %s %s>" % (kind, tag)
        unit = b"%s.%s.0123456789abcdefghijklmnopqrstuvwxyz|" % (kind, tag)
        fill = length - len(head) - len(tail)
        return head + (unit * (fill // len(unit) + 1))[:fill] + tail

    def pieces(line: bytes) -> list[bytes]:
        if len(line) <= max_line:
            return [line]
        return [line[i:i + max_line] for i in range(0, len(line), max_line)]

    writes: list[tuple[int, bytes, float]] = []
    out: list[tuple[str, bytes]] = []
    writes.append((1, b"begin %s\n" % tag, 0.0))
    out.append(("stdout", b"begin %s" % tag))
    l70 = body(b"L70", 70_000)  # past asyncio's 64 KiB readline limit; arrives in odd chunks
    for a, b in ((0, 1), (1, 4096), (4096, 65_536 + 7), (65_543, 70_000)):
        writes.append((1, l70[a:b], 0.005))
    writes.append((1, b"\n", 0.0))
    out.append(("stdout", l70))
    for kind, length in ((b"L1M", 1_000_000), (b"LMiB", max_line), (b"LMiB1", max_line + 1),
                         (b"L3M", 3_000_000)):
        line = body(kind, length)
        for i in range(0, length, 300_000):
            writes.append((1, line[i:i + 300_000], 0.0))
        writes.append((1, b"\n", 0.0))
        out.extend(("stdout", p) for p in pieces(line))
    # A multibyte character split across writes (… = e2 80 a6), a 4-byte one split in three.
    writes += [(1, b"utf8 %s \xe2\x80" % tag, 0.03), (1, b"\xa6 end\n", 0.0)]
    out.append(("stdout", b"utf8 %s \xe2\x80\xa6 end" % tag))
    writes += [(1, b"emoji %s \xf0\x9f" % tag, 0.02), (1, b"\x98", 0.02), (1, b"\x80!\n", 0.0)]
    out.append(("stdout", b"emoji %s \xf0\x9f\x98\x80!" % tag))
    writes.append((1, b"nul %s a\x00b\x00\x00c\n" % tag, 0.0))
    out.append(("stdout", b"nul %s a\x00b\x00\x00c" % tag))
    bad = b"bad %s \xff\xfe\xc3( \xe2\x80 ok" % tag  # invalid UTF-8: U+FFFD, documented in logs.py
    writes.append((1, bad + b"\n", 0.0))
    out.append(("stdout", bad.decode("utf-8", "replace").encode()))
    writes.append((1, b"crlf %s\r\n" % tag, 0.0))
    out.append(("stdout", b"crlf %s" % tag))
    writes.append((2, b"err %s\n" % tag, 0.0))
    out.append(("stderr", b"err %s" % tag))
    writes.append((2, b"err-trail %s" % tag, 0.0))  # no final newline on stderr either
    out.append(("stderr", b"err-trail %s" % tag))
    writes.append((1, b"trail %s end" % tag, 0.0))  # no final newline, then exit at once
    out.append(("stdout", b"trail %s end" % tag))
    return writes, out


# Taken once, at import: the helper runs the very function the test checks against.
FRAMING_PLAN_SOURCE = inspect.getsource(framing_plan)


def framing_helper() -> str:
    return SIDE + FRAMING_PLAN_SOURCE + r'''
import sys
side_log, gates, max_line = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = 1 + sum(" start " in line for line in open(side_log)) if os.path.exists(side_log) else 1
side(side_log, "frame", "start", str(k))
while not os.path.exists(os.path.join(gates, f"go.{k}")):
    time.sleep(0.005)
writes, _ = framing_plan(k, max_line)
for fd, data, pause in writes:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    if pause:
        time.sleep(pause)
'''


def file_tail(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - size))
            return f.read()
    except OSError:
        return b""


def cpu_load(stack: Stack, count: int) -> list[subprocess.Popen[bytes]]:
    """H-load: busy processes (tagged, so the leftover check covers them)."""
    return [subprocess.Popen([PY, "-c", "while True: pass"], env=stack.env(), stdin=subprocess.DEVNULL)
            for _ in range(count)]


def test_framing_of_long_split_and_unterminated_lines(stack: Stack, figure: Figure, soak: bool) -> None:
    """R15–R17: per iteration, 70 KB / 1 MB / 1 MiB / 1 MiB+1 / 3 MB lines, a character split
    across writes, NUL bytes, invalid UTF-8, CRLF, stderr, and a last line without a newline
    right before exit, under CPU load. Each iteration is one run of a restart="always" service."""
    iterations = 100 if soak else 10
    stack.write("frame.py", framing_helper())
    side, gates = stack.root / "side.log", stack.root / "gates"
    gates.mkdir()
    stack.toml(f"""
[services.frame]
command = {q([PY, "frame.py", str(side), str(gates), str(DEFAULT_MAX_LINE)])}
restart = "always"
backoff = "10ms"
backoff_max = "20ms"
""")
    assert stack.run("up", "-d").code == 0
    log_dir = stack.root / ".devstack" / "logs"
    load = cpu_load(stack, (os.cpu_count() or 2) if soak else 1)
    lost_bytes = trailing_lost = broken = 0
    expected_bytes = 0
    failures: list[str] = []
    try:
        for k in range(1, iterations + 1):
            def started(k: int = k) -> bool:
                return any(e.event == "start" and e.detail == str(k) for e in side_events(side))

            def finished(k: int = k) -> bool:  # both streams' unterminated last lines, flushed at EOF
                tail = file_tail(log_dir / "frame.log")
                return b" stdout trail %04d end\n" % k in tail and b" stderr err-trail %04d\n" % k in tail

            wait_until(started, 30, f"framing run {k} to start")
            (gates / f"go.{k}").touch()
            try:
                wait_until(finished, 30, f"run {k}'s last line")
            except AssertionError:
                trailing_lost += 1
            _writes, expected = framing_plan(k, DEFAULT_MAX_LINE)
            records = kept_records(log_dir, "frame")
            begin = [i for i, r in enumerate(records) if r.text == b"begin %04d" % k]
            run = records[begin[-1]:] if begin else []  # the next run waits for its go file
            for stream in ("stdout", "stderr"):
                want = [t for s, t in expected if s == stream]
                got = [r.text for r in run if r.stream == stream]
                expected_bytes += sum(len(t) for t in want)
                missing = [t for t in want if t not in got]
                lost_bytes += sum(len(t) for t in missing)
                broken += sum(1 for t in want if t.startswith((b"utf8", b"emoji")) and t not in got)
                if got != want:
                    failures.append(f"run {k} {stream}: {len(missing)} of {len(want)} records differ; first "
                                    f"got {[g[:40] for g in got if g not in want][:3]}")
    finally:
        for proc in load:
            proc.kill()
            proc.wait(5)
    logs = stack.run("logs", "frame", "-n", "30")
    figure("iterations", iterations, "runs", None)
    figure("bytes lost", lost_bytes, f"bytes of {expected_bytes}", 0)
    figure("trailing lines lost", trailing_lost, f"of {iterations}", 0)
    figure("broken multibyte joins", broken, f"of {2 * iterations}", 0)
    assert not failures, failures[:5]
    assert lost_bytes == trailing_lost == broken == 0
    assert logs.code == 0 and f"trail {iterations:04d} end" in logs.out, logs.text[-500:]
    no_traceback(stack)


PROMPT = SIDE + r"""
import sys
side_log, k = sys.argv[1], 0
while True:  # one prompt per second, each on a line that ends only when the "answer" comes
    k += 1
    side(side_log, "prompt", "ask", str(k))
    sys.stdout.write(f"prompt {k:04d}> ")
    sys.stdout.flush()
    time.sleep(1.0)
    print("answer", flush=True)
"""


def test_unfinished_line_is_shown_after_a_short_idle(stack: Stack, figure: Figure, soak: bool) -> None:
    """R15 (prompts): a service prints `prompt NNNN> ` without a newline and waits. The prompt must
    reach the terminal (a real pty) and the log file in < 500 ms, marked partial, and the rest of
    the line must still arrive as its own line."""
    prompts = 30 if soak else 5
    stack.write("prompt.py", PROMPT)
    side = stack.root / "side.log"
    stack.toml(f"""
[services.prompt]
command = {q([PY, "prompt.py", str(side)])}
""")
    run = on_pty(stack, "up")
    log = stack.root / ".devstack" / "logs" / "prompt.log"
    terminal_ms: list[float] = []
    file_ms: list[float] = []
    try:
        for k in range(1, prompts + 1):
            text = b"prompt %04d> " % k
            asked = wait_until(lambda k=k: next((e for e in side_events(side) if e.detail == str(k)), None),  # type: ignore[misc]
                               30, f"prompt {k} to be asked", interval=0.002)
            seen: dict[str, float] = {}

            def shown(text: bytes = text, seen: dict[str, float] = seen) -> bool:
                now = time.time()
                if "terminal" not in seen and text in run.reader.data:
                    seen["terminal"] = now
                if "file" not in seen and text in file_tail(log):
                    seen["file"] = now
                return len(seen) == 2

            wait_until(shown, 5, f"prompt {k} on the terminal and in the file", interval=0.002)
            terminal_ms.append((seen["terminal"] - asked.wall_ns / 1e9) * 1000)
            file_ms.append((seen["file"] - asked.wall_ns / 1e9) * 1000)
        wait_until(lambda: b"stdout answer\n" in file_tail(log), 5, "the rest of the line")
        records = [r.text for r in kept_records(stack.root / ".devstack" / "logs", "prompt")]
        assert b"prompt 0001>  [partial]" in records, records[:5]
        assert records[records.index(b"prompt 0001>  [partial]") + 1] == b"answer", records[:5]
    finally:
        os.killpg(run.proc.pid, signal.SIGINT)
        run.proc.wait(15)
        run.reader.stop()
        os.close(run.master)
    figure("partial-line display latency p95, terminal", round(pctl(terminal_ms, 95), 1), "ms", 500)
    figure("partial-line display latency p95, file", round(pctl(file_ms, 95), 1), "ms", 500)
    assert max(terminal_ms) < 500 and max(file_ms) < 500, (terminal_ms, file_ms)


# --------------------------------------------------------------------------- R23 + R24: localhost, impostors

SERVE = SIDE + r'''
import socket, sys, threading
name, port, bind, side_log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
close_when = sys.argv[6] if len(sys.argv) > 6 else ""
side(side_log, name, "start")
time.sleep(delay)
if bind == "v4":
    s = socket.socket(socket.AF_INET)
    address = ("127.0.0.1", port)
else:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if bind == "v6" else 0)
    address = ("::1" if bind == "v6" else "::", port)
s.bind(address)
s.listen(64)
side(side_log, name, "bind", bind)

def serve():
    while True:
        try:
            conn, _ = s.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(4096)
                body = name.encode()
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass

threading.Thread(target=serve, daemon=True).start()
while True:
    if close_when and os.path.exists(close_when):
        s.shutdown(socket.SHUT_RDWR)
        s.close()
        side(side_log, name, "closed")
        close_when = ""
    time.sleep(0.01)
'''

V6_REASON = "this machine cannot bind ::1, so the IPv6 cases cannot run"
needs_v6 = pytest.mark.skipif(not can_bind_ipv6(), reason=V6_REASON)
PROBE_HOSTS = {"localhost": "localhost", "v4": "127.0.0.1", "v6": "[::1]"}


def probe_reaches(bind: str, host: str) -> bool:
    """Does a listener bound as `bind` answer a probe of `host` (the truth the test expects)."""
    return bind == "dual" or host == "localhost" or host == bind


def lenient_sampler(stack: Stack) -> Callable[[], tuple[float, float, dict[str, Any]] | None]:
    """A status sample (t sent, t answered, raw status) or None while no supervisor answers yet."""
    def sample() -> tuple[float, float, dict[str, Any]] | None:
        t0 = time.monotonic()
        try:
            data = control(stack, "status", timeout=5)
        except DevstackError:
            return None
        return t0, time.monotonic(), data

    return sample


@pytest.mark.parametrize("bind", ["v4", pytest.param("v6", marks=needs_v6),
                                  pytest.param("dual", marks=needs_v6)])
def test_localhost_and_literal_probes_per_bind_family(stack: Stack, figure: Figure, bind: str) -> None:
    """R24: a service bound to 127.0.0.1 only, ::1 only, or dual-stack (:: without V6ONLY), probed as
    `localhost`, `127.0.0.1` and `[::1]`: healthy exactly when the probe can reach it."""
    stack.write("serve.py", SERVE)
    side = stack.root / "side.log"
    ports = {host: free_port() for host in PROBE_HOSTS}
    toml = ""
    for host, literal in PROBE_HOSTS.items():
        toml += f"""
[services.{host}]
command = {q([PY, "serve.py", host, str(ports[host]), bind, str(side)])}
max_restarts = 1
health = {{ http = "http://{literal}:{ports[host]}/", start_period = "2s", interval = "200ms" }}
"""
    stack.toml(toml)
    poller = Poller(lenient_sampler(stack), 0.02)
    poller.start()
    try:
        stack.run("up", "-d")
        final = stack.status()
    finally:
        poller.stop()
    samples = [s for s in poller.results if s is not None]
    binds = {e.name: e.mono_ns / 1e9 for e in side_events(side) if e.event == "bind"}
    false_healthy = false_unhealthy = 0
    for host in PROBE_HOSTS:
        healthy_at = [t1 for _t0, t1, data in samples if states(data)[host] == "healthy"]
        state = states(final)[host]
        if probe_reaches(bind, host):
            false_unhealthy += state != "healthy"
            if healthy_at:
                figure(f"time to healthy after bind, {bind} server, probe {PROBE_HOSTS[host]}",
                       round((healthy_at[0] - binds[host]) * 1000), "ms", None)
        else:
            false_healthy += int(bool(healthy_at) or state == "healthy")
            assert state == "failed", (host, stack.service(host, final))
            assert stack.service(host, final)["health"]["error"], stack.service(host, final)
    figure(f"false-healthy, {bind} server", false_healthy, "services", 0)
    figure(f"false-unhealthy, {bind} server", false_unhealthy, "services", 0)
    assert false_healthy == 0 and false_unhealthy == 0, final
    no_traceback(stack)


def start_impostor(stack: Stack, port: int, bind: str, side: Path) -> subprocess.Popen[bytes]:
    """A server that is not the service, on the probed port, started before `up` (tagged)."""
    stack.write("serve.py", SERVE)
    proc = subprocess.Popen([PY, "serve.py", "impostor", str(port), bind, str(side)], cwd=stack.root,
                            env=stack.env(), stdin=subprocess.DEVNULL)
    stack.background.append(proc)
    wait_until(lambda: any(e.name == "impostor" and e.event == "bind" for e in side_events(side)), 10,
               "the impostor to listen")
    return proc


def stop_impostor(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)


OTHER = {"v4": "v6", "v6": "v4"}


@needs_v6
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_impostor_on_the_other_family_never_makes_localhost_healthy(stack: Stack, figure: Figure,
                                                                    family: str) -> None:
    """R23: an impostor answers 200 on the other address family of the probed port before `up`; the
    service binds its own family only 1.5 s after it starts, and the probe says `localhost`. No
    status may say healthy before the service really listens; after that it must say healthy."""
    port = free_port()
    side = stack.root / "side.log"
    impostor = start_impostor(stack, port, OTHER[family], side)
    try:
        stack.toml(f"""
[services.api]
command = {q([PY, "serve.py", "api", str(port), family, str(side), "1.5"])}
health = {{ http = "http://localhost:{port}/", interval = "200ms" }}
""")
        poller = Poller(lenient_sampler(stack), 0.02)
        poller.start()
        try:
            assert stack.run("up", "-d").code == 0
        finally:
            poller.stop()
        bound = next(e.mono_ns / 1e9 for e in side_events(side) if e.name == "api" and e.event == "bind")
        # One more sample once `up -d` has returned: it may return within the poller's interval.
        samples = [s for s in [*poller.results, lenient_sampler(stack)()] if s is not None]
        early = [(t1, data) for _t0, t1, data in samples if t1 < bound and states(data)["api"] == "healthy"]
        seen = [data for _t0, t1, data in samples if t1 < bound]
        blamed = any(f"answered by pid {impostor.pid}" in (s["health"]["error"] or "")
                     for data in seen for s in data["services"])
        first = next(t1 for _t0, t1, data in samples if states(data)["api"] == "healthy")
        figure(f"false-healthy before the {family} service listens", len(early), f"samples of {len(seen)}", 0)
        figure(f"time to healthy after bind ({family} service)", round((first - bound) * 1000), "ms", None)
        figure(f"impostor named in status ({family} service)", int(blamed), "y/n", 1)
        assert not early, early[:2]
        assert len(seen) >= 10, "too few samples before the service listened"
        assert stack.service("api")["state"] == "healthy"
        assert blamed, [s["health"] for data in seen[-3:] for s in data["services"]]
    finally:
        stop_impostor(impostor)
    no_traceback(stack)


def impostor_on_probed_family(stack: Stack, family: str) -> tuple[str, int, Any]:
    """The service binds `family` at once; the probe dials the *other* family's literal address,
    where only an impostor (started before `up`) answers."""
    port = free_port()
    side = stack.root / "side.log"
    other = OTHER[family]
    impostor = start_impostor(stack, port, other, side)
    stack.toml(f"""
[services.api]
command = {q([PY, "serve.py", "api", str(port), family, str(side)])}
max_restarts = 1
health = {{ http = "http://{PROBE_HOSTS[other]}:{port}/", start_period = "2s", interval = "200ms" }}
""")
    poller = Poller(lenient_sampler(stack), 0.02)
    poller.start()
    try:
        stack.run("up", "-d")
        final = stack.status()
    finally:
        poller.stop()
        stop_impostor(impostor)
    healthy = [s[2] for s in poller.results if s is not None and states(s[2])["api"] == "healthy"]
    return states(final)["api"], len(healthy), healthy[:1]


IMPOSTOR_BY_PORT = ("listeners.find_impostor() trusts any listener of the service's tree on the probed "
                    "*port*, whatever its address: a service on 127.0.0.1:P makes an impostor's answer on "
                    "[::1]:P count as healthy")
IMPOSTOR_ONLY_AT_START = ("impostors are looked for only while a service is starting (service.py "
                          "_probe_loop): once healthy, an impostor on the other family keeps a `localhost` "
                          "probe passing after the service stopped listening")


@needs_v6
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_impostor_on_the_probed_family_is_never_healthy(stack: Stack, figure: Figure, family: str) -> None:
    """R23: the service listens on one family, the probe dials the other family's literal address
    (127.0.0.1 or [::1]) and only an impostor answers there: the service must never be healthy."""
    state, healthy_samples, example = impostor_on_probed_family(stack, family)
    figure(f"false-healthy samples, {family} service, impostor probed", healthy_samples, "samples", 0)
    if healthy_samples or state != "failed":
        raise KnownBug(f"api is {state}, healthy in {healthy_samples} samples, e.g. {example}")


@needs_v6
def test_service_that_stops_listening_behind_an_impostor_goes_unhealthy(stack: Stack, figure: Figure) -> None:
    """R23: healthy service on 127.0.0.1, impostor on [::1], probe `localhost`. The service closes its
    listener but keeps running: the state must leave `healthy` within interval × retries."""
    family = "v4"
    port = free_port()
    side = stack.root / "side.log"
    trigger = stack.root / "close-now"
    impostor = start_impostor(stack, port, OTHER[family], side)
    try:
        stack.toml(f"""
[services.api]
command = {q([PY, "serve.py", "api", str(port), family, str(side), "0", str(trigger)])}
health = {{ http = "http://localhost:{port}/", interval = "200ms", retries = 2 }}
""")
        assert stack.run("up", "-d").code == 0
        assert stack.service("api")["state"] == "healthy"
        trigger.touch()
        wait_until(lambda: any(e.event == "closed" for e in side_events(side)), 10, "the service to close")
        closed = time.monotonic()
        try:
            wait_until(lambda: stack.service("api")["state"] != "healthy", 5, "api to leave healthy")
            figure(f"ms until unhealthy after the {family} service stopped listening",
                   round((time.monotonic() - closed) * 1000), "ms", 1000)
        except AssertionError:
            figure(f"ms until unhealthy after the {family} service stopped listening", None,
                   "ms (never)", 1000)
            still = stack.service("api")
            raise KnownBug(f"api still healthy 5 s after it stopped listening: {still}") from None
    finally:
        stop_impostor(impostor)


# --------------------------------------------------------------------------- R12 + R40: races

SERVICE = SIDE + r"""
import signal, socket, sys
name, side_log, port, stop_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
stopping = False

def on_term(*_):
    global stopping
    side(side_log, name, "term")
    if stopping or stop_s < 0:  # stop_s < 0: ignore SIGTERM (only SIGKILL ends it)
        return
    stopping = True
    time.sleep(stop_s)  # a service that takes a while to stop
    side(side_log, name, "exit")
    os._exit(0)

signal.signal(signal.SIGTERM, on_term)
side(side_log, name, "start")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
side(side_log, name, "bind")
while True:
    time.sleep(1)
"""


def instances(tag: str, marker: str) -> list[int]:
    """Live processes of the test's tag whose command line holds `marker` (cheap filter first)."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return tagged_pids(tag, [p for p in pids if marker in cmdline(p)])


def background_supervisors(tag: str) -> list[int]:
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return tagged_pids(tag, [p for p in pids if is_background_supervisor(p)])


@dataclass
class Timed:
    started: float
    ended: float
    code: int
    text: str


def barrier_run(stack: Stack, commands: list[tuple[list[str], float]]) -> list[Timed]:
    """Run the CLI commands on threads released together by a barrier (each after its delay)."""
    barrier = threading.Barrier(len(commands))
    results: list[Timed | None] = [None] * len(commands)

    def one(i: int, args: list[str], delay: float) -> None:
        barrier.wait()
        if delay:
            time.sleep(delay)  # part of the scenario: "a down in the middle"
        t0 = time.monotonic()
        r = stack.run(*args, timeout=120)
        results[i] = Timed(t0, time.monotonic(), r.code, r.text)

    threads = [threading.Thread(target=one, args=(i, a, d)) for i, (a, d) in enumerate(commands)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(r is not None for r in results), "a racing command never returned"
    return [r for r in results if r is not None]


def test_ten_racing_up_d_make_exactly_one_supervisor(stack: Stack, figure: Figure, soak: bool) -> None:
    """R12: 10 `devstack up -d` released by a barrier: exactly one supervisor, one start per service."""
    rounds = 20 if soak else 1
    stack.write("svc.py", SERVICE)
    side = stack.root / "side.log"
    port = free_port()
    stack.toml(f"""
[services.api]
command = {q([PY, "svc.py", "api", str(side), str(port), "0"])}
health = {{ tcp = "127.0.0.1:{port}" }}
stop_timeout = "5s"
""")
    worst_ms, bad_codes, most_supervisors, extra_spawns = 0.0, 0, 0, 0
    for _ in range(rounds):
        side.unlink(missing_ok=True)
        results = barrier_run(stack, [(["up", "-d"], 0.0)] * 10)
        wait_until(lambda: len(background_supervisors(stack.tag)) == 1, 10, "losing supervisors to exit")
        alive = background_supervisors(stack.tag)
        said = (stack.root / ".devstack" / "logs" / "devstack.log").read_text()
        runs = set(re.findall(r"supervisor (\d+) running", said))
        starts = [e for e in side_events(side) if e.event == "start"]
        worst_ms = max(worst_ms, max((r.ended - r.started) * 1000 for r in results))
        bad_codes += sum(r.code != 0 for r in results)
        most_supervisors = max(most_supervisors, len(alive), len(runs))
        extra_spawns += len(starts) - 1
        assert len(alive) == 1 and runs == {str(alive[0])}, (alive, runs)
        assert len(starts) == 1, starts
        assert all(r.code == 0 for r in results), [r.text for r in results if r.code][:3]
        assert stack.service("api")["state"] == "healthy"
        assert stack.run("down").code == 0
        (stack.root / ".devstack" / "logs" / "devstack.log").unlink()
    figure("rounds of 10 racing `up -d`", rounds, "rounds", None)
    figure("supervisors per stack (max)", most_supervisors, "supervisors", 1)
    figure("extra spawns", extra_spawns, "spawns", 0)
    figure("non-zero `up -d` exits", bad_codes, "commands", 0)
    figure("slowest racing `up -d`", round(worst_ms), "ms", None)


@dataclass
class Race:
    most: int = 0  # most api instances alive in one /proc sample
    overlaps: list[list[int]] = field(default_factory=list)
    after_down: int = 0  # spawns, or live instances, after `down` returned
    after_stopping: int = 0  # spawns after devstack logged "stopping the stack"
    outcomes: dict[str, int] = field(default_factory=dict)
    internal_errors: int = 0  # restarts answered "internal error" or "illegal transition"
    restart_starts: list[int] = field(default_factory=list)  # per round: api starts after `up -d`
    down: Timed | None = None


def restart_race(stack: Stack, stop_s: float, stop_timeout: str, with_down: bool, rounds: int) -> Race:
    """20 `restart api` released by a barrier (and, with_down, a `down` 300 ms later) while a thread
    samples /proc every 10 ms for live api processes."""
    stack.write("svc.py", SERVICE)
    side = stack.root / "side.log"
    port = free_port()
    stack.toml(f"""
[services.api]
command = {q([PY, "svc.py", "api", str(side), str(port), str(stop_s)])}
health = {{ tcp = "127.0.0.1:{port}" }}
stop_timeout = "{stop_timeout}"
""")
    race = Race()
    for _ in range(rounds):
        side.unlink(missing_ok=True)
        assert stack.run("up", "-d").code == 0
        sampler = Poller(lambda: (time.monotonic(), instances(stack.tag, "svc.py api")), 0.01)
        sampler.start()
        try:
            restart = ["restart", "api", "--timeout", "10s"]  # bounded even when the bug strikes
            commands = [(restart, 0.0)] * 20 + ([(["down"], 0.3)] if with_down else [])
            results = barrier_run(stack, commands)
            settle = time.monotonic() + 1.0  # keep sampling a while after the last command returned

            def settled(at: float = settle) -> bool:
                return time.monotonic() > at

            wait_until(settled, 5, "one more second of samples")
        finally:
            sampler.stop()
        seen: list[tuple[float, list[int]]] = sampler.results
        starts = [e for e in side_events(side) if e.event == "start"]
        race.restart_starts.append(len(starts) - 1)
        said = (stack.root / ".devstack" / "logs" / "devstack.log").read_text()
        stopping = re.findall(r"^(\S+) devstack stopping the stack$", said, re.M)
        stop_wall = _ts(stopping[-1].encode()) if stopping else float("inf")
        race.most = max(race.most, max(len(pids) for _t, pids in seen))
        race.overlaps += [pids for _t, pids in seen if len(pids) > 1][:3]
        race.after_stopping += sum(e.wall_ns / 1e9 > stop_wall for e in starts)
        for r in results[:20]:
            last = r.text.strip().splitlines()[-1][:70] if r.text.strip() else ""
            key = "exit 0" if r.code == 0 else f"exit {r.code}: {last}"
            race.outcomes[key] = race.outcomes.get(key, 0) + 1
            race.internal_errors += any(w in r.text for w in ("internal error", "illegal transition"))
        if with_down:
            race.down = down = results[-1]
            race.after_down += sum(e.mono_ns / 1e9 > down.ended for e in starts)
            race.after_down += sum(len(pids) for t, pids in seen if t > down.ended)
            assert down.code == 0, down.text
            assert not tagged_pids(stack.tag), [cmdline(p) for p in tagged_pids(stack.tag)]
        else:
            assert stack.run("down").code == 0
    return race


class DoubleCancel(KnownBug):
    """Known bug 1 of the R40 tests (see DOUBLE_CANCEL)."""


class RestartDuringDown(KnownBug):
    """Known bug 2 of the R40 tests (see RESTART_DURING_DOWN), hidden behind bug 1 until it is fixed."""


DOUBLE_CANCEL = ("Service.stop() cancels the service task again while an earlier stop is still inside "
                 "its cleanup: the second cancel aborts `_stop_child`, the old child is abandoned alive "
                 "(and never SIGKILLed), state stays healthy/starting, and the restart then spawns a second "
                 "instance (or dies in `illegal transition healthy → pending`, dropping the client's "
                 "connection)")
RESTART_DURING_DOWN = ("Supervisor.restart() checks `shutting_down` only before its stop: a restart that "
                       "was stopping api when `down` arrived starts it again after 'stopping the stack'")


def check_race(stack: Stack, race: Race) -> None:
    """Raise the known bugs' exceptions on their symptoms, which vary with timing: a second api
    next to the abandoned one, or (state left stale) restarts failing in `illegal transition`."""
    state = stack.root / ".devstack"
    texts = ""
    for path in (state / "supervisor.out", state / "logs" / "devstack.log"):
        texts += path.read_text(errors="replace") if path.exists() else ""
    broken = "Traceback" in texts or "illegal transition" in texts or "internal error" in texts
    if race.most > 1 or broken or race.internal_errors:
        raise DoubleCancel(f"{race.most} api instances at once {race.overlaps[:2]}; {race.internal_errors} "
                           f"restarts hit an internal error; tracebacks or internal errors logged: {broken}")
    if race.after_stopping:
        raise RestartDuringDown(f"{race.after_stopping} spawns after devstack began stopping the stack")
    no_traceback(stack)


def test_racing_restarts_with_a_down_in_the_middle(stack: Stack, figure: Figure, soak: bool) -> None:
    """R40: 20 `restart api` released together, a `down` 300 ms later, api taking 200 ms to stop.
    No spawn after `down` returned and nothing left behind (asserted plainly); at most one api at
    any moment and no spawn once `down` began (the known bug). With the double cancel fixed, a
    second race shows: `Supervisor.restart` does not look at `shutting_down` again after its stop,
    so a restart that was stopping when `down` arrived starts api after "stopping the stack"."""
    race = restart_race(stack, 0.2, "5s", with_down=True, rounds=10 if soak else 1)
    figure("spawns or instances after `down` returned", race.after_down, "spawns", 0)
    figure("spawns after the stack began stopping", race.after_stopping, "spawns", 0)
    figure("max concurrent api instances", race.most, "instances", 1)
    figure("restart outcomes", json.dumps(race.outcomes, sort_keys=True), "", None)
    assert race.after_down == 0
    check_race(stack, race)


def test_racing_restarts_never_run_two_instances(stack: Stack, figure: Figure, soak: bool) -> None:
    """R40: 20 `restart api` released together against a service that ignores SIGTERM (stop_timeout
    1 s), no `down`: at most one api process may be alive at any moment."""
    race = restart_race(stack, -1, "1s", with_down=False, rounds=5 if soak else 1)
    figure("max concurrent api instances (TERM ignored)", race.most, "instances", 1)
    figure("restart outcomes (TERM ignored)", json.dumps(race.outcomes, sort_keys=True), "", None)
    figure("api starts for 20 racing restarts (merged)", max(race.restart_starts), "starts", 2)
    check_race(stack, race)
    # Merged: the 20 share one restart (two when some arrive after it started the new process),
    # and every caller is told the service came back up.
    assert race.outcomes == {"exit 0": 20 * len(race.restart_starts)}, race.outcomes
    assert 1 <= max(race.restart_starts) <= 2, race.restart_starts


# --------------------------------------------------------------------------- R41 + R42: a real pty

IGNORER = SIDE + r'''
import signal, subprocess, sys
name, side_log = sys.argv[1], sys.argv[2]
role = sys.argv[3] if len(sys.argv) > 3 else "leader"
signal.signal(signal.SIGTERM, lambda *_: side(side_log, name, "term", role))
signal.signal(signal.SIGINT, lambda *_: side(side_log, name, "int", role))
side(side_log, name, "start", role)
if role == "leader":  # a child that ignores SIGTERM too, in the same group
    subprocess.Popen([sys.executable, __file__, name, side_log, "child"])
while True:
    time.sleep(1)
'''

def ignorer_stack(stack: Stack, names: list[str], stop_timeout: str) -> Path:
    stack.write("ignore_term.py", IGNORER)
    side = stack.root / "side.log"
    stack.toml("".join(f"""
[services.{name}]
command = {q([PY, "ignore_term.py", name, str(side)])}
stop_timeout = "{stop_timeout}"
""" for name in names))
    return side


def test_ctrl_c_twice_on_a_pty_kills_everything_at_once(stack: Stack, figure: Figure, soak: bool) -> None:
    """R41: foreground `up` on a real pty, services (and their children) ignore SIGTERM with
    stop_timeout 30 s. Ctrl-C to the foreground group, again 300 ms later: exit 130 within 1 s of
    the second, no traceback, nothing left, socket gone, lock free; Ctrl-C never reaches services."""
    runs = 20 if soak else 1
    names = ["api", "worker"]
    side = ignorer_stack(stack, names, "30s")
    latencies: list[float] = []
    for _ in range(runs):
        side.unlink(missing_ok=True)
        run = on_pty(stack, "up")
        try:
            wait_until(lambda: StatePaths.of(stack.root).socket.exists() and
                       states(control(stack, "status")) == dict.fromkeys(names, "running"), 30,
                       "services running")
            wait_until(lambda: sum(e.event == "start" for e in side_events(side)) == 4, 10,
                       "services and their children started")
            foreground = os.tcgetpgrp(run.master)
            assert foreground == run.proc.pid, "devstack is not the terminal's foreground group"
            os.killpg(foreground, signal.SIGINT)
            wait_until(lambda: sum(e.event == "term" for e in side_events(side)) >= 2, 10,
                       "the first Ctrl-C's orderly stop to send SIGTERM")
            time.sleep(0.3)  # the scenario: a second Ctrl-C 300 ms later
            os.killpg(foreground, signal.SIGINT)
            second = time.monotonic()
            code = run.proc.wait(30)
            latencies.append((time.monotonic() - second) * 1000)
            survivors_at_exit = tagged_pids(stack.tag)
            with contextlib.suppress(AssertionError):
                wait_until(lambda: not tagged_pids(stack.tag), 2, "killed services to be gone")
        finally:
            run.reader.stop()
            os.close(run.master)
        out = bytes(run.reader.data)
        ints = [e for e in side_events(side) if e.event == "int"]
        assert code == 130, (code, out[-1500:])
        assert b"Traceback" not in out, out[-3000:].decode(errors="replace")
        assert b"SIGINT received" in out and b"killing every service now" in out, out[-1500:]
        assert not survivors_at_exit, [cmdline(p) for p in survivors_at_exit]
        assert not StatePaths.of(stack.root).socket.exists()
        assert lock_is_free(stack.root)
        assert not ints, ints
        no_traceback(stack)
    figure("runs", runs, "runs", None)
    figure("ms from the 2nd Ctrl-C to exit (max)", round(max(latencies)), "ms", 1000)
    figure("ms from the 2nd Ctrl-C to exit (p95)", round(pctl(latencies, 95)), "ms", 1000)
    figure("survivors after exit", 0, "processes", 0)
    figure("tracebacks", 0, "tracebacks", 0)
    assert max(latencies) < 1000, latencies


def test_closing_the_terminal_stops_an_attached_stack(stack: Stack, figure: Figure, soak: bool) -> None:
    """R42 attached: foreground `up` on a pty, then the terminal is closed (master fd closed, so
    the kernel sends SIGHUP): the same orderly stop as Ctrl-C, nothing left, socket gone."""
    runs = 20 if soak else 1
    stack.write("svc.py", SERVICE)
    side = stack.root / "side.log"
    ports = [free_port(), free_port()]
    stack.toml("".join(f"""
[services.{name}]
command = {q([PY, "svc.py", name, str(side), str(port), "0.1"])}
health = {{ tcp = "127.0.0.1:{port}" }}
""" for name, port in zip(["api", "web"], ports, strict=True)))
    stop_ms: list[float] = []
    for _ in range(runs):
        side.unlink(missing_ok=True)
        (stack.root / ".devstack" / "logs" / "devstack.log").unlink(missing_ok=True)
        run = on_pty(stack, "up")
        try:
            wait_until(lambda: StatePaths.of(stack.root).socket.exists() and
                       states(control(stack, "status")) == {"api": "healthy", "web": "healthy"}, 30,
                       "services healthy")
        finally:
            run.reader.stop()
        os.close(run.master)  # the terminal window closes
        closed = time.monotonic()
        code = run.proc.wait(30)
        stop_ms.append((time.monotonic() - closed) * 1000)
        survivors = tagged_pids(stack.tag)
        said = (stack.root / ".devstack" / "logs" / "devstack.log").read_text()
        exits = [e for e in side_events(side) if e.event == "exit"]
        assert not survivors, [cmdline(p) for p in survivors]
        assert "SIGHUP received" in said and "all services stopped" in said, said[-1000:]
        assert len(exits) == 2, exits  # each service got its SIGTERM and stopped on its own
        assert not StatePaths.of(stack.root).socket.exists()
        assert lock_is_free(stack.root)
        assert code == 129, code
        no_traceback(stack)
    figure("runs", runs, "runs", None)
    figure("orphans after terminal close (attached)", 0, "processes", 0)
    figure("ms from terminal close to exit (max)", round(max(stop_ms)), "ms", None)


def test_closing_the_terminal_leaves_a_detached_stack_running(stack: Stack, figure: Figure) -> None:
    """R42 detached: `up -d` runs on a pty that is closed while it still waits for the services; the
    supervisor survives, and `status` from another process shows the services up."""
    stack.write("serve.py", SERVE)
    side = stack.root / "side.log"
    port = free_port()
    stack.toml(f"""
[services.api]
command = {q([PY, "serve.py", "api", str(port), "v4", str(side), "2"])}
health = {{ http = "http://127.0.0.1:{port}/" }}
""")
    run = on_pty(stack, "up", "-d")
    try:
        wait_until(lambda: StatePaths.of(stack.root).socket.exists() and supervisor_pid(stack), 30,
                   "the detached supervisor")
        pid = supervisor_pid(stack)
        assert run.proc.poll() is None, "`up -d` returned before the terminal was closed"
        assert states(control(stack, "status"))["api"] == "starting"
    finally:
        run.reader.stop()
    os.close(run.master)
    cli_code = run.proc.wait(10)
    wait_until(lambda: stack.service("api")["state"] == "healthy", 30,
               "api healthy after the terminal closed")
    outside = stack.run("status", "--json")
    survived = os.path.exists(f"/proc/{pid}") and supervisor_pid(stack) == pid
    figure("detached supervisor survives terminal close", int(survived), "y/n", 1)
    figure("`up -d` exit on terminal close", cli_code, "code", None)
    assert survived
    assert outside.code == 0 and json.loads(outside.out)["services"][0]["state"] == "healthy", outside.text
    no_traceback(stack)
