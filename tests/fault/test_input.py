"""Faults of what a stack is given: a port already taken, a missing executable or venv,
malformed .env files, broken stack.toml files (syntax, keys, types, dependency cycles, ports),
odd service names on the command line, and a project path with spaces, unicode and shell
characters. Rows R22 and R30–R36 of tests/fault/README.md.

Ground truth: every helper program logs its own start to a side log (a start means a bad input
was not refused first), survivors are counted by the test's env tag in /proc, the lock and the
socket are checked directly. Where the row is about what devstack *says* (the error, the exit
code), that is the thing under test.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from devstack.control.paths import StatePaths
from tests.support.figures import Figure, KnownBug
from tests.support.ground_truth import (
    Poller,
    alive,
    devstack_texts,
    lock_is_free,
    side_events,
    states,
    status_or_none,
    supervisor_pid,
    tagged_pids,
)
from tests.support.harness import PY, Run, Stack, q
from tests.support.ports import free_port, needs_ipv6
from tests.support.programs import HEALTH, LIFE, SIDE, http_service, life_service
from tests.support.waiting import wait_until, watch_for

SQUAT = SIDE + r'''
import socket
host, port, side_log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((host, port))
s.listen()
side(side_log, "squatter", "bound", f"{host}:{port}")
while True:
    time.sleep(1)
'''


# =========================================================================== R22: port in use at start


@needs_ipv6
def test_a_port_held_at_start_names_the_holder_and_spawns_nothing(stack: Stack, figure: Figure) -> None:
    """R22: a foreign process holds api4's port on 127.0.0.1 and api6's on [::1]. `up -d` fails both
    without spawning them (their own start logs stay empty, also after twice the backoff: no
    restart loop), names the holder by pid and command line, leaves the holders alone and the
    other service healthy; once the holder is gone, `start` brings the service up."""
    side = stack.root / "side.log"
    stack.write("health.py", HEALTH)
    stack.write("squat.py", SQUAT)
    ports = {"api4": free_port(), "api6": free_port(), "ok": free_port()}
    hosts = {"api4": "127.0.0.1", "api6": "::1"}
    squatters = {name: subprocess.Popen([PY, "squat.py", hosts[name], str(ports[name]), str(side)],
                                        cwd=stack.root, env=stack.env(), stdin=subprocess.DEVNULL)
                 for name in hosts}
    try:
        wait_until(lambda: len(side_events(side, "squatter", "bound")) == 2, 10, "both squatters bound")
        stack.toml("".join(http_service(name, port, side, "ok", extra=f"port = {port}")
                           for name, port in ports.items()))
        poller = Poller(lambda: status_or_none(stack), 0.03)
        poller.start()
        started = time.monotonic()
        try:
            up = stack.run("up", "-d")
        finally:
            poller.stop()
        failed = [t for t, d in poller.statuses() if states(d)["api4"] == states(d)["api6"] == "failed"]
        data = stack.status()
        late = watch_for(1.2, lambda: [e for e in side_events(side, event="start") if e.name in hosts])
        again = stack.status()
        named = 0
        for name, proc in squatters.items():
            error = stack.service(name, data)["health"]["error"] or ""
            named += f"port {ports[name]} is held by pid {proc.pid}" in error and "squat.py" in error
        detect_ms = round((failed[0] - started) * 1000) if failed else None
        figure("ms from `up -d` to both failed", detect_ms, "ms", 1000)
        figure("holder named with pid and command line", named, "of 2", 2)
        figure("wasted spawns", len(late), "starts", 0)
        killed = sum(p.poll() is not None for p in squatters.values())
        figure("foreign holders killed", killed, "processes", 0)
        assert up.code == 1, up
        assert failed and failed[0] - started < 1.0, failed[:1]
        assert named == 2, [stack.service(n, data)["health"]["error"] for n in hosts]
        assert not late, late
        for name in hosts:
            svc = stack.service(name, again)
            assert (svc["state"], svc["restarts"], svc["pid"]) == ("failed", 0, None), svc
        assert stack.service("ok", again)["state"] == "healthy"
        assert all(p.poll() is None for p in squatters.values())
        squatters["api4"].kill()
        squatters["api4"].wait(5)
        start = stack.run("start", "api4")
        assert start.code == 0, start
        assert len(side_events(side, "api4", "start")) == 1
        assert stack.service("api4")["state"] == "healthy"
    finally:
        for proc in squatters.values():
            proc.kill()
            proc.wait(5)


# =========================================================================== R30 + R31: environment


def test_a_missing_executable_or_venv_fails_at_once_without_spawning(stack: Stack, figure: Figure) -> None:
    """R30: a command that is not on PATH and a declared venv that does not exist fail at once
    (pre-flight: no spawn, no retries), with a message naming what is missing and the fix; the
    other service runs."""
    side = stack.root / "side.log"
    stack.write("life.py", LIFE)
    (stack.root / "svc").mkdir()
    stack.toml("""
