"""The command-line conventions docker compose and process-compose users type by habit: `ps`,
`logs --tail N` and `-t`, `up -d --wait`, `DEVSTACK_FILE` and `-f DIR` (also on status' fast
path), `--ansi` with NO_COLOR and FORCE_COLOR, compound durations, `--timeout` on
restart/stop/start, and the completion of service names."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.programs import HTTP_SERVER
from tests.support.waiting import wait_until

CHATTY = "import time\nprint('hello from', __import__('sys').argv[1], flush=True)\ntime.sleep(600)\n"
ESC = "\x1b["


def two_services(stack: Stack) -> int:
    """`web` (HTTP probe) depends on `worker` (no probe); returns web's port."""
    port = free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.write("chatty.py", CHATTY)
    stack.toml(f"""
[services.worker]
command = {q([PY, "chatty.py", "worker"])}

[services.web]
command = {q([PY, "server.py", str(port)])}
depends_on = ["worker"]
port = {port}
health = {{ http = "http://127.0.0.1:{port}/", interval = "1m30s", start_period = "1m" }}
""")
    return port


def test_ps_is_status_with_every_option(stack: Stack) -> None:
    two_services(stack)
    offline = stack.run("ps", "--json")
    assert offline.code == 3 and json.loads(offline.out)["state"] == "down"
    assert stack.run("ps").out == stack.run("status").out
    assert stack.run("up", "-d").code == 0
    ps, status = json.loads(stack.run("ps", "--json").out), stack.status()
    assert [s["name"] for s in ps["services"]] == ["worker", "web"]
    assert {s["state"] for s in ps["services"]} == {"running", "healthy"}
    assert ps["supervisor"] == status["supervisor"]
    assert stack.run("ps", "-h").out.replace("ps", "status") == stack.run("status", "-h").out


def test_logs_tail_and_t_are_n_and_timestamps(stack: Stack) -> None:
    two_services(stack)
    assert stack.run("up", "-d").code == 0
    wait_until(lambda: "hello from worker" in stack.log_text("worker"), 30, "the worker's line")
    short = stack.run("logs", "worker", "--tail", "1", "-t")
    long = stack.run("logs", "worker", "-n", "1", "--timestamps")
    assert short.code == 0 and short.out.splitlines() == long.out.splitlines()
    (line,) = short.out.splitlines()
    assert line.endswith("worker | hello from worker") and line[:4].isdigit()  # an ISO time first


def test_up_d_wait_is_accepted_and_wait_alone_detaches(stack: Stack) -> None:
    two_services(stack)
    r = stack.run("up", "-d", "--wait", timeout=60)
    assert r.code == 0, r
    assert "web" in r.out and "healthy" in r.out
    assert stack.run("down").code == 0
    r = stack.run("up", "--wait", timeout=60)  # returns: the supervisor runs in the background
    assert r.code == 0, r
    assert stack.status()["supervisor"]["running"] is True


def test_devstack_file_and_f_dir_name_the_stack_from_anywhere(stack: Stack) -> None:
    two_services(stack)
    elsewhere = stack.root.parent / "elsewhere"
    elsewhere.mkdir()
    assert stack.run("-f", str(stack.root), "up", "-d", cwd=elsewhere).code == 0
    by_dir = stack.run("-f", str(stack.root), "status", "--json", cwd=elsewhere)
    by_env = _run_with(stack, ["status", "--json"], elsewhere, DEVSTACK_FILE=str(stack.root / "stack.toml"))
    assert by_dir.code == 0 and by_env.returncode == 0
    assert json.loads(by_dir.out)["supervisor"]["running"] is True
    assert json.loads(by_env.stdout)["supervisor"] == json.loads(by_dir.out)["supervisor"]
    # -f wins over DEVSTACK_FILE
    other = elsewhere / "stack.toml"
    other.write_text('[services.lonely]\ncommand = "true"\n')
    both = _run_with(stack, ["-f", str(stack.root), "ps"], elsewhere, DEVSTACK_FILE=str(other))
    assert "stack stack:" in both.stdout and "lonely" not in both.stdout
    # …and DEVSTACK_FILE reaches every command, not only status
    logs = _run_with(stack, ["logs", "worker"], elsewhere, DEVSTACK_FILE=str(stack.root))
    assert "hello from worker" in logs.stdout
    missing = stack.run("-f", str(elsewhere / "nothing"), "status", cwd=elsewhere)
    assert missing.code == 2 and len(missing.err.strip().splitlines()) == 1, missing


