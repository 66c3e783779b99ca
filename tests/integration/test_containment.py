"""Containment (SPEC "Containment"), with the real CLI and real daemonizing programs: every
process a service starts stays the service's until it exits; a main process that exits while
one it started runs on is named, not called up; `down` leaves nothing.

Ground truth is not devstack's status: each server writes its own pid to a side file when it
starts, ports are checked by binding them, and the processes of the test are found by the test's
own tag, which the services pass on even through `env -i`, where devstack's own tag is gone.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from devstack.control.paths import StatePaths
from tests.support.ground_truth import control
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port, port_is_free
from tests.support.postgres import as_postgres, postgres_missing, throwaway_cluster
from tests.support.waiting import wait_until

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


def daemonized(stack: Stack, name: str, timeout: float) -> str:
    """`up -d` a stack whose `name` daemonizes: it exits 1 with `name` failed, the stack is never
    `up` meanwhile (sampled every 20 ms); returns the service's reason."""
    with stack_states(stack) as states:
        up = stack.run("up", "-d")
        wait_until(lambda: service(stack, name)["state"] == "failed", timeout, f"{name} to fail")
    assert up.code == 1, up.text
    assert "up" not in states, states
    return str(service(stack, name)["health"]["error"])


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
    error = daemonized(stack, "web", 10)
    [server] = pids_in(side)
    web = service(stack, "web")
    named = rf"web's process exited 0 but left pid {server} \(`[^`]*(serve|dfork)\.py {port} [^`]*`\) "
    said = rf"listening on {port}: it daemonized; run it in the foreground.*"
    assert re.fullmatch(named + said, error), error
    assert web["exit_code"] == 0 and web["restarts"] == 0
    assert_nothing_left(stack, [server], [port])


def escaper(stack: Stack) -> tuple[int, Path]:
    """The issue's first command as `web`: its main process stays (sleep) while its child leaves
    with `env -i setsid -f` and serves `web`'s port. Returns the port and the server's side file."""
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
    return port, side


def test_setsid_with_a_cleared_environment_stays_in_the_service_and_goes_with_down(stack: Stack) -> None:
    """The issue's first command: the main process stays (sleep), its child leaves with `env -i
    setsid -f` and holds the port. Adopted, it counts in the service (its port answers for web,
    its memory is web's), and `down` stops it; before the subreaper it outlived `down`."""
    port, side = escaper(stack)
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
    port, side = escaper(stack)
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


@pytest.mark.skipif(postgres_missing("pg_ctl", "initdb", "postgres") is not None,
                    reason=str(postgres_missing("pg_ctl", "initdb", "postgres")))
@pytest.mark.timeout(180)
def test_pg_ctl_start_is_named_with_the_postgres_command_and_never_up(stack: Stack) -> None:
    with throwaway_cluster("devstack-pgctl-") as pgroot:
        try:
            data = pgroot / "data"
            port = free_port()
            command = [*as_postgres(), "pg_ctl", "-D", str(data), "-l", str(pgroot / "pg.log"),
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
            error = daemonized(stack, "db", 60)
            named = rf"db's process exited 0 but left pid (\d+) \(`[^`]*postgres -D {data} [^`]*`\) "
            found = re.fullmatch(named + rf"listening on {port}: it daemonized; run it in the foreground: "
                                 rf"`postgres -D {data} -p {port} [^`]*` instead of `pg_ctl start`", error)
            assert found, error
            postmaster = int(found.group(1))
            assert_nothing_left(stack, [postmaster], [port])
            left = [p.pid for p in psutil.process_iter(["cmdline"])
                    if str(data) in " ".join(p.info["cmdline"] or [])]
            assert not left, left
        finally:
            stack.run("down")  # before the cluster's folder goes


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_daemonize_yes_is_named_with_daemonize_no(stack: Stack) -> None:
    port = free_port()
    stack.toml(f"""
[services.cache]
command = "redis-server --port {port} --bind 127.0.0.1 --save '' --daemonize yes"
port = {port}
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    error = daemonized(stack, "cache", 20)
    found = re.fullmatch(rf"cache's process exited 0 but left pid (\d+) \(`redis-server[^`]*`\) listening on "
                         rf"{port}: it daemonized; run it in the foreground: `redis-server --port {port} "
                         rf"[^`]*--daemonize no` instead of `redis-server --daemonize yes`", error)
    assert found, error
    assert_nothing_left(stack, [int(found.group(1))], [port])
