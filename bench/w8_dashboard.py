"""W8 the dashboard (`devstack ui`) and the startup timeline's port watch, devstack only.

- state change → DOM: a service is SIGKILLed; the supervisor stamps its event line
  (devstack.log, "svc was killed…"); a MutationObserver in the open page stamps the moment the
  row's data-state changes (Date.now(), the same wall clock). Median of the samples.
- idle: 10 services with an HTTP probe every 2 s, the dashboard with one page open for 30 s:
  the dashboard process's CPU seconds; and the supervisor's CPU over the same 30 s, side by side
  with 30 s before the dashboard was started (no page, no subscriber).
- flood: a service prints 10,000 lines/s for 10 s with a page open: lines lost from its log file
  (counted), the supervisor's CPU for the flood with and without a page, the pane's line count
  (it keeps a bound), and the page's answer time to a script call during the flood (responsive).
- relay: 200,000 lines as fast as a service can print them, time from the first to the last line
  in the log file, with the page open and without (W1's figure, here in one run, side by side).
- port watch: CPU of one connect attempt to a closed loopback port, as the timeline makes them
  while a service with a `port` starts (engine/timeline.py), and what a 60 s start costs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from common import PY, Bench, cpu_seconds, devstack, supervisor_pid, wait_until
from kit import bench_env, devstack_events, free_port, reap

WORKLOAD = "W8"
TITLE = "dashboard and timeline"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

SERVER = r"""
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""

# Paced: `rate` lines per second for `seconds` (each line numbered), once trigger.txt exists.
FLOOD = r"""
import os, sys, time
rate, seconds, unpaced = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "fast"
go = f"go-{sys.argv[3]}.txt"
while not os.path.exists(go):
    time.sleep(0.01)
total = int(rate * seconds)
out = sys.stdout
start = time.monotonic()
pad = "x" * 80
for i in range(total):
    out.write(f"line {i:08d} {pad}\n")
    if not unpaced and i % 100 == 99:
        out.flush()
        ahead = start + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
out.flush()
print("flood done", flush=True)
while True:
    time.sleep(3600)
"""

OBSERVE = """() => {
  window.__changes = [];
  new MutationObserver((records) => {
    for (const r of records)
      window.__changes.push([r.target.dataset.service, r.target.dataset.state, Date.now()]);
  }).observe(document.querySelector('#services tbody'),
             {attributes: true, subtree: true, attributeFilter: ['data-state']});
}"""


def run(bench: Bench) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        bench.note("W8: skipped, playwright is not installed")
        return
    if chromium is None:
        bench.note("W8: skipped, Chromium is not installed")
        return
    bench.add(WORKLOAD, "port watch: CPU per connect attempt", "devstack", _port_attempt_us(), "µs")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            for _ in bench.reps():
                _state_to_dom(bench, browser)
                _idle(bench, browser)
                _flood(bench, browser)
        finally:
            browser.close()


def _port_attempt_us() -> float:
    from devstack.engine.timeline import PORT_CADENCE, answered, dial

    port = free_port()  # nobody listens: refused, as while a service starts
    n = 2000
    started = time.process_time()
    for _ in range(n):
        answered(dial(port))
    per = (time.process_time() - started) / n * 1e6
    total, t = 0, 0.0
    for until, delay in PORT_CADENCE:  # attempts in a 60 s start
        end = min(until, 60.0)
        if end > t:
            total += int((end - t) / delay)
            t = end
    print(
        f"   port watch: {per:.1f} µs per attempt; a 60 s start makes {total}: "
        f"{per * total / 1000:.1f} ms CPU"
    )
    return per


