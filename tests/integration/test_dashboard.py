"""`devstack ui` over plain HTTP, on a stack of real processes: its one line, the token and its
file, each security rule on every endpoint and the event stream (401, 403 for a foreign Host and
a cross-origin POST, no CORS header, the CSP, loopback only, secret markers never sent), the
API's answers, `Last-Event-ID` resume without duplicates, the OpenAPI description, the port
rules, a dashboard without a supervisor, and `up -d --ui`.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from tests.support.dashboard import LINE, Dashboard, Event
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.programs import HTTP_SERVER
from tests.support.waiting import wait_until

ENV_MARKER = "envfile-s3cr3t-7f3a"  # a value from a .env file
NAMED_MARKER = "named-s3cr3t-91c2"  # the value of a secret-looking variable

GETS = ["/api/v1/status", "/api/v1/events", "/api/v1/services/web/logs?n=10", "/api/v1/timeline",
        "/api/v1/openapi.json"]
POSTS = ["/api/v1/services/web/start", "/api/v1/services/web/stop", "/api/v1/services/web/restart",
         "/api/v1/up", "/api/v1/down"]

# Prints both secrets (as a careless app would), then serves; its health says OK.
LEAKY = HTTP_SERVER.replace(
    'print(f"serving on {port}", flush=True)',
    'import os\nprint("config:", os.environ["SERVICE_SECRET"], os.environ["API_TOKEN"], flush=True)\n'
    'print(f"serving on {port}", flush=True)')


def write_stack(stack: Stack) -> tuple[int, int]:
    web, api = free_port(), free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.write("leaky.py", LEAKY)
    stack.write(".env", f"SERVICE_SECRET={ENV_MARKER}\n")
    stack.toml(f"""
        [services.web]
        command = {q([PY, "server.py", str(web)])}
        port = {web}
        health = {{ http = "http://127.0.0.1:{web}/" }}

        [services.api]
        command = {q([PY, "leaky.py", str(api)])}
        depends_on = ["web"]
        port = {api}
        env = {{ API_TOKEN = "{NAMED_MARKER}" }}
        health = {{ http = "http://127.0.0.1:{api}/" }}
        """)
    return web, api


@pytest.fixture
def running(stack: Stack) -> Iterator[tuple[Stack, Dashboard]]:
    write_stack(stack)
    assert stack.run("up", "-d").code == 0
    ui = Dashboard.for_stack(stack, "--port", "0")
    try:
        yield stack, ui
    finally:
        ui.stop()


def no_marker(text: str | bytes, where: str) -> None:
    body = text.decode(errors="replace") if isinstance(text, bytes) else text
    for marker in (ENV_MARKER, NAMED_MARKER):
        assert marker not in body, f"{marker} sent in {where}"


def test_one_line_a_strong_token_in_a_private_file_and_loopback_only(
        running: tuple[Stack, Dashboard]) -> None:
    stack, ui = running
    assert LINE.match(ui.line.rstrip("\n")) and ui.line.endswith("\n")
    assert ui.proc.stdout is not None
    assert len(ui.token) >= 22  # base64url: 22 characters hold 128 bits; this one is 256
    token_file = stack.root / ".devstack" / "run" / "ui.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == ui.token
    listening = [c.laddr for c in psutil.Process(ui.proc.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    ui.stop()
    out = ui.proc.stdout.read() if ui.proc.stdout and not ui.proc.stdout.closed else b""
    assert out == b""  # nothing after the one line


def test_every_api_endpoint_needs_the_token(running: tuple[Stack, Dashboard]) -> None:
    _, ui = running
    for path in GETS:
        assert ui.request("GET", path, token=False).status == 401, path
        assert ui.request("GET", path, token=False, headers={"Authorization": "Bearer nope"}).status == 401
        assert ui.request("GET", path, token=False,
                          headers={"Cookie": f"devstack_{ui.port}={ui.token[:-1]}x"}).status == 401
    for path in POSTS:
        assert ui.request("POST", path, token=False).status == 401, path
    assert ui.request("GET", "/?token=wrong", token=False).status == 401
    assert ui.request("GET", "/", token=False).status == 200  # the page itself holds no data


def test_the_token_link_gives_a_strict_httponly_cookie(running: tuple[Stack, Dashboard]) -> None:
    _, ui = running
    reply = ui.request("GET", f"/?token={ui.token}", token=False)
    assert reply.status == 303 and reply.headers["location"] == "/"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"devstack_{ui.port}={ui.token};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    by_cookie = ui.request("GET", "/api/v1/status", token=False, headers={"Cookie": cookie.split(";")[0]})
    assert by_cookie.status == 200 and by_cookie.json()["stack"] == "stack"


def test_a_foreign_host_is_refused_everywhere(running: tuple[Stack, Dashboard]) -> None:
    _, ui = running
    for host in ("evil.example", f"evil.example:{ui.port}", f"127.0.0.1:{ui.port + 1}", "127.0.0.1",
                 f"192.168.0.10:{ui.port}"):
        for path in ["/", f"/?token={ui.token}", "/static/app.js", *GETS]:
            assert ui.request("GET", path, host=host).status == 403, (host, path)
        for path in POSTS:
            assert ui.request("POST", path, host=host).status == 403, (host, path)
    for host in (f"localhost:{ui.port}", f"[::1]:{ui.port}"):
        assert ui.request("GET", "/api/v1/status", host=host).status == 200


def test_a_cross_origin_post_is_refused_and_no_cors_header_is_sent(running: tuple[Stack, Dashboard]) -> None:
    stack, ui = running
    for origin in ("http://evil.example", f"http://localhost:{ui.port + 1}", "null"):
        for path in POSTS:
            assert ui.request("POST", path, headers={"Origin": origin}).status == 403, (origin, path)
    assert stack.service("web")["state"] == "healthy"  # none of them did anything
    own = ui.request("POST", "/api/v1/services/web/stop", headers={"Origin": f"http://{ui.host}"})
    assert own.status == 200 and own.json()["state"] == "stopped"
    replies = [ui.request("GET", p, headers={"Origin": "http://evil.example"}) for p in GETS]
    replies += [ui.request("OPTIONS", p, headers={"Origin": "http://evil.example",
                                                  "Access-Control-Request-Method": "POST"}) for p in POSTS]
    replies += [ui.request("GET", "/"), ui.request("GET", "/static/app.js"), ui.request("GET", "/nowhere")]
    for reply in replies:
        assert not [h for h in reply.headers if h.startswith("access-control-")], reply.headers
        assert reply.headers["content-security-policy"] == "default-src 'self'"


def test_no_secret_is_ever_sent(running: tuple[Stack, Dashboard]) -> None:
    """Both markers are in api's environment and in its output (log file): no answer carries them."""
    stack, ui = running
    assert ENV_MARKER in stack.log_text("api") and NAMED_MARKER in stack.log_text("api")
    for path in [*GETS[:1], *GETS[2:], "/api/v1/services/api/logs?n=100", "/"]:
        reply = ui.request("GET", path)
        assert reply.status == 200, path
        no_marker(reply.body, path)
    # The stream: its status, and the api's output again after a restart (the leaky line included).
    restart = ui.request("POST", "/api/v1/services/api/restart")
    no_marker(restart.body, "restart")
    events = ui.events(lambda ev: any(e.kind == "log" and "config:" in e.data["line"] for e in ev),
                       last_id=None)
    no_marker(repr([(e.kind, e.data) for e in events]), "the event stream")
    leaked = next(e for e in events if e.kind == "log" and "config:" in e.data["line"])
    assert leaked.data["line"] == "config: **** ****"
    for path in POSTS[:3] + POSTS[4:]:
        no_marker(ui.request("POST", path).body, path)


