"""W7 demo stack: `devstack up -d` of the bundled demo (postgres → the Spring Boot core-api and
ai-api → frontend) until all four are healthy, against what starting them by hand allows.

devstack: the wall time of `devstack up -d`, which returns once every service is healthy (docs/cli.md);
`status --json` must then say all four are healthy.
By hand: each service is started alone, one after another (each once its dependencies are up,
as they need them), with the cwd, command and environment devstack gives it (captured once with
`devstack run NAME -- env -0`); its time is spawn → its own health check passing, polled every
5 ms with the probe from stack.toml. The floor is the critical path through stack.toml's
`depends_on` with those times (a dependent waits for `healthy`, or only for the start for
`started`), i.e. what perfect parallel start-up would give if the branches did not compete for
the CPU; "by hand, one after another" is the wall time of that sequential pass, and "by hand, in
parallel" a minimal orchestrator (each service started as soon as `depends_on` allows, checks
polled every 5 ms) whose branches do compete for the CPU, as under devstack.

Ready detection: in one extra `up -d`, a side poller GETs core-api's health URL every 2 ms from
before the launch; the time from its first passing answer to devstack's "core-api is healthy"
event is how late devstack saw the JVM ready (target ≤ 20 ms).

Runs on a copy of the demo in the scratch folder (its own .devstack state, a copy of the
initialised Postgres data); the ports are the demo's fixed ones, so the real demo must be down.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import PY, ROOT, Bench, devstack, stop_tree
from kit import bench_env, devstack_events, event_time, reap, spawn, wait_ports_free

WORKLOAD = "W7"
TITLE = "demo stack start-up"

POLL = 0.005  # s between two attempts of a by-hand health check
METRIC = "up → all 4 healthy"


@dataclass
class Service:
    name: str
    cwd: Path
    argv: list[str]
    env: dict[str, str]
    health: dict[str, object]
    depends: dict[str, str]  # name → "healthy" | "started" | "completed"
    stop_signal: int
    port: int | None


def run(bench: Bench) -> None:
    root = _copy_demo(bench)
    try:
        services = _services(root)
        ports = [s.port for s in services if s.port]
        _by_hand(root, services, ports)  # warm-up, not counted: page cache, JIT caches, Vite's deps cache
        for _ in bench.reps():
            took, ours, overhead = _devstack(bench, root, services, ports)
            alone, wall = _by_hand(root, services, ports)
            parallel, each = _in_parallel(root, services, ports)
            bench.add(WORKLOAD, METRIC, "devstack", took, "s", "≤ floor + 0.2 s")
            bench.add(WORKLOAD, METRIC, "floor", _critical_path(services, alone), "s")
            bench.add(WORKLOAD, METRIC, "by hand, one after another", wall, "s")
            bench.add(WORKLOAD, METRIC, "by hand, in parallel", parallel, "s")
            for s in services:
                bench.add(WORKLOAD, f"{s.name}: spawn → healthy", "devstack", ours[s.name], "s")
                bench.add(WORKLOAD, f"{s.name}: spawn → healthy", "by hand", alone[s.name], "s")
                bench.add(WORKLOAD, f"{s.name}: spawn → healthy", "by hand, in parallel", each[s.name], "s")
            for metric, value in overhead.items():  # where devstack's own time goes
                bench.add(WORKLOAD, metric, "devstack", value, "s")
        bench.add(WORKLOAD, "core-api: ready → devstack says healthy", "devstack",
                  _ready_detection(bench, root, services, ports), "s", "≤ 0.020 s")
    finally:
        devstack(root, "down")
        reap(bench, root, "W7")


# ----------------------------------------------------------------------------- the copy


def _copy_demo(bench: Bench) -> Path:
    demo = ROOT / "demo"
    missing = [p for p in (demo / "ai-api" / "venv" / "pyvenv.cfg", demo / "frontend" / "node_modules",
                           demo / "core-api" / "target" / "app" / "core-api.jar",
                           ROOT / ".devstack" / "pgdata" / "PG_VERSION") if not p.exists()]
    if missing:
        raise RuntimeError(f"the demo is not set up ({', '.join(map(str, missing))} missing); run "
                           f"`.venv/bin/devstack setup` in {ROOT} first")
    status = json.loads(devstack(ROOT, "status", "--json").stdout)
    if status.get("supervisor", {}).get("running") or (ROOT / ".devstack/pgdata/postmaster.pid").exists():
        raise RuntimeError(f"the demo in {ROOT} is running; stop it (`devstack down`) before W7")
    ports = [int(t["port"]) for t in tomllib.loads((ROOT / "stack.toml").read_text())["services"].values()
             if "port" in t]
    wait_ports_free(ports, timeout=1)
    root = bench.workdir("w7-demo")
    # As root, Postgres runs as the postgres user, which must be able to walk down to its data.
    for folder in (bench.scratch, root):
        folder.chmod(0o711)
    shutil.copy2(ROOT / "stack.toml", root / "stack.toml")
    shutil.copytree(demo, root / "demo", symlinks=True, ignore=shutil.ignore_patterns("venv"))
    # The venv's scripts name its interpreter by absolute path: a copy would still run the original.
    (root / "demo" / "ai-api" / "venv").symlink_to(demo / "ai-api" / "venv")
    (root / ".devstack").mkdir()
    # .devstack/pgdata is a symlink when setup had to put the cluster outside the checkout
    pgdata = (ROOT / ".devstack" / "pgdata").resolve()
    subprocess.run(["cp", "-a", str(pgdata), str(root / ".devstack" / "pgdata")], check=True)
    return root


def _services(root: Path) -> list[Service]:
    """The services of the copy's stack.toml, dependencies first, each with the environment
    devstack gives it."""
    table = tomllib.loads((root / "stack.toml").read_text())["services"]
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name not in ordered:
            for dep in _depends(table[name]):
                visit(dep)
            ordered.append(name)

    for name in table:
        visit(name)
    services = []
    for name in ordered:
        t = table[name]
        result = subprocess.run([PY, "-m", "devstack", "run", name, "--", "env", "-0"], cwd=root,
                                capture_output=True, env=bench_env(), timeout=120, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"devstack run {name} -- env -0: {result.returncode} {result.stderr.decode()}")
        env = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
        command = t["command"]
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        stop = signal.Signals[t.get("stop_signal", "SIGTERM")].value
        services.append(Service(name, root / t.get("cwd", "."), argv, env, dict(t.get("health", {})),
                                _depends(t), stop, t.get("port")))
    return services


def _depends(t: dict[str, object]) -> dict[str, str]:
    deps = t.get("depends_on", [])
    if isinstance(deps, list):
        return {str(d): "healthy" for d in deps}
    assert isinstance(deps, dict), f"depends_on is a list or a table, not {deps!r}"
    return {str(k): str(v) for k, v in deps.items()}


# ----------------------------------------------------------------------------- devstack


def _devstack(bench: Bench, root: Path, services: list[Service],
              ports: list[int]) -> tuple[float, dict[str, float], dict[str, float]]:
    """(wall time of `up -d`, {name: spawn → healthy from devstack's events}, {overhead: s})."""
    names = [s.name for s in services]
    started_at = time.time()
    started = time.perf_counter()
    try:
        result = devstack(root, "up", "-d", timeout=300, env=bench_env())
        took = time.perf_counter() - started
        returned_at = time.time()
        if result.returncode != 0:
            raise RuntimeError(f"devstack up -d: {result.returncode} {result.stdout}{result.stderr}")
        status = json.loads(devstack(root, "status", "--json").stdout)
        states = {s["name"]: s["state"] for s in status["services"]}
        if any(states.get(n) != "healthy" for n in names):
            raise RuntimeError(f"devstack up -d returned 0 but the services are {states}")
        spawned: dict[str, float] = {}
        healthy: dict[str, float] = {}
        for when, text in devstack_events(root, since=started_at):
            name, _, rest = text.partition(" ")
            if rest.startswith("started"):
                spawned.setdefault(name, when)
            elif rest.startswith("is healthy"):
                healthy.setdefault(name, when)
        if set(spawned) != set(names) or set(healthy) != set(names):
            raise RuntimeError(f"devstack's events name {sorted(spawned)} started, {sorted(healthy)} healthy")
        handoff = max(spawned[s.name] - max(healthy[d] if cond != "started" else spawned[d]
                                            for d, cond in s.depends.items())
                      for s in services if s.depends)
        overhead = {"devstack: CLI launched → first service spawned": min(spawned.values()) - started_at,
                    "devstack: dependencies met → spawned (worst service)": handoff,
                    "devstack: last healthy event → CLI returned": returned_at - max(healthy.values())}
        return took, {n: healthy[n] - spawned[n] for n in names}, overhead
    finally:
        devstack(root, "down")
        wait_ports_free(ports)
        reap(bench, root, "W7 devstack")


def _ready_detection(bench: Bench, root: Path, services: list[Service], ports: list[int]) -> float:
    """Seconds from the first passing answer of core-api's health URL (polled every 2 ms from
    before the launch) to devstack's "core-api is healthy" event."""
    core = next(s for s in services if s.name == "core-api")
    first_ok: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() and not first_ok:
            if _probe(core):
                first_ok.append(time.time())
            else:
                time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    started_at = time.time()
    poller.start()
    try:
        result = devstack(root, "up", "-d", timeout=300, env=bench_env())
        if result.returncode != 0:
            raise RuntimeError(f"devstack up -d: {result.returncode} {result.stdout}{result.stderr}")
        poller.join(timeout=5)
        healthy = event_time(root, "core-api is healthy", since=started_at)
        if not first_ok:
            raise RuntimeError("the side poller never saw core-api's health URL pass")
        return max(0.0, healthy - first_ok[0])
    finally:
        done.set()
        devstack(root, "down")
        wait_ports_free(ports)
        reap(bench, root, "W7 ready")


# ----------------------------------------------------------------------------- by hand


def _by_hand(root: Path, services: list[Service], ports: list[int]) -> tuple[dict[str, float], float]:
    """Start the services one after another, each once the previous one passes its check:
    ({name: spawn → healthy in s}, wall time of the whole pass)."""
    procs: list[tuple[Service, subprocess.Popen[bytes]]] = []
    alone: dict[str, float] = {}
    try:
        first = time.perf_counter()
        for s in services:
            started = time.perf_counter()
            proc = spawn(s.argv, s.cwd, s.env, out=root / f"by-hand-{s.name}.out")
            procs.append((s, proc))
            limit = started + _seconds(s.health.get("start_period", "60s"))
            while not _probe(s):
                if proc.poll() is not None:
                    raise RuntimeError(f"{s.name} (by hand) exited with {proc.returncode}; see "
                                       f"{root}/by-hand-{s.name}.out")
                if time.perf_counter() > limit:
                    raise RuntimeError(f"{s.name} (by hand) was not healthy within its start_period")
                time.sleep(POLL)
            alone[s.name] = time.perf_counter() - started
        return alone, time.perf_counter() - first
    finally:
        for s, proc in reversed(procs):
            stop_tree(proc, sig=s.stop_signal)
        wait_ports_free(ports)


def _in_parallel(root: Path, services: list[Service], ports: list[int]) -> tuple[float, dict[str, float]]:
    """A minimal orchestrator: every 5 ms, start each service whose dependencies are met and probe
    each started one. (wall time until all pass, {name: spawn → healthy}). Unlike the floor, the
    branches that start together compete for the CPU here, as they do under devstack."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    spawned: dict[str, float] = {}
    ready: dict[str, float] = {}
    try:
        first = time.perf_counter()
        while len(ready) < len(services):
            for s in services:
                if s.name not in procs and all(d in ready if cond != "started" else d in procs
                                               for d, cond in s.depends.items()):
                    spawned[s.name] = time.perf_counter()
                    procs[s.name] = spawn(s.argv, s.cwd, s.env, out=root / f"parallel-{s.name}.out")
            for s in services:
                proc = procs.get(s.name)
                if proc is None or s.name in ready:
                    continue
                if _probe(s):
                    ready[s.name] = time.perf_counter()
                elif proc.poll() is not None:
                    raise RuntimeError(f"{s.name} (in parallel) exited with {proc.returncode}; see "
                                       f"{root}/parallel-{s.name}.out")
            if time.perf_counter() - first > 300:
                raise RuntimeError(f"in parallel: not all healthy within 300 s (healthy: {sorted(ready)})")
            if len(ready) < len(services):
                time.sleep(POLL)
        return time.perf_counter() - first, {n: ready[n] - spawned[n] for n in ready}
    finally:
        for s in reversed(services):
            if s.name in procs:
                stop_tree(procs[s.name], sig=s.stop_signal)
        wait_ports_free(ports)


def _critical_path(services: list[Service], alone: dict[str, float]) -> float:
    """When the last service is healthy if each starts as soon as its dependencies allow."""
    start: dict[str, float] = {}
    ready: dict[str, float] = {}
    for s in services:  # dependencies first
        start[s.name] = max((ready[d] if cond != "started" else start[d] for d, cond in s.depends.items()),
                            default=0.0)
        ready[s.name] = start[s.name] + alone[s.name]
    return max(ready.values())


def _seconds(value: object) -> float:
    text = str(value)
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text)


# ----------------------------------------------------------------------------- the probes, by hand


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _probe(s: Service) -> bool:
    h = s.health
    if "cmd" in h:
        return subprocess.run(["/bin/sh", "-c", str(h["cmd"])], cwd=s.cwd, env=s.env, timeout=5,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    if "tcp" in h:
        host, _, port = str(h["tcp"]).rpartition(":")
        hosts = ["127.0.0.1", "::1"] if host == "localhost" else [host.strip("[]")]
        for addr in hosts:
            try:
                socket.create_connection((addr, int(port)), timeout=1).close()
                return True
            except OSError:
                continue
        return False
    if "http" in h:
        url = str(h["http"])
        urls = [url.replace("//localhost", "//127.0.0.1", 1), url.replace("//localhost", "//[::1]", 1)] \
            if "//localhost" in url else [url]
        return any(_http_ok(u, h) for u in urls)
    raise RuntimeError(f"{s.name}: the by-hand check does not know the probe {h}")


def _http_ok(url: str, h: dict[str, object]) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=2) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
    except (OSError, ValueError):
        return False
    low, high = (200, 399)
    expect_status = h.get("expect_status")
    if expect_status is not None:
        ok = status in expect_status if isinstance(expect_status, list) else status == expect_status
    else:
        ok = low <= status <= high
    if ok and "expect_json" in h:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        expected = h["expect_json"]
        ok = isinstance(data, dict) and isinstance(expected, dict) and all(data.get(k) == v
                                                                           for k, v in expected.items())
    if ok and "expect_text" in h:
        ok = str(h["expect_text"]) in body.decode(errors="replace")
    return ok

