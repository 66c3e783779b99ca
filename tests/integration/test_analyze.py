"""`devstack analyze` on real processes: a service made 2 s slower shows +2 s in the phase it lost
them in and is on the critical chain; `ready_s` is what `up -d` waited; a failed service has no
`healthy_s` and its error; the runs survive `down`; no run yet is exit 1 with one line.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime
from typing import Any

from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.programs import HTTP_SERVER


def _stack(stack: Stack, db_port: int, api_port: int, db_sleep: float = 0.0) -> None:
    stack.write("server.py", HTTP_SERVER)
    slow = f"sleep {db_sleep} && " if db_sleep else ""
    stack.toml(f"""
        [services.db]
        command = {q(f"{slow}exec {PY} server.py {db_port}")}
        port = {db_port}
        health = {{ tcp = "127.0.0.1:{db_port}" }}

        [services.api]
        command = {q([PY, "server.py", str(api_port)])}
        depends_on = ["db"]
        port = {api_port}
        health = {{ http = "http://127.0.0.1:{api_port}/" }}
        """)


def _analyze(stack: Stack) -> dict[str, Any]:
    r = stack.run("analyze", "--json")
    assert r.code == 0, r.text
    return json.loads(r.out)  # type: ignore[no-any-return]


def _svc(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["services"] if s["name"] == name)


def test_a_service_made_2s_slower_shows_it_in_the_right_phase(stack: Stack) -> None:
    db_port, api_port = free_port(), free_port()
    _stack(stack, db_port, api_port)
    for _ in range(2):  # the first start of a fresh stack pays for cold caches: compare the second
        assert stack.run("up", "-d").code == 0
        assert stack.run("down").code == 0
    _stack(stack, db_port, api_port, db_sleep=2.0)  # the sleep comes before the server prints anything
    assert stack.run("up", "-d").code == 0
    assert stack.run("down").code == 0  # the runs survive `down`

    doc = _analyze(stack)
    assert doc["critical_chain"] == ["db", "api"]
    db = _svc(doc, "db")
    assert db["spawn_s"] <= db["first_output_s"] and db["port_s"] <= db["healthy_s"]
    r = stack.run("analyze", "--compare")
    assert r.code == 0, r.text
    print(r.out)
    lines = r.out.splitlines()
    head = lines[next(i for i, line in enumerate(lines) if line.startswith("service ")):]  # the table
    columns = head[0]
    db_row = next(line for line in head if line.startswith("db "))
    api_row = next(line for line in head if line.startswith("api "))
    deltas = dict(zip(re.split(r"\s{2,}", columns)[1:],
                      [float(d) for d in re.findall(r"\(([+-]\d+\.\d+)\)", db_row)], strict=True))
    print(deltas)
    assert 1.75 <= deltas["to output"] <= 2.5  # the sleep delayed its first line…
    assert abs(deltas["to port"]) < 0.3 and abs(deltas["to healthy"]) < 0.3  # …and nothing after it
    assert "* db " in r.out and "* api " in r.out  # both on the critical chain in the chart
    # api waited for db: its wait grew as much. ("healthy at" also counts the supervisor's own
    # start, which varies with the machine's load: the phases are the figures to trust.)
    api_waiting = float(re.findall(r"\(([+-]\d+\.\d+)\)", api_row)[0])
    assert abs(api_waiting - deltas["to output"]) < 0.3


def test_ready_s_is_what_up_d_waited(stack: Stack) -> None:
    port = free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.toml(f"""
        [services.web]
        command = {q([PY, "server.py", str(port), "1.0"])}
        port = {port}
        health = {{ http = "http://127.0.0.1:{port}/" }}
        """)
    before = time.time()
    proc = subprocess.run([PY, "-m", "devstack", "up", "-d"], cwd=stack.root, env=stack.env(),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    returned = time.time()
    assert proc.returncode == 0, proc.stderr
    doc = _analyze(stack)
    started = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00")).timestamp()
    waited = returned - started
    print(f"up -d began waiting {started - before:.3f} s after launch; waited {waited:.3f} s; "
          f"ready_s {doc['ready_s']:.3f} s")
    assert before <= started
    assert 0.0 <= waited - doc["ready_s"] < 0.05


def test_a_failed_service_has_no_healthy_time_and_its_error(stack: Stack) -> None:
    port = free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.toml(f"""
        [services.web]
        command = {q([PY, "server.py", str(port)])}
        port = {port}
        health = {{ http = "http://127.0.0.1:{port}/" }}

        [services.worker]
        command = {q([PY, "-c", "import sys; print('cannot open queue.db', flush=True); sys.exit(3)"])}
        max_restarts = 2
        backoff = "100ms"
        """)
    assert stack.run("up", "-d").code == 1
    doc = _analyze(stack)
    worker = _svc(doc, "worker")
    assert worker["state"] == "failed" and worker["healthy_s"] is None
    assert worker["restarts"] == 1 and "cannot open queue.db" in worker["error"]
    assert doc["ready_s"] is None and doc["critical_chain"] == ["worker"]
    assert _svc(doc, "web")["healthy_s"] is not None
    text = stack.run("analyze").out
    assert "not ready" in text and "cannot open queue.db" in text


def test_no_run_recorded_is_exit_1_with_one_line(stack: Stack) -> None:
    stack.toml(f"[services.web]\ncommand = {q([PY, '-c', 'pass'])}\n")
    for args in (("analyze",), ("analyze", "--json"), ("analyze", "--compare")):
        r = stack.run(*args)
        assert (r.code, r.out) == (1, "")
        assert r.err.strip().count("\n") == 0 and "no start" in r.err and "Traceback" not in r.err


def test_a_service_added_by_up_after_an_edit_is_on_the_timeline(stack: Stack) -> None:
    """`up` with a supervisor running applies the edited file: the recorder follows the new definition."""
    port = free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.toml(f"""
        [services.web]
        command = {q([PY, "server.py", str(port)])}
        health = {{ http = "http://127.0.0.1:{port}/" }}
        """)
    assert stack.run("up", "-d").code == 0
    added = free_port()
    with (stack.root / "stack.toml").open("a") as f:
        f.write(f'\n[services.extra]\ncommand = {q([PY, "server.py", str(added)])}\nport = {added}\n'
                f'health = {{ tcp = "127.0.0.1:{added}" }}\n')
    assert stack.run("up", "-d").code == 0
    assert stack.service("extra")["state"] == "healthy"
    doc = _analyze(stack)
    assert [s["name"] for s in doc["services"]] == ["web", "extra"]
    assert _svc(doc, "extra")["healthy_s"] is not None
    assert stack.run("down").code == 0