[services.ghost]
command = "no-such-tool-7f3a --serve"

[services.novenv]
cwd = "svc"
venv = "venv"
command = "python app.py"
""" + life_service("ok", side))
    poller = Poller(lambda: status_or_none(stack), 0.03)
    started = time.monotonic()
    poller.start()
    try:
        up = stack.run("up", "-d")
    finally:
        poller.stop()
    failed_at = [t for t, d in poller.statuses() if states(d)["ghost"] == states(d)["novenv"] == "failed"]
    data = stack.status()
    events = stack.log_text("devstack")
    spawns = events.count("ghost started") + events.count("novenv started")
    ghost, novenv = stack.service("ghost", data), stack.service("novenv", data)
    figure("seconds to an actionable error", round(failed_at[0] - started, 2) if failed_at else None, "s", 1)
    figure("spawn attempts before failed", spawns + ghost["restarts"] + novenv["restarts"], "spawns", 0)
    assert up.code == 1, up
    assert failed_at and failed_at[0] - started < 1.5, failed_at[:1]
    assert spawns == 0 and ghost["restarts"] == novenv["restarts"] == 0 and ghost["pid"] is None
    assert "no-such-tool-7f3a" in ghost["health"]["error"] and "PATH" in ghost["health"]["error"], ghost
    assert "svc/venv" in novenv["health"]["error"], novenv
    assert stack.service("ok", data)["state"] == "running"


MARKER = "s3cr3t-R31-MARKER"


def test_malformed_env_files_are_located_and_never_leak_values(stack: Stack, figure: Figure) -> None:
    """R31: a .env with a BOM, a line without '=', an unterminated quote and a duplicate key, every
    value a marker; and a service whose declared env_file is missing. The bad lines are named by
    file:line, the BOM does not end up in the first name, the missing file keeps its service from
    starting, and no marker appears in any output or devstack file. (devstack reports malformed
    lines as warnings and keeps going, as python-dotenv does; R31 would make them errors.)"""
    side = stack.root / "side.log"
    stack.write("life.py", LIFE)
    (stack.root / "svc").mkdir()
    (stack.root / "svc" / ".env").write_bytes(
        f"\ufeffFIRST={MARKER}-1\nno equals here {MARKER}-2\nQUOTED=\"unterminated {MARKER}-3\n"
        f"DUP={MARKER}-4\nDUP={MARKER}-5\nAPI_TOKEN={MARKER}-6\n".encode())
    stack.toml(f"""
[services.svc]
cwd = "svc"
command = {q([PY, str(stack.root / "life.py"), "svc", str(side), "run", "0"])}

[services.needs]
env_file = "missing.env"
command = {q([PY, "life.py", "needs", str(side), "run", "0"])}
optional = true
""")
    runs = [stack.run("doctor"), stack.run("env", "svc"), stack.run("up", "-d"), stack.run("status"),
            stack.run("status", "--json"), stack.run("logs", "devstack", "-n", "1000")]
    doctor, env = runs[0], runs[1]
    data = stack.status()
    assert stack.run("down").code == 0
    files = [p.read_text(errors="replace") for p in (stack.root / ".devstack").rglob("*")
             if p.is_file() and p.name not in ("svc.log", "needs.log")]
    leaks = sum(text.count(MARKER) for text in [r.text for r in runs] + files)
    located = sum(f"svc/.env:{n}: could not parse this line" in doctor.out for n in (2, 3))
    duplicate_warned = int("DUP" in doctor.out)
    figure("marker occurrences", leaks, f"in {len(runs)} outputs and {len(files)} files", 0)
    figure("bad lines located correctly", located, "of 2", 2)
    figure("duplicate key warned (R31 asks for it; devstack's rules are silent)", duplicate_warned, "y/n",
           None)
    assert leaks == 0
    assert located == 2, doctor.out
    assert re.search(r"^FIRST\s", env.out, re.M) and "\ufeff" not in env.out, env.out
    needs = stack.service("needs", data)
    assert needs["state"] == "failed" and "missing.env" in needs["health"]["error"], needs
    assert len(side_events(side, "svc", "start")) == 1 and not side_events(side, "needs", "start")


class CrlfLineNumbers(KnownBug):
    """Fixed; raised again if it comes back. The bug was:
    R31: in a .env with CRLF line ends, every unparsable line after the first is reported one
    line further down per earlier unparsable line. python-dotenv's error recovery stops at the
    `\\r` and counts the line, leaving the `\\n` as the next binding's leading whitespace; env.py
    `_binding_line` then adds that newline again. Repro: printf 'A=1\\r\\nbad one\\r\\nbad two\\r\\n
    bad three\\r\\n' > .env; devstack doctor → .env:2, .env:4, .env:6 (lines 2, 3, 4)."""