def _resume_until(ui: Dashboard, stack: Stack, first: list[Event]) -> list[Event]:
    last = first[-1].id
    # Lines printed while no page is connected…
    stack.run("restart", "api")
    # …come back exactly once after reconnecting with Last-Event-ID.
    return ui.events(lambda ev: any(e.kind == "log" and "serving on" in e.data["line"]
                                    and e.data["service"] == "api" for e in ev), last_id=last)


def test_last_event_id_resumes_without_duplicates(running: tuple[Stack, Dashboard]) -> None:
    stack, ui = running
    first = ui.events(lambda ev: len(ev) >= 1)
    assert first[0].kind == "status" and re.fullmatch(r"[0-9a-f]+-\d+", first[0].id)
    resumed = _resume_until(ui, stack, first)
    seqs = [int(e.id.rsplit("-", 1)[1]) for e in resumed]
    assert seqs == list(range(int(first[-1].id.rsplit("-", 1)[1]) + 1, seqs[-1] + 1))  # none twice, none lost
    # An id from another dashboard run (or too old) starts afresh with the whole status.
    fresh = ui.events(lambda ev: len(ev) >= 1, last_id="deadbeef-3")
    assert fresh[0].kind == "status"


def test_api_answers(running: tuple[Stack, Dashboard]) -> None:
    stack, ui = running
    status = ui.request("GET", "/api/v1/status").json()
    assert status["state"] == "up" and [s["name"] for s in status["services"]] == ["web", "api"]
    assert {k for k in status} == set(stack.status())
    logs = ui.request("GET", "/api/v1/services/web/logs?n=5").json()["lines"]
    assert logs and set(logs[0]) == {"service", "stream", "line", "ts"}
    assert ui.request("GET", "/api/v1/services/web/logs?n=0").status == 400
    assert ui.request("GET", "/api/v1/services/nope/logs").status == 404
    assert ui.request("POST", "/api/v1/services/nope/restart").status == 404
    timeline = ui.request("GET", "/api/v1/timeline").json()
    assert timeline == json.loads(stack.run("analyze", "--json").out)
    old_pid = stack.service("web")["pid"]
    restarted = ui.request("POST", "/api/v1/services/web/restart").json()
    assert restarted["state"] == "healthy" and restarted["pid"] not in (None, old_pid)
    assert stack.service("web")["pid"] == restarted["pid"]
    down = ui.request("POST", "/api/v1/down").json()
    assert down["state"] == "down" and stack.run("status").code == 3


