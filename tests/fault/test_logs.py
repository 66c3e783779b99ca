"""Faults of a service's output: floods, a full log file, a terminal that stops reading, long,
split and unterminated lines, prompts without a newline, and terminal-control sequences.
Rows R14–R20 of tests/fault/README.md.

Ground truth never comes from devstack's status: every helper program (written into the test's
temp folder) appends its own start/done events to a side log, and its lines carry sequence
numbers, so a lost, doubled or reordered line shows in the files devstack wrote.
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

import pytest

from devstack.control.paths import StatePaths
from devstack.logs.framing import DEFAULT_MAX_LINE
from devstack.logs.writer import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES
from tests.support.figures import Figure, KnownBug, pctl
from tests.support.ground_truth import (
    Poller,
    control,
    no_traceback,
    record_time,
    rss_mb,
    side_events,
    states,
    supervisor_pid,
)
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.programs import SIDE
from tests.support.pty_harness import on_pty
from tests.support.waiting import wait_until

RECORD_HEAD = 35  # "2026-11-26T05:39:45.123456Z stdout ": what the log file adds to each line


KEPT_BYTES = (DEFAULT_BACKUPS + 1) * DEFAULT_MAX_BYTES  # what rotation promises to keep per service


# --------------------------------------------------------------------------- helper programs


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


@dataclass
class Record:
    ts: float  # POSIX seconds
    stream: str
    text: bytes


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
            out.append(Record(record_time(head) if with_ts else 0.0, stream.decode(errors="replace"), text))
    return out


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


# --------------------------------------------------------------------------- R14 + R20: floods


def check_flood(records: list[Record], name: str, n: int, line_len: int,
                rotated_away: bool) -> dict[str, int]:
    """Lost, duplicated and reordered lines of one FLOOD service, by their sequence numbers. With
    `rotated_away` only what rotation promises is checked: the kept lines are a gapless suffix
    ending at n-1."""
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


@pytest.mark.timeout(300)
@pytest.mark.soak_timeout(2400)
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


@pytest.mark.timeout(300)
@pytest.mark.soak_timeout(900)
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


@pytest.mark.timeout(300)
@pytest.mark.soak_timeout(1200)
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
    """CPU load: busy processes (tagged, so the leftover check covers them)."""
    return [subprocess.Popen([PY, "-c", "while True: pass"], env=stack.env(), stdin=subprocess.DEVNULL)
            for _ in range(count)]


@pytest.mark.timeout(300)
@pytest.mark.soak_timeout(1800)
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


@pytest.mark.soak_timeout(300)
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


# --------------------------------------------------------------------------- R18: terminal control


# Output with terminal-control sequences (R18).
ANSI = SIDE + r'''
name, side_log = sys.argv[1], sys.argv[2]
out = sys.stdout.buffer
out.write(b"sgr \x1b[31mred and never reset\n")
out.write(b"clear \x1b[2J\x1b[Hscreen cleared\n")
out.write(b"osc52 \x1b]52;c;ZXZpbA==\x07clipboard written\n")
out.write(b"title \x1b]0;pwned-title\x07title set\n")
out.write(b"cursor \x1b[5A\x1b[2Kup five and erased\n")
out.write(b"progress 10%\r20%\r30% done\n")
out.write(b"plain line after\n")
out.flush()
side(side_log, name, "printed")
while True:
    time.sleep(1)
'''


class TerminalInjection(KnownBug):
    """Fixed; raised again if it comes back. The bug was:
    R18: a service's output reaches the user's terminal with its control sequences intact. The
    foreground sink (terminal.py `TerminalSink.lines`, fed by logs.py which only replaces invalid
    UTF-8) and `devstack logs` (cli.py `logs` → click.echo, which strips nothing on a TTY) pass
    OSC 52 (clipboard write), OSC 0 (window title), ESC[2J / ESC[H (clear screen, cursor home),
    ESC[5A / ESC[2K (cursor up, erase line) and mid-line \\r through; SGR colour is not reset at
    the end of a line, so it bleeds into the next line's prefix; and .devstack/logs/NAME.log keeps
    the raw ESC bytes. R18 asks: keep SGR only (on a TTY) with ESC[0m appended per line,
    strip cursor movement, clear-screen and OSC, show the last \\r segment, no ANSI in files."""


DANGEROUS = re.compile(rb"\x1b\[2J|\x1b\[H|\x1b\]52;|\x1b\]0;|\x1b\[\d*A|\x1b\[2K")


def terminal_findings(out: bytes) -> dict[str, int]:
    lines = [line[:-1] if line.endswith(b"\r") else line for line in out.split(b"\n")]
    bleed = 0
    for line in lines:
        at = line.rfind(b"\x1b[31m")
        if at >= 0 and b"\x1b[0m" not in line[at:] and b"\x1b[m" not in line[at:]:
            bleed += 1
    return {"dangerous": len(DANGEROUS.findall(out)), "bleed": bleed,
            "carriage returns": sum(b"\r" in line for line in lines)}


def test_terminal_control_sequences_from_a_service_never_reach_the_terminal(stack: Stack,
                                                                           figure: Figure) -> None:
    """R18: a service prints SGR without a reset, clear-screen, cursor-home, OSC 52, an OSC title,
    cursor-up/erase-line and a \\r progress bar. Through the foreground `up` on a pty and through
    `devstack logs` on a pty: no dangerous sequence passes, no colour bleeds into the next line,
    and the log file holds no ESC."""
    side = stack.root / "side.log"
    stack.write("ansi.py", ANSI)
    stack.toml(f"""
[services.ansi]
command = {q([PY, "ansi.py", "ansi", str(side)])}
""")
    up_run = on_pty(stack, "up")
    up, up_master, up_out = up_run.proc, up_run.master, up_run.reader
    try:
        wait_until(lambda: b"plain line after" in up_out.data, 30, "the service's lines on the terminal")
        logs_run = on_pty(stack, "logs", "ansi", "-n", "100")
        logs, logs_master, logs_out = logs_run.proc, logs_run.master, logs_run.reader
        assert logs.wait(30) == 0
        logs_out.stop()
        os.close(logs_master)
        assert stack.run("down").code == 0
        assert up.wait(30) == 0
    finally:
        up_out.stop()
        os.close(up_master)
    from_up = terminal_findings(bytes(up_out.data))
    from_logs = terminal_findings(bytes(logs_out.data))
    in_file = (stack.root / ".devstack" / "logs" / "ansi.log").read_bytes().count(b"\x1b")
    assert b"plain line after" in logs_out.data, bytes(logs_out.data)[-2000:]
    figure("dangerous sequences passed (up)", from_up["dangerous"], "sequences of 6", 0)
    figure("dangerous sequences passed (logs)", from_logs["dangerous"], "sequences of 6", 0)
    figure("colour-bleed lines (up / logs)", f"{from_up['bleed']} / {from_logs['bleed']}", "lines", 0)
    figure("mid-line carriage returns (up / logs)",
           f"{from_up['carriage returns']} / {from_logs['carriage returns']}", "lines", 0)
    figure("ESC bytes in the log file", in_file, "bytes", 0)
    if any(from_up.values()) or any(from_logs.values()) or in_file:
        raise TerminalInjection(f"up: {from_up}; logs: {from_logs}; ESC bytes in ansi.log: {in_file}")