def test_malformed_lines_of_a_crlf_env_file_get_their_own_line_numbers(stack: Stack, figure: Figure) -> None:
    """R31: the same `file:line` for the bad lines of a .env saved with CRLF line ends."""
    (stack.root / ".env").write_bytes(b"A=1\r\nbad one\r\nbad two\r\nbad three\r\nB=2\r\n")
    stack.toml('[services.svc]\ncommand = "sleep 1"\n')
    doctor = stack.run("doctor")
    said = [int(n) for n in re.findall(r"\.env:(\d+): could not parse this line", doctor.out)]
    figure("CRLF bad lines located correctly", sum(n in said for n in (2, 3, 4)), "of 3", 3)
    assert len(said) == 3, doctor.out
    if said != [2, 3, 4]:
        raise CrlfLineNumbers(f"lines 2, 3, 4 reported as {said}")


# =========================================================================== R32–R34: bad stack.toml


def canary(side: Path) -> str:
    """A valid service that logs its start: any start means a bad file was not refused first."""
    return life_service("canary", side)


def refused(stack: Stack, text: str, *args: str) -> Run:
    stack.write("stack.toml", text)
    return stack.run(*(args or ("up", "-d")))


def plain_error(r: Run) -> bool:
    """Exit 2, one line on stderr starting with "Error: stack.toml", nothing else, no traceback."""
    lines = r.err.strip().splitlines()
    return r.code == 2 and len(lines) == 1 and lines[0].startswith("Error: stack.toml") and \
        "Traceback" not in r.text and not r.out.strip()


def assert_nothing_ran(stack: Stack, side: Path) -> None:
    assert not side_events(side, event="start"), side_events(side)
    assert not tagged_pids(stack.tag)
    assert lock_is_free(stack.root)
    assert not StatePaths.of(stack.root).socket.exists()


BROKEN_TOML = {
    "toml syntax": ('[services.api]\ncommand = "python -c\n', r"stack\.toml:\d+:\d+: invalid TOML"),
    "misspelt key": ('[services.api]\ncomand = "x"\n',
                     r"services\.api\.comand: unknown key; did you mean 'command'\?"),
    "port not a number": ('[services.api]\ncommand = "x"\nport = "80a"\n',
                          r"services\.api\.port: expected an integer from 1 to 65535"),
    "negative grace": ('[services.api]\ncommand = "x"\nstop_timeout = -1\n',
                       r"services\.api\.stop_timeout: "),
    "empty command": ('[services.api]\ncommand = ""\n', r"services\.api\.command: "),
    "unbalanced quotes": ("[services.api]\ncommand = \"python -c 'print(1)\"\n",
                          r"services\.api\.command: .*balanced quotes"),
    "bad duration": ('[services.api]\ncommand = "x"\nbackoff = "fast"\n', r"services\.api\.backoff: "),
    "bad restart": ('[services.api]\ncommand = "x"\nrestart = "never"\n', r"services\.api\.restart: "),
    "bad signal": ('[services.api]\ncommand = "x"\nstop_signal = "SIGFOO"\n',
                   r"services\.api\.stop_signal: "),
    "two probe kinds": ('[services.api]\ncommand = "x"\nhealth = { tcp = "127.0.0.1:1", cmd = "true" }\n',
                        r"services\.api\.health"),
    "string not a table": ('[services]\napi = "python app.py"\n', r"services\.api: expected a table"),
}


