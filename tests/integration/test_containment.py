"""Containment (SPEC "Containment"), with the real CLI and real daemonizing programs: every
process a service starts stays the service's until it exits; a main process that exits while
one it started runs on is named, not called up; `down` leaves nothing.

Ground truth is not devstack's status: each server writes its own pid to a side file when it
starts, ports are checked by binding them, and the processes of the test are found by the test's
own tag, which the services pass on even through `env -i`, where devstack's own tag is gone.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from devstack.control.paths import StatePaths
from tests.support.ground_truth import control
from tests.support.harness import PY, Stack, free_port, port_is_free, q, wait_until

# A TCP server that logs its own pid, then serves until killed.
SERVE = r'''
import os, socket, sys
port, side = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
with open(side, "a") as f:
    f.write(f"{os.getpid()}\n")
while True:
    srv.accept()[0].close()
'''

# The classic daemon: fork, setsid, fork again, the grandchild serves; every parent exits 0.
DOUBLE_FORK = r'''
import os, runpy, sys
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
sys.argv = ["serve.py", *sys.argv[1:]]
runpy.run_path("serve.py", run_name="__main__")
'''

KEEP_TEST_TAG = "DEVSTACK_TEST_RUN=$DEVSTACK_TEST_RUN"  # env -i clears devstack's tag, not the test's


def pids_in(side: Path) -> list[int]:
    return [int(line) for line in side.read_text().split()] if side.exists() else []


@contextmanager
def stack_states(stack: Stack) -> Iterator[list[str]]:
    """The stack's state as the supervisor reports it, sampled every 20 ms while the block runs."""
    seen: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # not running yet, or gone: nothing to sample
                seen.append(control(stack, "status", timeout=2.0)["state"])
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def service(stack: Stack, name: str) -> dict[str, Any]:
    return stack.service(name)


def assert_nothing_left(stack: Stack, pids: list[int], ports: list[int]) -> None:
    down = stack.run("down")
    assert down.code == 0, down.text
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"alive after `down`: {alive}"
    for port in ports:
        assert port_is_free(port), f"port {port} still taken after `down`"


DAEMONIZE = {
    # `env -i setsid -f`: a new session and an empty environment (devstack's tag gone)
    "setsid-env-i": lambda port, side: (
        f"sh -c 'env -i {KEEP_TEST_TAG} setsid -f {PY} serve.py {port} {side} >/dev/null 2>&1'"),
    # the double fork of daemon(3), keeping its environment
    "double-fork": lambda port, side: [PY, "dfork.py", str(port), str(side)],
    # a launcher script that sends its server to the background and exits 0
    "background-and-exit-0": lambda port, side: f"sh -c '{PY} serve.py {port} {side} & exit 0'",
}


