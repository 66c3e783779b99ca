"""The control channel and the supervisor's own lifecycle: signals, races, long paths, following logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil

from devstack.engine.background import SUPERVISOR_NAME
from tests.support.harness import PY, Run, Stack, q
from tests.support.waiting import wait_until

IDLE = f"""
[services.idle]
command = {q([PY, "-c", "import time; print('idle up', flush=True); time.sleep(600)"])}
"""


def supervisors_of(stack: Stack) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "name"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == SUPERVISOR_NAME or (cmd[-1:] == ["up"] and "devstack" in cmd):
            try:
                if proc.info["cwd"] == str(stack.root) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                continue
    return found


def test_sighup_stops_a_foreground_stack_cleanly(stack: Stack) -> None:
    stack.toml(IDLE)
    out = stack.root.parent / "fg.out"
    proc = stack.spawn("up", out=out)
    wait_until(lambda: "idle up" in out.read_text(), 30, "the service to start")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(20) == 129
    assert "SIGHUP received: stopping the stack" in out.read_text()
    assert not (stack.root / ".devstack" / "run" / "control.sock").exists()


def test_racing_up_commands_start_exactly_one_supervisor(stack: Stack) -> None:
    stack.toml(IDLE)
    results: list[Run] = []
    barrier = threading.Barrier(6)

    def racer() -> None:
        barrier.wait()
        results.append(stack.run("up", "-d"))

    threads = [threading.Thread(target=racer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r.code for r in results] == [0] * 6, results
    assert len(supervisors_of(stack)) == 1
    starts = stack.log_text("idle").count("idle up")
    assert starts == 1, stack.log_text("idle")


def test_long_stack_path_puts_the_socket_in_the_runtime_folder(stack: Stack) -> None:
    deep = stack.root / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "stack.toml").write_text(IDLE)
    up = stack.run("up", "-d", cwd=deep)
    try:
        assert up.code == 0, up
        data = json.loads(stack.run("status", "--json", cwd=deep).out)
        assert data["supervisor"]["running"] is True
        info = json.loads((deep / ".devstack" / "run" / "supervisor.json").read_text())
        assert len(info["socket"]) <= 100 and not info["socket"].startswith(str(deep))
    finally:
        assert stack.run("down", cwd=deep).code == 0


def test_detached_supervisor_outlives_the_command_and_its_session(stack: Stack) -> None:
    stack.toml(IDLE)
    # `up -d` from a shell that then ends: the supervisor must not go with it.
    shell = subprocess.run(["/bin/sh", "-c", f"{sys.executable} -m devstack up -d"], cwd=stack.root,
                           env=stack.env(), capture_output=True, timeout=60, start_new_session=True)
    assert shell.returncode == 0, shell
    data = stack.status()
    sup = psutil.Process(data["supervisor"]["pid"])
    assert sup.is_running() and os.getsid(sup.pid) == sup.pid  # its own session: no terminal to lose
    assert data["services"][0]["state"] == "running"


def test_a_supervisor_that_dies_at_start_is_reported_in_one_line_and_leaves_nothing(stack: Stack) -> None:
    """The forked supervisor cannot open its control socket (a folder is in the way): `up -d`
    says so in one line with where its output is, no traceback, and nothing keeps running."""
    stack.toml(IDLE)
    (stack.root / ".devstack" / "run" / "control.sock").mkdir(parents=True)
    up = stack.run("up", "-d")
    assert up.code == 1, up
    assert "the background supervisor exited at start (code 1)" in up.err, up
    assert "IsADirectoryError" in up.err and "supervisor.out" in up.err, up
    assert "Traceback" not in up.err and len(up.err.strip().splitlines()) == 1, up
    assert "Traceback" in (stack.root / ".devstack" / "supervisor.out").read_text()  # the bug report
    assert supervisors_of(stack) == []
    assert "idle up" not in stack.log_text("idle")


def test_services_of_a_detached_stack_do_not_inherit_its_ignored_hangup(stack: Stack) -> None:
    """The detached supervisor shrugs off SIGHUP (it outlives the terminal), but an ignored signal
    survives exec: its services must get the default, as `kill -HUP` users expect."""
    show = ("import time; status = open('/proc/self/status').read().split('\\n'); "
            "print([line for line in status if line.startswith('SigIgn')][0], flush=True); time.sleep(600)")
    stack.toml(f"[services.probe]\ncommand = {q([PY, '-c', show])}\n")
    assert stack.run("up", "-d").code == 0
    wait_until(lambda: "SigIgn" in stack.log_text("probe"), 10, "the service's signal mask")
    ignored = int(stack.log_text("probe").split("SigIgn:")[1].split()[0], 16)
    assert not ignored & (1 << (signal.SIGHUP - 1)), f"SIGHUP ignored: {ignored:x}"


def test_logs_follow_prints_new_lines(stack: Stack) -> None:
    stack.write("ticker.py", """
        import sys, time
        for i in range(1000):
            print(f"tick {i}", flush=True)
            time.sleep(0.05)
        """)
    stack.toml(f"""