def test_openapi_describes_every_route(running: tuple[Stack, Dashboard]) -> None:
    from openapi_spec_validator import validate

    from devstack.config.load import find_stack
    from devstack.env.secrets import Redactor
    from devstack.ui.actions import Actions
    from devstack.ui.app import create_app
    from devstack.ui.feed import Hub

    stack, ui = running
    spec = ui.request("GET", "/api/v1/openapi.json").json()
    validate(spec)
    found = find_stack(stack.root, None, None)
    app = create_app(found, Hub(Redactor()), Actions(found, dict), "token", 1)
    paths = {route.path for route in app.app.routes if route.path.startswith("/api/")}  # type: ignore[attr-defined]
    assert paths - {"/api/v1/services/{name}/{verb:str}"} <= set(spec["paths"])
    for verb in ("start", "stop", "restart"):
        assert f"/api/v1/services/{{name}}/{verb}" in spec["paths"]


def test_without_a_supervisor_every_service_is_stopped_and_start_brings_it_up(stack: Stack) -> None:
    write_stack(stack)
    ui = Dashboard.for_stack(stack, "--port", "0")
    try:
        status = ui.request("GET", "/api/v1/status").json()
        assert status["supervisor"]["running"] is False
        assert {s["state"] for s in status["services"]} == {"stopped"}
        assert ui.request("GET", "/api/v1/timeline").status == 404
        started = ui.request("POST", "/api/v1/services/api/start").json()  # with its dependency
        assert started["state"] == "healthy"
        assert stack.service("web")["state"] == "healthy"
        events = ui.events(lambda ev: any(e.kind in ("status", "service") and _running(e) for e in ev))
        assert events
    finally:
        ui.stop()


def _running(event: Event) -> bool:
    data = event.data
    return bool(data.get("supervisor", {}).get("running")) if event.kind == "status" else True


def test_the_default_port_when_free_else_a_free_one_said_on_stderr(stack: Stack) -> None:
    from devstack.ui.serve import DEFAULT_PORT

    write_stack(stack)
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", DEFAULT_PORT))
        blocker.listen(1)
    except OSError:
        pass  # taken by someone else already: taken all the same
    try:
        ui = Dashboard.for_stack(stack)
        try:
            assert ui.port != DEFAULT_PORT
            assert f"port {DEFAULT_PORT} is taken" in wait_until(ui.stderr, 5, "the note on stderr")
        finally:
            ui.stop()
        taken = stack.run("ui", "--no-browser", "--port", str(DEFAULT_PORT))
        assert taken.code == 2 and taken.out == "" and "Traceback" not in taken.err
        assert taken.err.strip().count("\n") == 0 and f"port {DEFAULT_PORT} is taken" in taken.err
    finally:
        blocker.close()