def test_broken_stack_files_are_one_plain_error_and_start_nothing(stack: Stack, figure: Figure) -> None:
    """R32: eleven broken stack.toml files (each next to a valid `canary` service), through `up -d`
    (and the foreground `up` for three): exit 2, one plain line naming stack.toml and the line:col or the key,
    no traceback, nothing spawned, no lock held, no socket left."""
    side = stack.root / "side.log"
    stack.write("life.py", LIFE)
    wrong = []
    runs = 0
    for i, (case, (text, pattern)) in enumerate(BROKEN_TOML.items()):
        full = canary(side) + text if not text.startswith("[services]") else text + canary(side)
        for args in (("up", "-d"), ("up",))[: 2 if i < 3 else 1]:  # the foreground `up` for three
            runs += 1
            r = refused(stack, full, *args)
            if not (plain_error(r) and re.search(pattern, r.err)):
                wrong.append((case, args, r.code, r.err[-300:]))
    figure("rejected with exact location", runs - len(wrong), f"of {runs}", runs)
    figure("processes spawned", len(side_events(side, event="start")), "starts", 0)
    assert not wrong, wrong
    assert_nothing_ran(stack, side)


def test_dependency_cycles_and_unknown_names_are_refused_with_the_path(stack: Stack, figure: Figure) -> None:
    """R33: a 3-cycle and a self-loop are refused with the whole cycle printed, an unknown dependency
    with a close match gets the suggestion; exit 2, nothing started. (R33's third case,
    `healthy` on a service without a probe, is allowed by devstack: such a service counts as up once
    `running`.)"""
    side = stack.root / "side.log"
    stack.write("life.py", LIFE)
    cases = {
        "3-cycle": ('[services.a]\ncommand = "x"\ndepends_on = ["b"]\n[services.b]\ncommand = "x"\n'
                    'depends_on = ["c"]\n[services.c]\ncommand = "x"\ndepends_on = ["a"]\n',
                    "dependency cycle: a → b → c → a"),
        "self-loop": ('[services.api]\ncommand = "x"\ndepends_on = ["api"]\n', "dependency cycle: api → api"),
        "unknown name": ('[services.db]\ncommand = "x"\n'
                         '[services.api]\ncommand = "x"\ndepends_on = ["dbb"]\n',
                         "services.api.depends_on: unknown service 'dbb'; did you mean 'db'?"),
    }
    right = 0
    for text, expected in cases.values():
        r = refused(stack, canary(side) + text)
        right += plain_error(r) and expected in r.err
    figure("cycles and unknown names reported with the full path", right, f"of {len(cases)}", len(cases))
    assert right == len(cases)
    assert_nothing_ran(stack, side)


def test_duplicate_and_invalid_ports_are_refused_at_load(stack: Stack, figure: Figure) -> None:
    """R34: two services declaring one port are refused at load naming both; ports 0 and 70000 are
    refused; exit 2, nothing started. A port below 1024 gets no warning (reported, not asserted:
    devstack's rules do not ask for it)."""
    side = stack.root / "side.log"
    stack.write("life.py", LIFE)
    port = free_port()
    dup = refused(stack, canary(side) + f'[services.a]\ncommand = "x"\nport = {port}\n'
                  f'[services.b]\ncommand = "x"\nport = {port}\n')
    ranges = [refused(stack, canary(side) + f'[services.a]\ncommand = "x"\nport = {p}\n') for p in (0, 70000)]
    named = f"services.b.port: port {port} is also declared by service 'a'"
    caught = int(plain_error(dup) and named in dup.err)
    caught += sum(plain_error(r) and "expected an integer from 1 to 65535" in r.err for r in ranges)
    stack.toml(f'[services.web]\ncommand = "x"\nport = 80\n{canary(side)}')
    doctor = stack.run("doctor")
    figure("duplicates and out-of-range ports caught at load", caught, "of 3", 3)
    warned = int("1024" in doctor.out or "privileged" in doctor.out)
    figure("warning for a port below 1024", warned, "y/n", None)
    assert caught == 3, (dup.err, [r.err for r in ranges])
    assert_nothing_ran(stack, side)


# =========================================================================== R35 + R36: CLI input, paths


ODD_NAMES = ["apu", "../api", "x" * 10_000, "ápi", "api\x1b]52;c;ZXZpbA==\x07", "api\n"]


