"""A first `up` sets up, as `docker compose up` builds a missing image: a service whose setup
never ran (or whose build is older than its inputs) gets it first, said in one line; `--no-setup`
refuses; a start that fails in a way no restart can change is not retried."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.harness import PY, Stack, q

# The service needs what its setup makes: without it, it dies at once, every time.
NEEDS_MARKER = """
import pathlib, sys, time
if not pathlib.Path("made-by-setup").exists():
    sys.exit("no made-by-setup here: run the setup first")
print("ready", flush=True)
time.sleep(600)
"""


SETUP = f"echo setting up && {PY} make.py"


def marker_stack(stack: Stack) -> None:
    stack.write("app.py", NEEDS_MARKER)
    stack.write("make.py", "open('made-by-setup', 'w').close()\n")
    stack.toml(f"""
[services.app]
setup = {q(SETUP)}
command = {q([PY, "app.py"])}
max_restarts = 3
backoff = "100ms"
""")


def test_a_first_up_runs_the_setup_that_never_ran_and_says_so(stack: Stack) -> None:
    marker_stack(stack)
    doctor = stack.run("doctor")
    assert "warning: its setup has not run yet (no record of it)" in doctor.out, doctor.out
    assert "fix: devstack setup app" in doctor.out
    up = stack.run("up", "-d", timeout=120)
    assert up.code == 0, up
    lines = up.err.splitlines()
    assert lines[0] == ("app: its setup has not run yet (no record of it); running its setup first: "
                        + SETUP), up.err
    assert lines[1].startswith("app: setup done in "), up.err
    assert stack.service("app")["state"] == "running" and stack.service("app")["restarts"] == 0
    assert "setting up" in stack.log_text("app")  # the setup's output is the service's
    assert "its setup" not in stack.run("doctor").out
    # the next up has nothing to set up
    assert stack.run("down").code == 0
    again = stack.run("up", "-d")
    assert again.code == 0 and "setup" not in again.err, again
    # …until the setup command changes
    assert stack.run("down").code == 0
    stack.toml((stack.root / "stack.toml").read_text().replace("echo setting up", "echo setting up again"))
    changed = stack.run("up", "-d")
    assert changed.code == 0 and changed.err.startswith(
        "app: its setup command has changed since it last ran; running its setup first"), changed.err


def test_devstack_setup_records_it_too(stack: Stack) -> None:
    marker_stack(stack)
    assert stack.run("setup").code == 0
    up = stack.run("up", "-d")
    assert up.code == 0 and "setup" not in up.err, up


def test_no_setup_refuses_and_the_failure_is_told(stack: Stack) -> None:
    marker_stack(stack)
    up = stack.run("up", "-d", "--no-setup", timeout=120)
    assert up.code == 1, up
    assert not (stack.root / "made-by-setup").exists()
    app = stack.service("app")
    assert app["state"] == "failed" and "no made-by-setup here" in app["health"]["error"]


def test_a_failing_setup_fails_the_service_without_starting_it(stack: Stack) -> None:
    stack.write("app.py", NEEDS_MARKER)
    stack.toml(f"""
[services.app]
setup = "echo npm ERR! code E404 >&2; exit 3"
command = {q([PY, "app.py"])}
""")
    up = stack.run("up", "-d", timeout=120)
    assert up.code == 1, up
    app = stack.service("app")
    assert app["state"] == "failed" and app["restarts"] == 0
    assert app["health"]["error"].startswith("its setup (echo npm ERR! code E404 >&2; exit 3) exited with "
                                             "code 3: "), app
    assert "ready" not in stack.log_text("app")
    assert not (stack.root / ".devstack" / "setup" / "app.json").exists()


def test_a_venv_that_does_not_exist_is_made_by_setup_before_the_first_start(stack: Stack) -> None:
    stack.toml(f"""
[services.api]
venv = "venv"
setup = {q(f"{PY} -m venv --without-pip venv")}
command = ["python", "-c", "import sys, time; print(sys.prefix, flush=True); time.sleep(600)"]
""")
    up = stack.run("up", "-d", timeout=120)
    assert up.code == 0, up
    assert up.err.startswith("api: venv venv does not exist; running its setup first"), up.err
    assert str(stack.root / "venv") in stack.log_text("api")


def test_command_not_found_is_not_retried(stack: Stack) -> None:
    stack.toml("""
[services.typo]
command = "true && no-such-command-zz --serve"
max_restarts = 5
backoff = "50ms"
""")
    up = stack.run("up", "-d", timeout=60)
    assert up.code == 1, up
    typo = json.loads(stack.run("status", "--json").out)["services"][0]
    assert typo["state"] == "failed" and typo["restarts"] == 0 and typo["exit_code"] == 127
    events = (stack.root / ".devstack" / "logs" / "devstack.log").read_text()
    assert events.count("typo started") == 1
    assert "not restarting: a restart would fail the same way" in events


def test_doctor_on_a_fresh_clone_of_the_demo_names_every_setup_to_run(tmp_path: Path) -> None:
    """The demo as a fresh clone has it (the files git tracks): no build, no node_modules, no venv,
    no database; doctor says so for each, with `devstack setup NAME` as the fix, not "ok"."""
    repo = Path(__file__).resolve().parents[2]
    files = subprocess.run(["git", "ls-files", "stack.toml", "demo"], cwd=repo, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    doctor = subprocess.run([PY, "-m", "devstack", "doctor"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert doctor.returncode == 1, doctor
    blocks: dict[str, str] = {}  # service → its block: a name line, then indented findings
    for line in doctor.stdout.splitlines():
        if line and not line.startswith(" "):
            name = line
        blocks[name] = blocks.get(name, "") + line + "\n"
    assert "its setup has not run yet (no record of it)" in blocks["postgres"]
    assert "demo/core-api/target/app/core-api.jar does not exist: the project has not been built" \
        in blocks["core-api"]
    assert "venv demo/ai-api/venv does not exist" in blocks["ai-api"]
    assert "demo/frontend/node_modules has not been installed (npm ci never ran)" in blocks["frontend"]
    for name in ("postgres", "core-api", "frontend"):
        assert f"fix: devstack setup {name}" in blocks[name], blocks[name]
        assert " ok" not in blocks[name].split("\n", 1)[0]