def test_up_d_ui_prints_the_line_and_the_dashboard_goes_with_down(stack: Stack) -> None:
    write_stack(stack)
    r = stack.run("up", "-d", "--ui")
    assert r.code == 0, r.text
    line = r.out.strip().splitlines()[-1]
    match = LINE.match(line)
    assert match, r.out
    port = int(match[1])
    holder = next(c.pid for c in psutil.net_connections(kind="tcp")
                  if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid)
    assert stack.run("down").code == 0

    def gone() -> bool:
        try:
            return psutil.Process(holder).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, 15, "the dashboard to exit after down")


def test_the_dashboard_process_holds_no_secret_in_its_command_line(running: tuple[Stack, Dashboard]) -> None:
    _, ui = running
    cmdline = " ".join(psutil.Process(ui.proc.pid).cmdline())
    assert ui.token not in cmdline
    no_marker(cmdline, "the dashboard's command line")


def test_the_supervisor_stream_is_bounded_for_a_reader_that_never_reads(stack: Stack) -> None:
    """A subscriber that stops reading never stalls the supervisor: status keeps answering while
    a service floods."""
    port = free_port()
    stack.write("server.py", HTTP_SERVER)
    flood = [PY, "-c", "import sys\nwhile True: sys.stdout.write('x' * 99 + chr(10))"]
    stack.toml(f"""
        [services.flood]
        command = {q(flood)}

        [services.web]
        command = {q([PY, "server.py", str(port)])}
        health = {{ http = "http://127.0.0.1:{port}/" }}
        """)
    assert stack.run("up", "-d").code == 0
    sock = socket.socket(socket.AF_UNIX)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(str(Path(stack.root / ".devstack" / "run" / "control.sock")))
    sock.sendall(b'{"v":1,"verb":"subscribe","args":{}}\n')
    try:
        for _ in range(20):
            r = stack.run("status", "--json", timeout=10)
            assert r.code == 0
    finally:
        sock.close()


def test_a_value_added_to_a_env_file_later_is_masked_too(running: tuple[Stack, Dashboard]) -> None:
    """The dashboard learns the .env files again before it serves log files."""
    stack, ui = running
    later = "added-later-5e1d"
    stack.write(".env", f"SERVICE_SECRET={ENV_MARKER}\nLATER={later}\n")
    assert stack.run("restart", "web").code == 0
    with (stack.root / ".devstack" / "logs" / "web.log").open("a") as log:
        log.write(f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} stdout printed {later}\n")
    body = ui.request("GET", "/api/v1/services/web/logs?n=5").body.decode()
    assert "printed ****" in body and later not in body


def test_up_ui_in_the_foreground_prints_the_line_and_ctrl_c_ends_both(stack: Stack) -> None:
    write_stack(stack)
    out = stack.root.parent / "fg.out"
    proc = stack.spawn("up", "--ui", out=out)

    def printed() -> str | None:
        return next((x for x in out.read_text().splitlines() if x.startswith("dashboard: ")), None)

    line = wait_until(printed, 30, "the dashboard line")
    match = LINE.match(line)
    assert match
    stack.wait_state("api", "healthy")
    proc.send_signal(2)
    assert proc.wait(30) == 130
    with socket.socket() as s:  # the dashboard is gone with the stack
        assert s.connect_ex(("127.0.0.1", int(match[1]))) != 0


def test_ctrl_c_with_a_page_open_ends_at_once_and_quietly(stack: Stack) -> None:
    """An open event stream used to hold the exit for the whole shutdown grace, then be cancelled
    with a traceback on stderr."""
    write_stack(stack)
    ui = Dashboard.for_stack(stack, "--port", "0")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
        auth = {"Host": ui.host, "Authorization": f"Bearer {ui.token}"}
        conn.request("GET", "/api/v1/events", headers=auth)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.readline().startswith(b"id: ")
        began = time.monotonic()
        code = ui.stop()
        took = time.monotonic() - began
        print(f"devstack ui ended {took:.2f} s after SIGINT with a stream open")
        assert code == 130 and took < 0.9  # 130: ended by Ctrl-C, as every devstack command
        assert "Traceback" not in ui.stderr() and "ERROR" not in ui.stderr(), ui.stderr()
        conn.close()
    finally:
        ui.stop()