class Stack:
    def __init__(self, bench: Bench, name: str, services: dict[str, str]) -> None:
        self.root = bench.workdir(name)
        (self.root / "server.py").write_text(SERVER)
        (self.root / "flood.py").write_text(FLOOD)
        (self.root / "stack.toml").write_text(
            "".join(f"[services.{n}]\n{body}\n" for n, body in services.items())
        )
        self.ui: subprocess.Popen[str] | None = None
        self.bench = bench

    def up(self) -> None:
        r = devstack(self.root, "up", "-d", timeout=120, env=bench_env())
        if r.returncode != 0:
            raise RuntimeError(f"up -d: {r.stdout}{r.stderr}")

    def dashboard(self) -> str:
        self.ui = subprocess.Popen(
            [PY, "-m", "devstack", "ui", "--port", "0", "--no-browser"],
            cwd=self.root,
            env=bench_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.ui.stdout is not None
        return self.ui.stdout.readline().split(" ", 1)[1].strip()

    def status(self) -> dict[str, Any]:
        return json.loads(devstack(self.root, "status", "--json", env=bench_env()).stdout)  # type: ignore[no-any-return]

    def close(self, who: str) -> None:
        if self.ui is not None and self.ui.poll() is None:
            self.ui.send_signal(signal.SIGINT)
            self.ui.wait(15)
        devstack(self.root, "down", env=bench_env())
        reap(self.bench, self.root, who)


def _probed(port: int) -> str:
    return (
        f"command = {json.dumps([PY, 'server.py', str(port)])}\n"
        f'health = {{ http = "http://127.0.0.1:{port}/" }}\n'
    )


def _state_to_dom(bench: Bench, browser: Any) -> None:
    # Killed again and again: restarted at once each time, never given up on.
    again = 'max_restarts = 100\nbackoff = "100ms"\nbackoff_max = "100ms"\n'
    stack = Stack(bench, "w8-dom", {f"s{i}": _probed(free_port()) + again for i in range(3)})
    try:
        stack.up()
        page = browser.new_page()
        page.goto(stack.dashboard())
        page.wait_for_selector('tr[data-service="s0"][data-state="healthy"]')
        page.evaluate(OBSERVE)
        samples = []
        for _ in range(3 if bench.quick else 10):
            pid = next(s["pid"] for s in stack.status()["services"] if s["name"] == "s0")
            since = time.time()
            os.kill(pid, signal.SIGKILL)
            changed = wait_until(
                lambda since=since: [
                    c
                    for c in page.evaluate("window.__changes")
                    if c[0] == "s0" and c[1] != "healthy" and c[2] / 1000 >= since - 0.001
                ],
                10,
                "the row to change",
            )
            dom = changed[0][2] / 1000  # type: ignore[index]
            # This kill's line, not the previous one: the kills come ~0.4 s apart (a restart and
            # a probe), so a looser window picks up the last round's line. Stamps are to the ms.
            killed = devstack_events(stack.root, since - 0.001)
            event = next(w for w, text in killed if text.startswith("s0 was killed"))
            samples.append((dom - event) * 1000)
            page.wait_for_selector('tr[data-service="s0"][data-state="healthy"]', timeout=20_000)
            page.evaluate("window.__changes = []")
        page.close()
        print(f"   state change → DOM (ms): {[round(s) for s in samples]}")
        bench.add(
            WORKLOAD,
            "state change → DOM updated (median)",
            "devstack",
            statistics.median(samples),
            "ms",
            "≤ 200 ms",
        )
    finally:
        stack.close("W8 dom")


def _idle(bench: Bench, browser: Any) -> None:
    window = 10.0 if bench.quick else 30.0
    stack = Stack(bench, "w8-idle", {f"s{i}": _probed(free_port()) for i in range(10)})
    try:
        stack.up()
        sup = supervisor_pid(stack.root)
        time.sleep(3)
        before = cpu_seconds(sup)
        time.sleep(window)
        alone = cpu_seconds(sup) - before
        page = browser.new_page()
        page.goto(stack.dashboard())
        page.wait_for_selector('tr[data-service="s9"][data-state="healthy"]')
        time.sleep(2)
        assert stack.ui is not None
        ui_before, sup_before = cpu_seconds(stack.ui.pid), cpu_seconds(sup)
        time.sleep(window)
        ui_cpu, with_page = cpu_seconds(stack.ui.pid) - ui_before, cpu_seconds(sup) - sup_before
        page.close()
        label = f"{window:.0f} s"
        bench.add(
            WORKLOAD,
            f"idle, 10 probed services, page open {label}: dashboard CPU",
            "devstack",
            ui_cpu,
            "s",
            "≤ 0.05 s",
        )
        bench.add(WORKLOAD, f"idle {label}: supervisor CPU, no dashboard", "devstack", alone, "s")
        bench.add(WORKLOAD, f"idle {label}: supervisor CPU, dashboard + page", "devstack", with_page, "s")
    finally:
        stack.close("W8 idle")


def _flood(bench: Bench, browser: Any) -> None:
    rate, seconds = 10_000, (3.0 if bench.quick else 10.0)
    fast_lines = 50_000 if bench.quick else 200_000
    results: dict[str, dict[str, float]] = {}
    for with_page in (False, True):
        name = "page" if with_page else "none"
        stack = Stack(
            bench,
            f"w8-flood-{name}",
            {
                "paced": f"command = {json.dumps([PY, 'flood.py', str(rate), str(seconds), 'paced'])}\n",
                "fast": f"command = {json.dumps([PY, 'flood.py', str(fast_lines), '1', 'fast'])}\n",
            },
        )
        try:
            stack.up()
            page = None
            if with_page:
                page = browser.new_page()
                page.goto(stack.dashboard())
                page.wait_for_selector('tr[data-service="fast"][data-state="running"]')
            sup = supervisor_pid(stack.root)
            figures: dict[str, float] = {}
            # paced flood
            cpu0 = cpu_seconds(sup)
            (stack.root / "go-paced.txt").write_text("")
            lags = []
            log = stack.root / ".devstack" / "logs" / "paced.log"
            deadline = time.monotonic() + seconds + 60
            while b"flood done" not in _tail(log) and time.monotonic() < deadline:
                if page is not None:
                    t0 = time.monotonic()
                    page.evaluate("document.querySelectorAll('#log .line').length")
                    lags.append((time.monotonic() - t0) * 1000)
                time.sleep(0.2)
            figures["paced_cpu"] = cpu_seconds(sup) - cpu0
            figures["lost"] = rate * seconds - sum(text.count(b" line ") for text in _files(log))
            if page is not None:
                figures["pane"] = page.evaluate("document.querySelectorAll('#log .line').length")
                figures["lag"] = max(lags) if lags else 0.0
            # unpaced relay
            (stack.root / "go-fast.txt").write_text("")
            fast_log = stack.root / ".devstack" / "logs" / "fast.log"
            wait_until(lambda log=fast_log: b"flood done" in _tail(log), 300, "the fast flood", interval=0.1)
            figures["relay_s"] = _span(fast_log)
            results[name] = figures
            if page is not None:
                page.close()
        finally:
            stack.close(f"W8 flood ({name})")
    none, page_f = results["none"], results["page"]
    bench.add(
        WORKLOAD,
        f"flood {rate} lines/s, page open: lines lost from the file",
        "devstack",
        page_f["lost"],
        "lines",
        "0",
    )
    bench.add(WORKLOAD, "flood: supervisor CPU, no page", "devstack", none["paced_cpu"], "s")
    bench.add(WORKLOAD, "flood: supervisor CPU, page open", "devstack", page_f["paced_cpu"], "s")
    bench.add(
        WORKLOAD, "flood: lines kept in the pane", "devstack", page_f["pane"], "lines", "bounded (1000)"
    )
    bench.add(WORKLOAD, "flood: page answer time (max)", "devstack", page_f["lag"], "ms")
    bench.add(WORKLOAD, f"relay {fast_lines} lines, no page", "devstack", none["relay_s"], "s")
    bench.add(WORKLOAD, f"relay {fast_lines} lines, page open", "devstack", page_f["relay_s"], "s")
    bench.add(
        WORKLOAD, "relay: page open / no page", "devstack", page_f["relay_s"] / none["relay_s"], "×", "≤ 1.1"
    )


def _tail(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            return f.read()
    except OSError:
        return b""


def _files(path: Path) -> list[bytes]:
    """A log file's contents, oldest first, rotated ones (NAME.log.N … NAME.log.1) included."""
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    return [p.read_bytes() for p in [*rotated, path]]


def _span(path: Path) -> float:
    """Seconds from the first to the last flood line, by the log files' own timestamps."""
    from datetime import datetime

    stamps = [
        line.split(b" ", 1)[0] for text in _files(path) for line in text.splitlines() if b" line " in line
    ]
    first, last = (
        datetime.fromisoformat(s.decode().replace("Z", "+00:00")).timestamp() for s in (stamps[0], stamps[-1])
    )
    return last - first