FAST_PATH = """
import sys
from devstack import entry
args = entry.fast_status_args(sys.argv[1:])
code = entry.fast_status(*args) if args is not None else None
print("FAST", code, "click" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [
    ["status"], ["ps", "--json"], ["-f", "{root}", "status"], ["--file={root}/stack.toml", "ps", "--json"],
    ["--ansi", "never", "status", "--ansi=always"], ["env:status"],
])
def test_every_way_of_naming_the_stack_takes_the_fast_status_path(stack: Stack, argv: list[str]) -> None:
    two_services(stack)
    assert stack.run("up", "-d").code == 0
    env = {}
    if argv == ["env:status"]:
        argv, env = ["status"], {"DEVSTACK_FILE": str(stack.root)}
    args = [a.replace("{root}", str(stack.root)) for a in argv]
    elsewhere = stack.root.parent if "{root}" in " ".join(argv) or env else stack.root
    proc = _run_with(stack, ["-c", FAST_PATH, *args], elsewhere, python=True, **env)
    assert "FAST 0 False" in proc.stderr, proc.stderr  # answered, exit 0, without loading click
    assert "web" in proc.stdout


def test_the_fast_path_leaves_other_forms_to_the_full_cli() -> None:
    from devstack.entry import fast_status_args

    assert fast_status_args(["status", "--watch"]) is None
    assert fast_status_args(["--procfile", "Procfile", "status"]) is None
    assert fast_status_args(["status", "auto"]) is None
    assert fast_status_args(["status", "-f", "x"]) is None  # -f belongs before the command
    assert fast_status_args(["--ansi", "sometimes", "status"]) is None
    assert fast_status_args(["-f"]) is None
    assert fast_status_args(["-f", "x", "ps", "--json"]) == ("x", True)


def test_ansi_always_never_and_the_colour_variables(stack: Stack) -> None:
    two_services(stack)
    assert stack.run("up", "-d").code == 0
    wait_until(lambda: "hello from worker" in stack.log_text("worker"), 30, "the worker's line")

    def logs(*args: str, **env: str) -> str:
        proc = _run_env(stack, [*args, "logs", "worker", "-n", "1"], stack.root, {"NO_COLOR": None, **env})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert ESC not in logs()  # a pipe: no colour
    assert ESC in logs("--ansi", "always") and ESC not in logs("--ansi", "never")
    assert ESC in _run_with(stack, ["logs", "worker", "--ansi", "always"], stack.root, NO_COLOR=None).stdout
    assert ESC in logs(FORCE_COLOR="1")
    assert ESC not in logs(FORCE_COLOR="0")
    assert ESC not in logs(NO_COLOR="1", FORCE_COLOR="1")  # the opt-out wins
    assert ESC in logs("--ansi", "always", NO_COLOR="1")  # the command line wins over both
    bad = stack.run("--ansi", "sometimes", "status")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "'sometimes' is not one of" in bad.err


def test_ansi_reaches_the_foreground_terminal_and_force_color_the_children(stack: Stack) -> None:
    stack.write("colours.py", "import os, time\nprint('FORCE_COLOR=' + os.environ.get('FORCE_COLOR', '-'),"
                              " flush=True)\ntime.sleep(600)\n")
    stack.toml(f'[services.shade]\ncommand = {q([PY, "colours.py"])}\n')
    out = stack.root.parent / "fg.out"
    proc = stack.spawn("up", "--ansi", "always", out=out)
    wait_until(lambda: "FORCE_COLOR=" in out.read_text(errors="replace"), 30, "the service's line")
    proc.send_signal(2)
    assert proc.wait(20) == 130
    text = out.read_text(errors="replace")
    assert f"{ESC}" in text and "FORCE_COLOR=1" in text, text


@pytest.mark.parametrize("command", ["restart", "stop", "start", "up"])
def test_a_bad_timeout_is_one_line_and_exit_2(stack: Stack, command: str) -> None:
    two_services(stack)
    args = [command, "web", "--timeout", "banana"]
    r = stack.run(*args)
    assert r.code == 2, r
    assert r.err == ("Error: Invalid value for '--timeout': "
                     "expected a duration like \"5s\", \"250ms\" or \"1h30m\", got 'banana'\n"), r
    assert r.out == ""


def test_the_timeout_of_start_stop_and_restart_is_used(stack: Stack) -> None:
    port = free_port()
    stack.write("stubborn.py", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                               "print('ready', flush=True)\ntime.sleep(600)\n")
    stack.toml(f"""
