"""Helpers shared by W3, W5, W6 and W7: supervisord configs, devstack's event log, free ports, and
a last-resort sweep for processes a run left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import psutil
from common import Bench, clean_env, stop_tree


def bench_env() -> dict[str, str]:
    """common.clean_env() with bytecode caching on. A PYTHONDONTWRITEBYTECODE=1 in the shell (as on
    the machine this was written on) leaves devstack, an editable install that pip never
    byte-compiled, compiling its modules from source on every CLI call and supervisor start, while
    the peers' modules were compiled when pip installed them."""
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def spawn(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None,
          out: Path | None = None) -> subprocess.Popen[bytes]:
    """A tool in its own session (so that stop_tree reaches everything it leaves in its group)."""
    stdout = open(out, "ab") if out else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    try:
        return subprocess.Popen(argv, cwd=cwd, env=dict(env or bench_env()), stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if out:
            stdout.close()  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- supervisord


def supervisord_conf(workdir: Path, programs: Mapping[str, Mapping[str, object]],
                     group: str | None = None) -> Path:
    """A supervisord.conf in `workdir`: foreground, its socket in the workdir, one [program:NAME]
    per entry (keys as supervisord spells them; command given as a plain string), and with
    `group` all programs in one [group:GROUP]."""
    lines = [
        "[unix_http_server]", f"file={workdir}/supervisor.sock", "",
        "[supervisord]", "nodaemon=true", f"logfile={workdir}/supervisord.log",
        f"pidfile={workdir}/supervisord.pid", f"childlogdir={workdir}", "loglevel=info", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{workdir}/supervisor.sock", "",
    ]
    for name, keys in programs.items():
        lines.append(f"[program:{name}]")
        settings = {"directory": str(workdir), "stdout_logfile": f"{workdir}/{name}.out",
                    "redirect_stderr": "true", **keys}
        lines += [f"{key}={value}" for key, value in settings.items()]
        lines.append("")
    if group is not None:
        lines += [f"[group:{group}]", f"programs={','.join(programs)}", ""]
    conf = workdir / "supervisord.conf"
    conf.write_text("\n".join(lines))
    return conf


def start_supervisord(bench: Bench, conf: Path) -> subprocess.Popen[bytes]:
    exe = bench.peers.tool("supervisord")
    if exe is None:
        raise RuntimeError("supervisord is not installed in bench/.peers")
    return spawn([exe, "-n", "-c", str(conf)], conf.parent, out=conf.parent / "supervisord.stdout")


def supervisorctl(bench: Bench, conf: Path, *args: str,
                  timeout: float = 30) -> subprocess.CompletedProcess[str]:
    exe = bench.peers.tool("supervisorctl")
    if exe is None:
        raise RuntimeError("supervisorctl is not installed in bench/.peers")
    return subprocess.run([exe, "-c", str(conf), *args], cwd=conf.parent, capture_output=True, text=True,
                          timeout=timeout, env=bench_env(), stdin=subprocess.DEVNULL)


def supervisor_states(bench: Bench, conf: Path) -> dict[str, str]:
    """{program: STATE} from `supervisorctl status` ({} while supervisord is not answering yet)."""
    out = supervisorctl(bench, conf, "status").stdout
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isupper() and "refused" not in line and "no such file" not in line:
            states[parts[0]] = parts[1]
    return states


def stop_supervisord(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to supervisord alone (it stops its programs, then exits); then the group sweep."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
    stop_tree(proc)


# ----------------------------------------------------------------------------- devstack's own events


def devstack_events(root: Path, since: float = 0.0) -> list[tuple[float, str]]:
    """(epoch seconds, message) of each line of .devstack/logs/devstack.log stamped at or after
    `since`, e.g. (…, "svc is healthy after 2.0 s")."""
    path = root / ".devstack" / "logs" / "devstack.log"
    events = []
    for line in path.read_text(errors="replace").splitlines():
        stamp, _, rest = line.partition(" ")
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue  # a continuation line
        if when >= since:
            events.append((when, rest.removeprefix("devstack ").strip()))
    return events


def event_time(root: Path, prefix: str, since: float = 0.0) -> float:
    for when, text in devstack_events(root, since):
        if text.startswith(prefix):
            return when
    raise RuntimeError(f"no devstack event starting with {prefix!r} in {root}/.devstack/logs/devstack.log")


# ----------------------------------------------------------------------------- leftovers


def reap(bench: Bench, workdir: Path, who: str) -> int:
    """Kill (by pid) any process still running from `workdir` or naming it on its command line,
    i.e. something a tool under test left behind; a leftover is worth a note. Returns how many."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.info["pid"] == me:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        cwd = proc.info["cwd"] or ""
        if str(workdir) in cmdline or cwd == str(workdir) or cwd.startswith(f"{workdir}/"):
            found.append(proc)
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(found, timeout=5)
    if found:
        bench.note(f"{who}: {len(found)} process(es) were still running from {workdir.name} after the "
                   f"tool was stopped; killed: {', '.join(str(p.pid) for p in found)}")
    return len(found)


def wait_ports_free(ports: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        busy = [p for p in ports if _listening(p)]
        if not busy:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"ports still in use after {timeout:g} s: {busy}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as s:
            s.settimeout(0.5)
            try:
                s.connect((host, port))
                return True
            except OSError:
                continue
    return False
