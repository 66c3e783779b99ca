"""`up` again after editing stack.toml applies the file, as compose users expect: changed
services restarted with their new definition, new ones started, removed ones stopped, the others
untouched (same pid), one line per change; `status` says when the file differs from what runs."""

from __future__ import annotations

import json

from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.programs import HTTP_SERVER
from tests.support.waiting import wait_until

IDLE = "import sys, time\nprint('up', sys.argv[1:], flush=True)\ntime.sleep(600)\n"


def stack_toml(port: int, extra: str = "", worker_arg: str = "one", keep: bool = True) -> str:
    keep_table = f"""
[services.keep]
command = {q([PY, "idle.py", "keep"])}
""" if keep else ""
    return f"""{keep_table}
[services.web]
command = {q([PY, "server.py", str(port)])}
port = {port}
health = {{ http = "http://127.0.0.1:{port}/" }}

[services.worker]
command = {q([PY, "idle.py", worker_arg])}
depends_on = ["web"]
{extra}"""


def pids(stack: Stack) -> dict[str, int | None]:
    return {s["name"]: s["pid"] for s in stack.status()["services"]}


def test_up_after_an_edit_applies_the_file(stack: Stack) -> None:
    stack.write("server.py", HTTP_SERVER)
    stack.write("idle.py", IDLE)
    first, second = free_port(), free_port()
    stack.toml(stack_toml(first))
    assert stack.run("up", "-d").code == 0
    before = pids(stack)
    again = stack.run("up", "-d")  # nothing changed: nothing touched
    assert again.code == 0 and "started: nothing new" in again.err
    assert pids(stack) == before and stack.status()["supervisor"]["stack_file_changed"] is False

    # web's port changes, worker's command changes, keep goes, extra comes
    stack.toml(stack_toml(second, worker_arg="two", keep=False) + f"""
[services.extra]
command = {q([PY, "idle.py", "extra"])}
""")
    data = stack.status()
    assert data["supervisor"]["stack_file_changed"] is True
    assert "the stack file has changed since the supervisor read it" in stack.run("status").out
    applied = stack.run("up", "-d")
    assert applied.code == 0, applied
    assert applied.err.splitlines()[:4] == [
        "web: changed (command, port, health); restarted with its new definition",
        "worker: changed (command); restarted with its new definition",
        "extra: new in stack.toml; started",
        "keep: removed from stack.toml; stopped",
    ], applied.err
    after = stack.status()
    assert [s["name"] for s in after["services"]] == ["web", "worker", "extra"]
    assert {s["state"] for s in after["services"]} <= {"healthy", "running"}, after
    assert after["supervisor"]["stack_file_changed"] is False
    web = stack.service("web", after)
    assert web["port"] == second and web["pid"] != before["web"]
    assert "up ['two']" in stack.log_text("worker")
    # the removed service's process is gone, and so is the old web's port
    wait_until(lambda: not _alive(before["keep"]), 10, "keep's process to end")
    assert not _alive(before["web"])


def test_an_unchanged_service_keeps_running_while_its_neighbour_is_restarted(stack: Stack) -> None:
    stack.write("server.py", HTTP_SERVER)
    stack.write("idle.py", IDLE)
    port = free_port()
    stack.toml(stack_toml(port))
    assert stack.run("up", "-d").code == 0
    before = pids(stack)
    stack.toml(stack_toml(port, extra='env = { LEVEL = "debug" }\n'))
    applied = stack.run("up", "-d")
    assert applied.code == 0 and applied.err.splitlines()[0] == \
        "worker: changed (env); restarted with its new definition", applied.err
    after = pids(stack)
    assert after["keep"] == before["keep"] and after["web"] == before["web"]
    assert after["worker"] != before["worker"]
    lines = (stack.root / ".devstack" / "logs" / "devstack.log").read_text()
    assert "keep stopped" not in lines and "web stopped" not in lines


def test_a_broken_edit_is_refused_and_the_stack_keeps_running(stack: Stack) -> None:
    stack.write("idle.py", IDLE)
    stack.toml(f'[services.keep]\ncommand = {q([PY, "idle.py", "keep"])}\n')
    assert stack.run("up", "-d").code == 0
    pid = stack.service("keep")["pid"]
    stack.toml(f'[services.keep]\ncommand = {q([PY, "idle.py", "keep"])}\nport = "eighty"\n')
    r = stack.run("up", "-d")
    assert r.code == 2 and "services.keep.port: expected an integer from 1 to 65535" in r.err, r
    status = stack.status()
    assert stack.service("keep", status)["pid"] == pid and status["supervisor"]["stack_file_changed"] is True
    assert json.loads(stack.run("status", "--json").out)["state"] == "up"
    down = stack.run("down")  # the broken file does not keep what runs from being stopped
    assert down.code == 0 and "stack stack is down." in down.out, down
    assert down.err.startswith("note: stack.toml: services.keep.port: expected an integer"), down.err


def _alive(pid: int | None) -> bool:
    import psutil

    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
