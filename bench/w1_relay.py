"""W1 log relay: 4 services each print N lines of 100 bytes as fast as they can.

The figure is the time from launching the tool until the last byte of output reached its output
files: the terminal stream (the tool's stdout, redirected to a file) and, for devstack, also its
per-service log files (.devstack/logs/NAME.log*). supervisord has no terminal stream: its
per-program stdout_logfile files are its output. Timing does not burn CPU: file sizes are polled
every 5 ms, noting the last instant any of them grew; the run is over when every writer has said
it is done (a line in a side file) and the sizes were stable for 0.5 s.

Each line is b"w1a 000012345 xxx…x\\n" (service, sequence number, padding to 100 bytes). After
each run every line must be in the output exactly once, whole, in order per service (and for
devstack both in the terminal stream and in the log files); anything else counts as a lost line.

The floor is the same 4 writers with their stdout appended straight to one file.
The writers stay alive after writing (honcho stops everything as soon as one process exits).

"bare relay" is a yardstick, not a peer: the least a Python relay doing devstack's job costs here
(BARE_RELAY: `python -I -S`, no asyncio, no checks, no rotation, no terminal thread; each pipe's
complete lines with devstack's prefixes to the terminal stream and to one log file per service).
What devstack spends beyond it is devstack's own; what the bare relay spends beyond the floor is
Python's start-up and the kernel's copying (every byte read once, written twice).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import fleet
from common import PY, Bench, cpu_seconds, stop_tree
from fleet import DEVSTACK

WORKLOAD = "W1"
TITLE = "log relay"

NAMES = ["w1a", "w1b", "w1c", "w1d"]
LINE_BYTES = 100
PAD = b"x" * (LINE_BYTES - len(b"w1a 000000000 \n"))

WRITER = r'''
import sys, time
name, count, done = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
pad = b"x" * (100 - len(name) - 12)
out = sys.stdout.buffer
BATCH = 1000  # lines per write: 100 kB
for start in range(0, count, BATCH):
    block = memoryview(b"".join(b"%s %09d %s\n" % (name, i, pad)
                                for i in range(start, min(count, start + BATCH))))
    while block:
        n = out.write(block)  # unbuffered (-u) stdout is raw: a write may be partial
        block = block[n if n is not None else 0:]
out.flush()
with open(done, "a") as f:
    f.write(sys.argv[1] + "\n")
while True:  # stay up: honcho stops every process as soon as one exits
    time.sleep(3600)
'''

BARE_RELAY = r'''
import json, os, selectors, subprocess, sys, time
log_dir, services = sys.argv[1], json.loads(sys.argv[2])
selector = selectors.DefaultSelector()
for name, argv in services.items():
    r, w = os.pipe()
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.STDOUT)
    os.close(w)
    log = os.open(os.path.join(log_dir, name + ".log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    selector.register(r, selectors.EVENT_READ, [name.encode(), log, b""])
while True:
    for key, _ in selector.select():
        state = key.data
        chunk = os.read(key.fd, 1 << 16)
        if not chunk:
            selector.unregister(key.fd)
            continue
        data = state[2] + chunk
        cut = data.rfind(b"\n") + 1
        state[2] = data[cut:]
        if cut:
            block, now = data[: cut - 1], time.time()
            clock = time.strftime("%H:%M:%S ", time.localtime(now)).encode()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)).encode()
            stamp += b".%06dZ stdout " % (now % 1 * 1e6)
            for fd, prefix in ((1, clock + state[0] + b" | "), (state[1], stamp)):
                os.write(fd, prefix + block.replace(b"\n", b"\n" + prefix) + b"\n")
'''
BARE = "bare relay"
WITH_LOG_FILES = (DEVSTACK, BARE)  # tools that also write .devstack/logs/NAME.log*

# What each tool puts before a service's line in its output (the name is filled in), and the
# least number of bytes that prefix can have (to tell "still arriving" from "arrived").
PREFIX = {
    DEVSTACK: (rb"\d\d:\d\d:\d\d {name} *\| ", 20),
    "devstack logs": (rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z stdout ", 35),
    "honcho": (rb"\d\d:\d\d:\d\d {name}\.1 *\| ", 18),
    "concurrently": (rb"\[{name}\] ", 6),
    "supervisord": (rb"", 0),
    "floor": (rb"", 0),
}
PREFIX[BARE] = PREFIX[DEVSTACK]  # the bare relay prints devstack's terminal prefix


def run(bench: Bench) -> None:
    lines = 25_000 if bench.quick else 250_000
    timeout = 60.0 if bench.quick else 180.0
    writer = bench.scratch / "w1_writer.py"
    writer.write_text(WRITER)
    tools = [DEVSTACK, *fleet.peers_available(bench, WORKLOAD), BARE, "floor"]
    bench.note(f"W1: {len(NAMES)} services × {lines:,} lines of {LINE_BYTES} B; relay time = launch → last "
               "byte in the tool's output files (sizes polled every 5 ms); supervisord has no terminal "
               "stream, so its per-program stdout_logfile files are its output; devstack's figure covers "
               "both its terminal stream and its .devstack/logs files. 'lost lines' counts lines missing "
               "(a torn line is missing whole), duplicated or out of order. CPU is the supervising "
               "process's own (not the writers'), from its start (or from its first output) until the "
               "last line arrived.")
    failures = fleet.Failures(bench, WORKLOAD)
    for rep in bench.reps():
        for tool in tools:
            with failures.guard(tool, rep):
                one_run(bench, tool, writer, lines, timeout)
    failures.check()


def one_run(bench: Bench, tool: str, writer: Path, lines: int, timeout: float) -> None:
    workdir = bench.workdir(f"w1-{tool}")
    done = workdir / "done.txt"
    done.touch()
    services = {name: [PY, str(writer), name, str(lines), str(done)] for name in NAMES}
    out = workdir / "stdout.txt"
    groups = _outputs(tool, workdir, out, lines)
    proc = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        launched = time.monotonic()
        if tool == "floor":
            with open(out, "ab") as sink:
                for argv in services.values():
                    procs.append(subprocess.Popen(argv, cwd=workdir, env=fleet.bench_env(),
                                                  stdin=subprocess.DEVNULL, stdout=sink,
                                                  stderr=subprocess.STDOUT, start_new_session=True))
        elif tool == BARE:
            relay = workdir / "bare_relay.py"
            relay.write_text(BARE_RELAY)
            log_dir = workdir / ".devstack" / "logs"
            log_dir.mkdir(parents=True)
            proc = fleet.spawn([PY, "-I", "-S", str(relay), str(log_dir), json.dumps(services)], workdir, out)
            procs.append(proc)
        else:
            proc = fleet.launch(bench, tool, workdir, services, out)
            procs.append(proc)
        first: list[float] = []  # the supervisor's CPU seconds when its first output appeared

        def at_first_output() -> None:
            if proc is not None and proc.poll() is None:
                first.append(cpu_seconds(proc.pid))

        finished = _watch(groups, done, launched, timeout, procs, at_first_output)
        cpu = cpu_seconds(proc.pid) if proc is not None and proc.poll() is None else None
    finally:
        if tool in ("floor", BARE):
            for p in procs:
                stop_tree(p, sig=signal.SIGTERM)
        elif proc is not None:
            fleet.stop(tool, proc, workdir)
        fleet.sweep(bench, workdir, f"W1 {tool}")
    if finished is None:
        size = sum(_size(p) for g in groups for p in g[0]())
        bench.note(f"W1 {tool}: TIMEOUT — not every line had arrived {timeout:g} s after launch "
                   f"({size / 1e6:.1f} of at least {sum(g[1] for g in groups) / 1e6:.1f} MB); no figure "
                   "recorded for this run")
        return
    target = tool == DEVSTACK
    bench.add(WORKLOAD, "relay time", tool, finished - launched, "s", "≤ 2.0× floor" if target else "")
    millions = lines * len(NAMES) / 1e6
    if cpu is not None:
        bench.add(WORKLOAD, "CPU per 1M lines", tool, cpu / millions, "s", "≤ 0.75 s" if target else "")
        if first:
            relay_cpu = (cpu - first[0]) / millions
            bench.add(WORKLOAD, "CPU per 1M lines, after first output", tool, relay_cpu, "s")
    lost = _verify(bench, tool, tool, groups[0][0](), lines)
    if tool != "floor":
        bench.add(WORKLOAD, "lost lines", tool, lost, "lines", "0" if target else "")
    if tool in WITH_LOG_FILES:
        lost = _verify(bench, "devstack logs", f"{tool} log files", groups[1][0](), lines)
        bench.add(WORKLOAD, "lost lines, log files", tool, lost, "lines", "0" if target else "")
    shutil.rmtree(workdir, ignore_errors=True)  # ~100-250 MB of output per run


# ----------------------------------------------------------------------------- where output goes


Group = tuple[Callable[[], list[Path]], int]  # the files (found anew on each call), least bytes


def _outputs(tool: str, workdir: Path, out: Path, lines: int) -> list[Group]:
    """The groups of files that must all hold every line; the first is the terminal stream."""
    def least(key: str) -> int:
        return lines * len(NAMES) * (LINE_BYTES + PREFIX[key][1])

    if tool == "supervisord":
        logs = [fleet.supervisord_log(workdir, n) for n in NAMES]
        return [(lambda: logs, least(tool))]
    groups: list[Group] = [(lambda: [out], least(tool))]
    if tool in WITH_LOG_FILES:
        log_dir = workdir / ".devstack" / "logs"
        groups.append((lambda: _devstack_logs(log_dir), least("devstack logs")))
    return groups


def _devstack_logs(log_dir: Path) -> list[Path]:
    """Every service's log files, each service's oldest rotated file first (NAME.log.3 … NAME.log)."""
    files = []
    for name in NAMES:
        rotated = sorted(log_dir.glob(f"{name}.log.*"), key=lambda p: -int(p.suffix[1:]))
        files += [*rotated, log_dir / f"{name}.log"]
    return files


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _watch(groups: list[Group], done: Path, launched: float, timeout: float,
           procs: list[subprocess.Popen[bytes]], at_first_output: Callable[[], None]) -> float | None:
    """Poll sizes every 5 ms; the instant of the last growth once everything has arrived, or None
    on timeout. Arrived: every writer is done and sizes were stable for 0.5 s (5 s if a group is
    still smaller than its least possible size, i.e. a tool that is only slow, not stuck)."""
    sizes = [0] * len(groups)
    last_growth = launched
    while True:
        now = time.monotonic()
        current = [sum(_size(p) for p in files()) for files, _ in groups]
        if current != sizes:
            if not any(sizes):
                at_first_output()
            sizes, last_growth = current, now
        if now - launched > timeout:
            return None
        writers_done = len(done.read_bytes().splitlines()) >= len(NAMES)
        if writers_done:
            short = any(size < least for size, (_, least) in zip(sizes, groups, strict=True))
            if now - last_growth >= (5.0 if short else 0.5):
                return last_growth
        elif any(p.poll() is not None for p in procs):
            codes = [p.poll() for p in procs]
            raise RuntimeError(f"the tool exited (code {codes}) before the writers were done")
        time.sleep(0.005)


# ----------------------------------------------------------------------------- checking every line


def _verify(bench: Bench, key: str, who: str, files: list[Path], lines: int) -> int:
    """Lines not in `files` exactly once, whole and in order per service; notes what went wrong."""
    pattern, _ = PREFIX.get(key, PREFIX["floor"])
    prefixes = {name: re.compile(pattern.replace(b"{name}", name.encode())) for name in NAMES}
    seqs: dict[str, list[int]] = {name: [] for name in NAMES}
    torn: dict[str, int] = dict.fromkeys(NAMES, 0)
    samples: list[bytes] = []
    ok_prefix: set[tuple[bytes, str]] = set()
    for path in files:
        if not path.exists():
            continue
        with open(path, "rb") as f:
            for raw in f:
                line = raw[:-1] if raw.endswith(b"\n") else raw
                tail = line[-(LINE_BYTES - 1):]
                name = tail[:3].decode(errors="replace")
                whole = (raw.endswith(b"\n") and len(tail) == LINE_BYTES - 1 and tail.endswith(PAD)
                         and name in seqs and tail[3:4] == b" " and tail[4:13].isdigit()
                         and tail[13:14] == b" ")
                if whole:
                    prefix = line[:-(LINE_BYTES - 1)]
                    if (prefix, name) not in ok_prefix:
                        if prefixes[name].fullmatch(prefix):
                            ok_prefix.add((prefix, name))
                        else:
                            whole = False
                if whole:
                    seqs[name].append(int(tail[4:13]))
                elif b"xxxxxxxxxx" in line or re.search(rb"w1[a-d] \d", line):
                    owner = next((n for n in NAMES if n.encode() in line), NAMES[0])
                    torn[owner] += 1
                    if len(samples) < 2:
                        samples.append(raw[:150])
    bad = 0
    problems = []
    for name in NAMES:
        got = seqs[name]
        distinct = set(got)
        missing = lines - len(distinct & set(range(lines)))
        dups = len(got) - len(distinct)
        disorder = sum(1 for a, b in itertools.pairwise(got) if b < a)
        n_bad = missing + dups + disorder  # a torn line is also missing: counted once
        bad += n_bad
        if n_bad or torn[name]:
            problems.append(f"{name}: {missing} missing, {dups} duplicated, {disorder} out of order, "
                            f"{torn[name]} torn/merged")
    if problems:
        example = f"; e.g. {' / '.join(repr(x) for x in samples)}" if samples else ""
        bench.note(f"W1 {who}: lines not relayed exactly once, whole, in order — " + "; ".join(problems)
                   + example)
    return bad
