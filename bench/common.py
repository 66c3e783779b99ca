"""What every workload of the benchmark shares: the tools under test, figures, the table.

A workload module (bench/w1_relay.py, ...) exposes

    WORKLOAD = "W1"
    TITLE = "log relay"
    def run(bench: Bench) -> None

and inside `run` loops `for rep in bench.reps():`, running devstack and each peer in turn in
every repetition (A B C, A B C, ...), recording values with `bench.add(...)`. Values that are
the same workload's floor (what no tool can beat) are added with tool="floor".
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS_VENV = BENCH / ".peers"  # honcho and supervisord from PyPI, apart from devstack's own venv
NODE_DIR = BENCH / ".node"  # concurrently from npm
PY = sys.executable  # the Python that runs devstack (the project venv)


@dataclass
class Figure:
    workload: str
    metric: str
    tool: str
    unit: str
    values: list[float] = field(default_factory=list)
    target: str = ""  # e.g. "≤ 2.0× floor", only on devstack's rows

    @property
    def median(self) -> float:
        return statistics.median(self.values)


class Bench:
    def __init__(self, repetitions: int, quick: bool, scratch: Path) -> None:
        self.repetitions = repetitions
        self.quick = quick  # shorter workloads (fewer lines, shorter idle windows) for a smoke run
        self.scratch = scratch
        self.figures: dict[tuple[str, str, str], Figure] = {}
        self.notes: list[str] = []
        self.peers = Peers()

    def reps(self) -> range:
        return range(self.repetitions)

    def workdir(self, name: str) -> Path:
        """A fresh empty folder for one run of one tool."""
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.scratch))
        return path

    def add(self, workload: str, metric: str, tool: str, value: float, unit: str, target: str = "") -> None:
        key = (workload, metric, tool)
        fig = self.figures.get(key)
        if fig is None:
            fig = self.figures[key] = Figure(workload, metric, tool, unit, target=target)
        fig.values.append(value)

    def note(self, text: str) -> None:
        self.notes.append(text)


# ----------------------------------------------------------------------------- peers


class Peers:
    """honcho, supervisord/supervisorctl and concurrently, installed once into bench/.peers and
    bench/.node (pip and npm from their registries). A peer that cannot be installed is None."""

    def __init__(self) -> None:
        self._installed = False

    def install(self) -> None:
        if self._installed:
            return
        self._installed = True
        bin_dir = PEERS_VENV / "bin"
        if not (bin_dir / "supervisord").exists() or not (bin_dir / "honcho").exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
            subprocess.run([str(bin_dir / "pip"), "install", "-q", "honcho", "supervisor"], check=True)
        if shutil.which("npm") and not (NODE_DIR / "node_modules" / ".bin" / "concurrently").exists():
            NODE_DIR.mkdir(exist_ok=True)
            subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix",
                            str(NODE_DIR), "concurrently@9"], check=False)

    def tool(self, name: str) -> str | None:
        self.install()
        path = (NODE_DIR / "node_modules" / ".bin" / name) if name == "concurrently" \
            else (PEERS_VENV / "bin" / name)
        return str(path) if path.exists() else None

    def versions(self) -> dict[str, str]:
        out = {}
        for name, cmd in (("honcho", ["honcho", "version"]), ("supervisord", ["supervisord", "--version"]),
                          ("concurrently", ["concurrently", "--version"])):
            exe = self.tool(cmd[0])
            if exe is None:
                out[name] = "not installed"
                continue
            r = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True)
            out[name] = (r.stdout or r.stderr).strip().splitlines()[-1] if (r.stdout or r.stderr) else "?"
        return out


# ----------------------------------------------------------------------------- devstack


def devstack(root: Path, *args: str, timeout: float = 300,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`devstack ARGS` run to completion in `root` (the project's CLI, from this checkout)."""
    return subprocess.run([PY, "-m", "devstack", *args], cwd=root, capture_output=True, text=True,
                          timeout=timeout, env=env or clean_env(), stdin=subprocess.DEVNULL)


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    # Every tool runs from bytecode, as on a developer's machine (pip byte-compiles the peers).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def supervisor_pid(root: Path) -> int:
    """The pid of the detached devstack supervisor of the stack in `root`."""
    data = json.loads(devstack(root, "status", "--json").stdout)
    return int(data["supervisor"]["pid"])


# ----------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (not its children)."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def wait_until(predicate: object, timeout: float, what: str, interval: float = 0.01) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()  # type: ignore[operator]
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop_tree(proc: subprocess.Popen[bytes], sig: int = 2, timeout: float = 20) -> None:
    """Stop a tool started with start_new_session=True and anything left in its group."""
    import signal

    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(5)


# ----------------------------------------------------------------------------- the table


def machine() -> dict[str, str]:
    return {"cores": str(os.cpu_count()), "python": platform.python_version(),
            "kernel": platform.release(), "cpu": _cpu_model(),
            "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB"}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def table(bench: Bench) -> str:
    """One markdown table: every figure as median [min–max], and the ratio to the floor of the
    same workload and metric where one was measured."""
    rows = ["| workload | metric | tool | median [min–max] | × floor | devstack target |",
            "|---|---|---|---|---|---|"]
    floors = {(f.workload, f.metric): f.median for f in bench.figures.values() if f.tool == "floor"}
    for f in bench.figures.values():
        floor = floors.get((f.workload, f.metric))
        ratio = f"{f.median / floor:.2f}×" if floor and f.tool != "floor" else ""
        spread = f"{fmt(f.median)} [{fmt(min(f.values))}–{fmt(max(f.values))}] {f.unit}"
        rows.append(f"| {f.workload} | {f.metric} | {f.tool} | {spread} | {ratio} | {f.target} |")
    return "\n".join(rows)


def iter_lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from f