def test_unknown_or_odd_service_names_are_refused_before_any_action(stack: Stack, figure: Figure) -> None:
    """R35: `restart`, `stop` and `logs` with a typo, a path, a 10 KB name, unicode, control
    characters: exit 2, one short line with a close-match suggestion where there is one, no
    terminal control echoed back, no traceback; the running service and supervisor are
    untouched. (Hostile names through the control socket itself: test_security R38.)"""
    side = stack.root / "side.log"
    stack.write("life.py", LIFE)
    stack.toml(life_service("api", side))
    stack.run("up", "-d", "--timeout", "100ms")  # api needs 1 s to count as running: no need to wait
    wait_until(lambda: side_events(side, "api", "start"), 5, "api to start")
    sup = supervisor_pid(stack)
    wrong, suggested, echoed = [], 0, 0
    for name in ODD_NAMES:
        for verb in ("restart", "stop", "logs"):
            r = stack.run(verb, name)
            lines = r.err.strip().splitlines()
            if r.code != 2 or len(lines) != 1 or len(r.err) > 400 or "Traceback" in r.text:
                wrong.append((verb, name[:20], r.code, r.err[:200]))
            echoed += "\x1b" in r.text or "\x07" in r.text
            suggested += name in ("apu", "ápi") and "did you mean 'api'?" in r.err
    stack.wait_state("api", "running", timeout=5)
    data = stack.status()
    server_errors = devstack_texts(stack).count("Traceback") + int(not alive(sup))
    total = 3 * len(ODD_NAMES)
    figure("refused with exit 2 and one short line", total - len(wrong), f"of {total}", total)
    figure("correct suggestions", suggested, "of 6", 6)
    figure("terminal control echoed", echoed, "outputs", 0)
    figure("server-side errors", server_errors, "errors", 0)
    assert not wrong, wrong
    assert suggested == 6 and echoed == 0 and server_errors == 0
    assert data["supervisor"]["pid"] == sup and stack.service("api", data)["state"] == "running"
    assert len(side_events(side, "api", "start")) == 1 and alive(side_events(side, "api", "start")[0].pid)


def test_a_project_path_with_spaces_unicode_and_shell_characters(stack: Stack, figure: Figure) -> None:
    """R36: a stack folder whose path has spaces, é/ü, quotes, `;` and `$(touch PWNED)`, longer than
    150 characters (so the socket moves to the runtime folder), a service cwd with a space. up -d,
    status, logs, restart and down all work, the service runs in its folder, nothing is executed
    from the path. (A read-only checkout is not tested: this suite runs as root, which writes
    anyway, and devstack keeps the state in <stack>/.devstack with no other place to put it.)"""
    odd = stack.root / "sp ace é ü 'q' \"dq\" ;x $(touch PWNED)" / ("long-" * 20)
    app = odd / "app dir é"
    app.mkdir(parents=True)
    side = odd / "side log.txt"
    (app / "health.py").write_text(HEALTH)
    port = free_port()
    (odd / "stack.toml").write_text(f"""
[services.web]
cwd = "app dir é"
command = {q([PY, "health.py", "web", str(port), str(side), "ok"])}
port = {port}
health = {{ http = "http://127.0.0.1:{port}/", expect_json = {{ status = "OK" }} }}
""")
    runs: dict[str, Run] = {}
    try:
        for args in (("up", "-d"), ("status", "--json"), ("logs", "web", "-n", "5"), ("restart", "web")):
            runs[" ".join(args)] = stack.run(*args, cwd=odd)
    finally:
        runs["down"] = stack.run("down", cwd=odd)
    failing = [(k, r.code, r.err[-300:]) for k, r in runs.items() if r.code != 0]
    pwned = list(stack.root.parent.rglob("PWNED")) + list(Path.cwd().glob("PWNED"))
    starts = side_events(side, "web", "start")
    figure("path length", len(str(odd / ".devstack" / "run" / "control.sock")), "chars", ">107")
    figure("commands failing because of the path", len(failing), f"of {len(runs)}", 0)
    figure("commands executed from the path", len(pwned), "files", 0)
    assert not failing, failing
    assert not pwned
    assert len(starts) == 2 and "web serving on" in runs["logs web -n 5"].out
    assert {e.detail for e in starts} == {str(app)}, starts