@pytest.mark.parametrize("shape", list(DAEMONIZE))
def test_a_service_that_daemonizes_is_named_never_up_and_down_leaves_nothing(stack: Stack,
                                                                           shape: str) -> None:
    port, side = free_port(), stack.root / "side.log"
    stack.write("serve.py", SERVE)
    stack.write("dfork.py", DOUBLE_FORK)
    stack.toml(f"""
[services.web]
command = {q(DAEMONIZE[shape](port, side))}
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    with stack_states(stack) as states:
        up = stack.run("up", "-d")
        wait_until(lambda: service(stack, "web")["state"] == "failed", 10, "web to fail")
    assert up.code == 1, up.text
    [server] = pids_in(side)
    web = service(stack, "web")
    error = web["health"]["error"]
    named = rf"web's process exited 0 but left pid {server} \(`[^`]*(serve|dfork)\.py {port} [^`]*`\) "
    said = rf"listening on {port}: it daemonized; run it in the foreground.*"
    assert re.fullmatch(named + said, error), error
    assert web["exit_code"] == 0 and web["restarts"] == 0
    assert "up" not in states, states
    assert states and set(states) <= {"starting", "failed"}, states
    assert_nothing_left(stack, [server], [port])


def test_setsid_with_a_cleared_environment_stays_in_the_service_and_goes_with_down(stack: Stack) -> None:
    """The issue's first command: the main process stays (sleep), its child leaves with `env -i
    setsid -f` and holds the port. Adopted, it counts in the service (its port answers for web,
    its memory is web's), and `down` stops it; before the subreaper it outlived `down`."""
    port, side = free_port(), stack.root / "side.log"
    stack.write("serve.py", SERVE)
    command = (f"sh -c 'env -i {KEEP_TEST_TAG} setsid -f {PY} serve.py {port} {side} >/dev/null 2>&1; "
               "sleep 3600'")
    stack.toml(f"""
[services.web]
command = {q(command)}
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    up = stack.run("up", "-d")
    assert up.code == 0, up.text + stack.log_text("devstack")
    [server] = pids_in(side)
    assert psutil.Process(server).ppid() == control(stack, "ping")["pid"]  # adopted, not PID 1's
    server_rss = psutil.Process(server).memory_info().rss
    wait_until(lambda: service(stack, "web")["memory_rss"] >= server_rss, 5,
               "web's memory to count its server")
    assert_nothing_left(stack, [server], [port])


def test_a_supervisor_killed_while_it_holds_an_adopted_process_leaves_it_to_the_next_up(stack: Stack) -> None:
    """Untagged and no longer anyone's descendant once the supervisor is gone: the record the
    supervisor keeps (pid and start time) is what names it to the next `up`."""
    port, side = free_port(), stack.root / "side.log"
    stack.write("serve.py", SERVE)
    command = (f"sh -c 'env -i {KEEP_TEST_TAG} setsid -f {PY} serve.py {port} {side} >/dev/null 2>&1; "
               "sleep 3600'")
    stack.toml(f"""
[services.web]
command = {q(command)}
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    assert stack.run("up", "-d").code == 0
    [server] = pids_in(side)
    record = StatePaths.of(stack.root).adopted
    wait_until(lambda: record.exists() and str(server) in record.read_text(), 5, "the adoption recorded")
    supervisor = psutil.Process(control(stack, "ping")["pid"])
    supervisor.kill()
    supervisor.wait(5)
    assert psutil.pid_exists(server) and not port_is_free(port)  # orphaned again, untagged
    up = stack.run("up", "-d")
    assert up.code == 0, up.text + stack.log_text("devstack")
    assert not psutil.pid_exists(server) or psutil.Process(server).status() == psutil.STATUS_ZOMBIE
    assert f"pid {server} (" in stack.log_text("devstack")  # "stopping 3 leftover processes …: pid N (…)"
    [_, new_server] = pids_in(side)
    assert_nothing_left(stack, [new_server], [port])


def test_restarting_one_service_leaves_a_service_with_a_longer_name_alone(stack: Stack) -> None:
    """The tag sweep of `web` matched every tag starting with it: `restart web` killed web2."""
    stack.toml("""
[services.web]
command = "sleep 1000"

[services.web2]
command = "sleep 1001"
""")
    assert stack.run("up", "-d").code == 0
    before = service(stack, "web2")["pid"]
    assert stack.run("restart", "web").code == 0
    web2 = service(stack, "web2")
    assert (web2["pid"], web2["restarts"]) == (before, 0)


# --------------------------------------------------------------------------- real daemons


def postgres_missing() -> str | None:
    for tool in ("pg_ctl", "initdb", "postgres"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return "setpriv is missing (Postgres refuses to run as root)"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no `postgres` user to run Postgres as (it refuses to run as root)"
    return None


@pytest.mark.skipif(postgres_missing() is not None, reason=str(postgres_missing()))
@pytest.mark.timeout(180)
def test_pg_ctl_start_is_named_with_the_postgres_command_and_never_up(stack: Stack) -> None:
    as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] \
        if os.geteuid() == 0 else []
    pgroot = Path(tempfile.mkdtemp(prefix="devstack-pgctl-"))  # the postgres user must reach it
    try:
        os.chmod(pgroot, 0o755)
        if as_pg:
            pw = pwd.getpwnam("postgres")
            os.chown(pgroot, pw.pw_uid, pw.pw_gid)
        data = pgroot / "data"
        init = subprocess.run([*as_pg, "initdb", "-D", str(data), "-A", "trust", "-U", "postgres",
                               "--no-sync"], cwd=pgroot, capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, init.stderr[-2000:]
        port = free_port()
        command = [*as_pg, "pg_ctl", "-D", str(data), "-l", str(pgroot / "pg.log"),
                   "-o", f"-p {port} -k {pgroot} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]
        stack.toml(f"""
[services.db]
cwd = {q(str(pgroot))}
command = {q(command)}
port = {port}
health = {{ tcp = "127.0.0.1:{port}", start_period = "60s" }}
""")
        doctor = stack.run("doctor")
        assert "`pg_ctl start` puts its program in the background" in doctor.out, doctor.out
        with stack_states(stack) as states:
            up = stack.run("up", "-d")
            wait_until(lambda: service(stack, "db")["state"] == "failed", 60, "db to fail")
        assert up.code == 1, up.text
        error = service(stack, "db")["health"]["error"]
        found = re.fullmatch(rf"db's process exited 0 but left pid (\d+) \(`[^`]*postgres -D {data} [^`]*`\) "
                             rf"listening on {port}: it daemonized; run it in the foreground: "
                             rf"`postgres -D {data} -p {port} [^`]*` instead of `pg_ctl start`", error)
        assert found, error
        assert "up" not in states, states
        postmaster = int(found.group(1))
        assert_nothing_left(stack, [postmaster], [port])
        left = [p.pid for p in psutil.process_iter(["cmdline"])
                if str(data) in " ".join(p.info["cmdline"] or [])]
        assert not left, left
    finally:
        stack.run("down")
        shutil.rmtree(pgroot, ignore_errors=True)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_daemonize_yes_is_named_with_daemonize_no(stack: Stack) -> None:
    port = free_port()
    stack.toml(f"""
[services.cache]
command = "redis-server --port {port} --bind 127.0.0.1 --save '' --daemonize yes"
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    with stack_states(stack) as states:
        up = stack.run("up", "-d")
        wait_until(lambda: service(stack, "cache")["state"] == "failed", 20, "cache to fail")
    assert up.code == 1, up.text
    error = service(stack, "cache")["health"]["error"]
    found = re.fullmatch(rf"cache's process exited 0 but left pid (\d+) \(`redis-server[^`]*`\) listening on "
                         rf"{port}: it daemonized; run it in the foreground: `redis-server --port {port} "
                         rf"[^`]*--daemonize no` instead of `redis-server --daemonize yes`", error)
    assert found, error
    assert "up" not in states, states
    assert_nothing_left(stack, [int(found.group(1))], [port])
