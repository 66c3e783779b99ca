"""The supervision promises, proven with the real CLI and real processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import time

import psutil

from devstack.engine.background import SUPERVISOR_NAME
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port, port_is_free
from tests.support.programs import HTTP_SERVER
from tests.support.waiting import wait_until

DB = r'''
import socket, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
time.sleep(delay)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
print("db ready", flush=True)
while True:
    srv.accept()[0].close()
'''

API = r'''
import socket, sys, runpy
db, port = int(sys.argv[1]), sys.argv[2]
try:
    socket.create_connection(("127.0.0.1", db), timeout=1).close()
except OSError:
    print("api: db unreachable", flush=True)
    sys.exit(1)
sys.argv = ["serve.py", port]
runpy.run_path("serve.py", run_name="__main__")
'''


def db_and_api(stack: Stack, db_delay: float, api_script: str) -> None:
    """db opens its port after `db_delay` s; api (api.py: needs db at start; serve.py: doesn't)
    depends on it being healthy."""
    db, api = free_port(), free_port()
    stack.write("db.py", DB)
    stack.write("api.py", API)
    stack.write("serve.py", HTTP_SERVER)
    api_args = f"{db} {api}" if api_script == "api.py" else f"{api}"
    stack.toml(f"""
[services.db]
command = {q(f"{PY} db.py {db} {db_delay}")}
health = {{ tcp = "127.0.0.1:{db}" }}

[services.api]
command = {q(f"{PY} {api_script} {api_args}")}
depends_on = ["db"]
health = {{ http = "http://127.0.0.1:{api}/" }}
""")


def http_service(stack: Stack, name: str, port: int, extra: str = "") -> str:
    stack.write("serve.py", HTTP_SERVER)
    return f"""
[services.{name}]
command = {q(f"{PY} serve.py {port}")}
port = {port}
health = {{ http = "http://127.0.0.1:{port}/" }}
{extra}
"""


def test_dependent_starts_only_after_dependency_is_healthy(stack: Stack) -> None:
    db_and_api(stack, db_delay=1.0, api_script="api.py")
    up = stack.run("up", "-d")
    assert up.code == 0, up
    data = stack.status()
    assert stack.service("db", data)["state"] == "healthy"
    api_status = stack.service("api", data)
    assert api_status["state"] == "healthy" and api_status["restarts"] == 0, api_status
    assert "db unreachable" not in stack.log_text("api")
    assert data["state"] == "up"


FLAKY = r'''
import pathlib, runpy, sys
counter = pathlib.Path("starts.txt")
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
if n < int(sys.argv[2]):
    print(f"flaky: failing start {n + 1}", flush=True)
    sys.exit(3)
sys.argv = ["serve.py", sys.argv[1]]
runpy.run_path("serve.py", run_name="__main__")
'''


def test_restarts_with_backoff_until_healthy(stack: Stack) -> None:
    port = free_port()
    stack.write("serve.py", HTTP_SERVER)
    stack.write("flaky.py", FLAKY)
    stack.toml(f"""
[services.flaky]
command = {q(f"{PY} flaky.py {port} 2")}
backoff = "50ms"
health = {{ http = "http://127.0.0.1:{port}/" }}
""")
    assert stack.run("up", "-d").code == 0
    svc = stack.service("flaky")
    assert svc["state"] == "healthy" and svc["restarts"] == 2, svc
    events = stack.log_text("devstack")
    assert "flaky exited with code 3 after" in events
    assert "restarting in 0.1 s (attempt 3 of 5)" in events, events


CRASHY = r'''
import pathlib, sys, time
counter = pathlib.Path("starts.txt")
counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
print("booting", flush=True)
time.sleep(0.1)
print("fatal: cannot open /etc/crashy.conf", file=sys.stderr, flush=True)
sys.exit(2)
'''


def test_crash_loop_fails_required_service_and_up_exits_1(stack: Stack) -> None:
    stack.write("crashy.py", CRASHY)
    web = free_port()
    stack.toml(f"""
[services.crashy]
command = {q(f"{PY} crashy.py")}
max_restarts = 3
backoff = "20ms"
""" + http_service(stack, "web", web))
    up = stack.run("up", "-d")
    assert up.code == 1, up
    data = stack.status()
    crashy = stack.service("crashy", data)
    assert crashy["state"] == "failed"
    assert crashy["health"] == {**crashy["health"], "status": "ERROR",
                                "error": "fatal: cannot open /etc/crashy.conf"}
    assert crashy["exit_code"] == 2 and crashy["restarts"] == 2
    assert (stack.root / "starts.txt").read_text() == "3"
    assert data["state"] == "failed"
    assert stack.run("status").code == 1
    # A failed service is left alone: no further start however long we look.
    time.sleep(0.5)
    assert (stack.root / "starts.txt").read_text() == "3"


def test_optional_failure_leaves_stack_degraded(stack: Stack) -> None:
    stack.write("crashy.py", CRASHY)
    web = free_port()
    stack.toml(f"""
[services.crashy]
command = {q(f"{PY} crashy.py")}
max_restarts = 2
backoff = "20ms"
optional = true
""" + http_service(stack, "web", web))
    up = stack.run("up", "-d")
    assert up.code == 0, up
    data = stack.status()
    assert data["state"] == "degraded"
    assert stack.service("web", data)["state"] == "healthy"
    assert stack.run("status").code == 0


STUBBORN = r'''
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(1)
'''


def test_stop_escalates_to_sigkill_after_stop_timeout(stack: Stack) -> None:
    stack.write("stubborn.py", STUBBORN)
    stack.toml(f"""
[services.stubborn]
command = {q([PY, "stubborn.py"])}
stop_timeout = "1s"
""")
    assert stack.run("up", "-d").code == 0
    pid = stack.service("stubborn")["pid"]
    wait_until(lambda: "ignoring SIGTERM" in stack.log_text("stubborn"), 10, "the handler to be set")
    started = time.monotonic()
    down = stack.run("down")
    took = time.monotonic() - started
    assert down.code == 0, down
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert 1.0 <= took < 10, took
    assert "did not stop within 1.0 s of SIGTERM; killed it" in stack.log_text("devstack")


TREE = r'''
import os, subprocess, sys, time
port = sys.argv[1]
# a grandchild that ignores SIGTERM, and one that escapes into its own session
IGNORE = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", IGNORE])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
subprocess.Popen([sys.executable, "serve.py", port])
print("tree up", flush=True)
time.sleep(600)
'''


def test_down_stops_the_whole_tree_including_escaped_children(stack: Stack) -> None:
    port = free_port()
    stack.write("serve.py", HTTP_SERVER)
    stack.write("tree.py", TREE)
    stack.toml(f"""
[services.tree]
command = {q(f"{PY} tree.py {port}")}
port = {port}
stop_timeout = "1s"
health = {{ http = "http://127.0.0.1:{port}/" }}
""")
    assert stack.run("up", "-d").code == 0
    leader = psutil.Process(stack.service("tree")["pid"])
    family = [leader, *leader.children(recursive=True)]
    assert len(family) >= 3
    assert stack.run("down").code == 0
    assert port_is_free(port)
    # the no_leftovers fixture checks the escaped one too (it carries the test tag)


def test_supervisor_killed_then_up_recovers(stack: Stack) -> None:
    port = free_port()
    stack.toml(http_service(stack, "web", port))
    assert stack.run("up", "-d").code == 0
    first = stack.status()
    old_child = psutil.Process(stack.service("web", first)["pid"])
    os.kill(first["supervisor"]["pid"], signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(first["supervisor"]["pid"])
               or psutil.Process(first["supervisor"]["pid"]).status() == psutil.STATUS_ZOMBIE,
               5, "the supervisor to die")
    assert old_child.is_running()  # the orphan still holds the port
    assert stack.run("status").code == 3
    up = stack.run("up", "-d")
    assert up.code == 0, up
    assert not old_child.is_running() or old_child.status() == psutil.STATUS_ZOMBIE
    assert "leftover process" in stack.log_text("devstack")
    svc = stack.service("web")
    assert svc["state"] == "healthy" and svc["pid"] != old_child.pid


def test_second_up_talks_to_the_running_supervisor(stack: Stack) -> None:
    a, b = free_port(), free_port()
    stack.toml(http_service(stack, "a", a) + http_service(stack, "b", b))
    assert stack.run("up", "-d", "a").code == 0
    first = stack.status()
    assert stack.service("b", first)["state"] == "stopped"
    second = stack.run("up", "-d")
    assert second.code == 0, second
    assert "already running" in second.err
    data = stack.status()
    assert data["supervisor"]["pid"] == first["supervisor"]["pid"]
    assert stack.service("b", data)["state"] == "healthy"
    supervisors = [p for p in psutil.process_iter(["name", "cwd", "status"])
                   if p.info["name"] == SUPERVISOR_NAME and p.info["cwd"] == str(stack.root)
                   and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert len(supervisors) == 1


def test_control_socket_is_private(stack: Stack) -> None:
    stack.toml(f"""
[services.idle]
command = {q(f"{PY} -c 'import time; time.sleep(600)'")}
""")
    assert stack.run("up", "-d").code == 0
    sock = stack.root / ".devstack" / "run" / "control.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_procfile_only_folder(stack: Stack) -> None:
    stack.write("Procfile", f"""
web: {PY} -c "import os,time; print('web on', os.environ['PORT'], flush=True); time.sleep(600)"
worker: {PY} -c "import time; print('worker ready', flush=True); time.sleep(600)"
""")
    assert stack.run("up", "-d").code == 0
    data = stack.status()
    assert [s["name"] for s in data["services"]] == ["web", "worker"]
    assert all(s["state"] == "running" for s in data["services"])
    wait_until(lambda: "web on 5000" in stack.log_text("web"), 10, "web's output")


def test_restart_stop_start_commands(stack: Stack) -> None:
    port = free_port()
    stack.toml(http_service(stack, "web", port))
    assert stack.run("up", "-d").code == 0
    before = stack.service("web")
    r = stack.run("restart", "web")
    assert r.code == 0, r
    after = stack.service("web")
    assert after["state"] == "healthy" and after["pid"] != before["pid"]
    assert not psutil.pid_exists(before["pid"])
    assert stack.run("stop", "web").code == 0
    assert stack.service("web")["state"] == "stopped"
    assert port_is_free(port)
    assert stack.run("start", "web").code == 0
    assert stack.service("web")["state"] == "healthy"
    unknown = stack.run("restart", "wbe")
    assert unknown.code == 2
    assert unknown.err.strip() == "Error: No service named 'wbe'; did you mean 'web'? Known services: web."


def test_commands_without_a_supervisor(stack: Stack) -> None:
    port = free_port()
    stack.toml(http_service(stack, "web", port))
    for verb in ("restart", "stop", "start"):
        r = stack.run(verb, "web")
        assert r.code == 3, r
        assert r.err.strip() == ("Error: no supervisor is running for this stack; "
                                 "start it with `devstack up`")
    r = stack.run("status", "--json")
    assert r.code == 3
    data = json.loads(r.out)
    assert data["state"] == "down" and data["supervisor"]["running"] is False
    assert stack.service("web", data)["state"] == "stopped"
    assert stack.run("down").code == 0


def test_no_start_after_stop_during_backoff(stack: Stack) -> None:
    stack.write("crashy.py", CRASHY)
    stack.toml(f"""
[services.crashy]
command = {q(f"{PY} crashy.py")}
backoff = "2s"
max_restarts = 50
""")
    stack.spawn("up")
    wait_until(lambda: (stack.root / "starts.txt").exists() and
               "restarting in 2.0 s" in stack.log_text("devstack"), 20, "the first backoff")
    assert stack.run("stop", "crashy").code == 0
    starts = (stack.root / "starts.txt").read_text()
    time.sleep(2.5)  # past the backoff that was pending: it must not fire
    assert (stack.root / "starts.txt").read_text() == starts
    assert stack.service("crashy")["state"] == "stopped"


def test_foreground_ctrl_c_stops_in_reverse_dependency_order(stack: Stack) -> None:
    db_and_api(stack, db_delay=0.0, api_script="serve.py")
    out = stack.root.parent / "fg.out"
    proc = stack.spawn("up", out=out)
    wait_until(lambda: "api is healthy" in out.read_text(), 30, "api healthy in the foreground output")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130
    text = out.read_text()
    assert text.index("api stopped") < text.index("db stopped"), text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if "| serving on" in line]
    assert lines and lines[0].split(" ", 1)[1].startswith("api      | serving on"), lines


def test_second_ctrl_c_kills_at_once(stack: Stack) -> None:
    stack.write("stubborn.py", STUBBORN)
    stack.toml(f"""
[services.stubborn]
command = {q([PY, "stubborn.py"])}
stop_timeout = "60s"
""")
    out = stack.root.parent / "fg.out"
    proc = stack.spawn("up", out=out)
    wait_until(lambda: "ignoring SIGTERM" in out.read_text(), 30, "the stubborn service to run")
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping the stack" in out.read_text(), 10, "the graceful stop to begin")
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130
    assert time.monotonic() - sent < 5
    assert "Traceback" not in out.read_text()