[services.stubborn]
command = {q([PY, "stubborn.py"])}
stop_timeout = "1m"

[services.never]
command = {q([PY, "-c", "import time; time.sleep(600)"])}
health = {{ tcp = "127.0.0.1:{port}", start_period = "2m" }}
""")
    assert stack.run("up", "-d", "--timeout", "1s").code == 1  # `never` is not up within 1 s
    stack.wait_state("stubborn", "running")
    began = time.monotonic()
    r = stack.run("stop", "stubborn", "--timeout", "500ms")
    took = time.monotonic() - began
    assert r.code == 0 and stack.service("stubborn")["state"] == "stopped"
    assert took < 10, f"stop took {took:.1f} s: --timeout did not replace stop_timeout (60 s)"
    assert "stubborn did not stop within 0.5 s of SIGTERM; killed it" in stack.log_text("devstack")
    for command in ("start", "restart"):
        began = time.monotonic()
        r = stack.run(command, "never", "--timeout", "1s")
        took = time.monotonic() - began
        assert r.code == 1 and took < 10, (command, took, r)
        assert "Not every service was up after 1 s" in r.err or command == "restart", r


def test_compound_durations_in_stack_toml_and_on_the_command_line(stack: Stack) -> None:
    two_services(stack)
    config = json.loads(stack.run("config", "--json").out)
    web = next(s for s in config["services"] if s["name"] == "web")
    assert (web["health"]["interval"], web["health"]["start_period"]) == (90.0, 60.0)
    assert stack.run("logs", "--since", "1h30m").code == 0
    assert stack.run("logs", "--since", "1d").code == 0
    r = stack.run("logs", "--since", "1x30m")
    assert r.code == 2 and r.err.count("\n") == 1, r


@pytest.mark.parametrize(("words", "expected"), [
    (["restart", ""], ["worker", "web"]), (["stop", "w"], ["worker", "web"]), (["start", "we"], ["web"]),
    (["up", "wo"], ["worker"]), (["logs", ""], ["worker", "web"]), (["doctor", "w"], ["worker", "web"]),
    (["setup", "web"], ["web"]), (["env", "wor"], ["worker"]), (["run", "w"], ["worker", "web"]),
    (["probe", "we"], ["web"]), (["ps", "--js"], ["--json"]),
])
def test_service_names_complete_for_every_command_that_takes_them(stack: Stack, words: list[str],
                                                                 expected: list[str]) -> None:
    two_services(stack)
    line = ["devstack", *words]
    proc = _run_with(stack, [], stack.root, _DEVSTACK_COMPLETE="bash_complete",
                     COMP_WORDS=" ".join(line), COMP_CWORD=str(len(line) - 1))
    assert proc.returncode == 0, proc.stderr
    assert [row.split(",", 1)[1] for row in proc.stdout.splitlines()] == expected


def test_completion_offers_nothing_outside_a_stack(tmp_path: Path, no_leftovers: str) -> None:
    stack = Stack(tmp_path, no_leftovers)
    proc = _run_with(stack, [], tmp_path, _DEVSTACK_COMPLETE="bash_complete", COMP_WORDS="devstack stop ",
                     COMP_CWORD="2")
    assert proc.returncode == 0 and proc.stdout.strip() == "" and proc.stderr == ""


def _run_with(stack: Stack, args: list[str], cwd: Path, python: bool = False,
              **env: str | None) -> subprocess.CompletedProcess[str]:
    """devstack ARGS (or python ARGS) in `cwd` with `env` changed (None: removed)."""
    return _run_env(stack, args, cwd, env, python)


def _run_env(stack: Stack, args: list[str], cwd: Path, env: dict[str, str | None],
             python: bool = False) -> subprocess.CompletedProcess[str]:
    full = stack.env()
    for name, value in env.items():
        if value is None:
            full.pop(name, None)
        else:
            full[name] = value
    argv = [PY, *args] if python else [PY, "-m", "devstack", *args]
    return subprocess.run(argv, cwd=cwd, env=full, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