[services.ticker]
command = {q([PY, "ticker.py"])}
""")
    assert stack.run("up", "-d").code == 0
    out = stack.root.parent / "follow.out"
    follower = stack.spawn("logs", "-f", "-n", "0", "ticker", out=out)
    try:
        wait_until(lambda: out.read_text().count("ticker | tick") >= 5, 20, "followed lines")
        ticks = [int(line.rsplit(" ", 1)[1]) for line in out.read_text().splitlines() if "| tick" in line]
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), ticks  # in order, none skipped
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(10)


def test_unknown_service_for_up_is_exit_2(stack: Stack) -> None:
    stack.toml(IDLE)
    r = stack.run("up", "-d", "idel")
    assert r.code == 2
    assert r.err.strip() == "Error: No service named 'idel'; did you mean 'idle'? Known services: idle."
    assert not (stack.root / ".devstack" / "run" / "control.sock").exists()


def test_status_watch_redraws(stack: Stack) -> None:
    stack.toml(IDLE)
    assert stack.run("up", "-d").code == 0
    out = stack.root.parent / "watch.out"
    watcher = stack.spawn("status", "--watch", out=out)
    try:
        wait_until(lambda: out.read_text().count("NAME  ") >= 2, 15, "two redraws")
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(10)


def test_child_environment_has_unbuffered_python_and_the_service_port(stack: Stack) -> None:
    stack.write("show.py", """
        import os, time
        print("UNBUF=" + os.environ.get("PYTHONUNBUFFERED", "-"), "PORT=" + os.environ.get("PORT", "-"))
        time.sleep(600)
        """)
    stack.toml(f"""
[services.show]
command = {q([PY, "show.py"])}
port = 45999
""")
    assert stack.run("up", "-d").code == 0
    wait_until(lambda: "UNBUF=1 PORT=45999" in stack.log_text("show"), 10, "the env line")


def test_time_is_not_spent_idle(stack: Stack) -> None:
    """A supervisor with a healthy service and a 2 s probe interval does not spin."""
    stack.write("serve.py", "import http.server as h; h.ThreadingHTTPServer(('127.0.0.1', 45871), "
                            "h.SimpleHTTPRequestHandler).serve_forever()\n")
    stack.toml(f"""
[services.web]
command = {q([PY, "serve.py"])}
health = {{ http = "http://127.0.0.1:45871/" }}
""")
    assert stack.run("up", "-d").code == 0
    sup = psutil.Process(stack.status()["supervisor"]["pid"])
    before = sup.cpu_times()
    time.sleep(2.0)
    after = sup.cpu_times()
    used = (after.user + after.system) - (before.user + before.system)
    assert used < 0.5, f"the idle supervisor used {used:.2f} s of CPU in 2 s"


