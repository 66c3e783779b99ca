"""devstack.doctor against real processes: the pre-flight checks that run a venv's interpreter
or its pip, and the port check finding real child processes (plain, tagged as this stack's
leftover, or under a live "supervisor") on real ports; each message and fix asserted verbatim.
Every process started here is waited for and gone at the end.

The checks on folders, fake venvs and .env files, with port holders faked, are
tests/unit/test_preflight.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import psutil
import pytest

from devstack.config.specs import HealthSpec, ProbeKind
from devstack.control.paths import stack_id
from devstack.doctor import venv as venv_check
from devstack.doctor.checks import blocking_error, check_service, check_stack
from devstack.doctor.findings import Severity
from devstack.doctor.report import render_findings
from devstack.process import owners
from devstack.process.owners import PortHolder
from devstack.process.tree import TAG_VAR
from tests.support.doctor import SECRET, Env, check, make_service, no_holders, of
from tests.support.files import make_executable, write
from tests.support.harness import TEST_TAG
from tests.support.ports import free_port
from tests.support.specs import make_stack
from tests.support.venvs import install, make_venv

# --- executable -----------------------------------------------------------------------


def test_an_executable_found_in_the_venv_or_on_path_passes(root: Path, os_env: Env, sysbin: Path) -> None:
    service = make_service(root, command="uvicorn main:app --port 8001")
    make_venv(service.cwd / "venv", pip=True)
    make_executable(service.cwd / "venv" / "bin" / "uvicorn")
    make_executable(sysbin / "npm")
    frontend = make_service(root, name="frontend", cwd="apps/frontend", command=("npm", "run", "dev"))
    builtin = make_service(root, name="db", cwd=".", command="exec $PG_HOME/bin/postgres -D data")
    stack = make_stack(root, service, frontend, builtin)
    for name in stack.services:
        assert of(check(stack, os_env, name), "executable") == []


def test_a_command_not_found_names_the_word_and_the_path_searched(root: Path, sysbin: Path) -> None:
    service = make_service(root, command="FOO=1 uvicorn main:app")
    make_venv(service.cwd / "venv", pip=True)
    os_env = {"PATH": f"{sysbin}:/usr/local/bin:/usr/bin:/bin:/sbin"}
    assert of(check(make_stack(root, service), os_env), "executable") == [
        (Severity.ERROR,
         f"command not found: 'uvicorn' is not on the service's PATH "
         f"(searched apps/ai-api/venv/bin:{sysbin}:/usr/local/bin:/usr/bin:…)",
         "install uvicorn, or fix `command` in stack.toml")]


def test_a_command_the_requirements_list_but_the_venv_lacks(root: Path, os_env: Env) -> None:
    service = make_service(root, command="uvicorn main:app")
    write(service.cwd / "requirements.txt", "fastapi\nUvicorn[standard]==0.27.1 ; python_version >= '3.8'\n")
    make_venv(service.cwd / "venv", pip=True)
    findings = check(make_stack(root, service), os_env)
    assert [fix for _, _, fix in of(findings, "executable")] == [
        "apps/ai-api/venv/bin/pip install 'Uvicorn[standard]==0.27.1'"]
    # A venv made without pip (uv, --without-pip) gets pip first.
    (service.cwd / "venv" / "bin" / "pip").unlink()
    findings = check(make_stack(root, service), os_env)
    assert [fix for _, _, fix in of(findings, "executable")] == [
        "apps/ai-api/venv/bin/python -m ensurepip && apps/ai-api/venv/bin/pip install "
        "'Uvicorn[standard]==0.27.1'"]


# --- venv -----------------------------------------------------------------------------


def test_an_auto_detected_venv_is_said_and_a_working_one_is_no_error(root: Path, os_env: Env) -> None:
    service = make_service(root)
    make_venv(service.cwd / ".venv", pip=True)
    assert of(check(make_stack(root, service), os_env), "venv") == [
        (Severity.INFO, "using venv apps/ai-api/.venv (found automatically)", None)]


def test_a_venv_python_that_fails_is_reported_with_its_last_line_redacted(root: Path, os_env: Env) -> None:
    service = make_service(root)
    write(service.cwd / ".env", f"API_KEY={SECRET}\n")
    venv = make_venv(service.cwd / "venv", pip=True)
    (venv / "bin" / "python").unlink()
    make_executable(venv / "bin" / "python",
               'echo "Python path configuration:" >&2\n'
               'echo "Fatal Python error: init_fs_encoding: no codec ($API_KEY)" >&2\nexit 1')
    assert of(check(make_stack(root, service), os_env), "venv")[1:] == [
        (Severity.ERROR, "the venv's python apps/ai-api/venv/bin/python does not run "
         "(exit code 1: Fatal Python error: init_fs_encoding: no codec (****))",
         "python3 -m venv --clear apps/ai-api/venv")]


def test_a_venv_python_that_hangs_is_stopped_after_the_timeout(
    root: Path, os_env: Env, monkeypatch: pytest.MonkeyPatch, no_leftovers: str
) -> None:
    monkeypatch.setattr(venv_check, "VENV_PYTHON_TIMEOUT", 0.5)
    service = make_service(root)
    venv = make_venv(service.cwd / "venv", pip=True)
    (venv / "bin" / "python").unlink()
    make_executable(venv / "bin" / "python", "exec sleep 30")
    started = time.monotonic()
    findings = check(make_stack(root, service), {**os_env, "PATH": "/usr/bin:/bin", TEST_TAG: no_leftovers})
    assert time.monotonic() - started < 10
    assert of(findings, "venv")[1:] == [
        (Severity.ERROR, "the venv's python apps/ai-api/venv/bin/python did not start within 0.5 s",
         "python3 -m venv --clear apps/ai-api/venv")]


# --- requirements ---------------------------------------------------------------------


def test_missing_and_mismatched_packages_with_the_venvs_pip(root: Path, os_env: Env) -> None:
    service = make_service(root, cwd="apps/ai-api-fastapi")
    venv = make_venv(service.cwd / "venv", pip=True)
    install(venv, "fastapi", "0.99.0")
    install(venv, "uvicorn", "0.27.1")
    write(service.cwd / "requirements.txt", """
        fastapi==0.110.0
        uvicorn>=0.27
        pyjwt==2.8.0
        -e .
        """)
    fix = "apps/ai-api-fastapi/venv/bin/pip install -r apps/ai-api-fastapi/requirements.txt"
    assert of(check(make_stack(root, service), os_env), "requirements") == [
        (Severity.INFO, "requirements.txt line 4 not checked: -e . (an editable install)", None),
        (Severity.ERROR,
         "package 'fastapi' 0.99.0 is installed in venv, requirements.txt line 1 wants ==0.110.0", fix),
        (Severity.ERROR,
         "package 'pyjwt' is not installed in venv (requirements.txt line 3: pyjwt==2.8.0)", fix),
    ]


def test_satisfied_requirements_give_no_finding(root: Path, os_env: Env) -> None:
    service = make_service(root)
    venv = make_venv(service.cwd / "venv", pip=True)
    install(venv, "fastapi", "0.110.0")
    write(service.cwd / "requirements.txt", "fastapi==0.110.0\n")
    assert of(check(make_stack(root, service), os_env), "requirements") == []


# --- port (real processes) ------------------------------------------------------------

HOLDER = """
import os, socket, sys
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen()
print(os.getpid(), sock.getsockname()[1], flush=True)
sys.stdin.read()  # until the test closes our stdin
"""

# Stands in for a running supervisor: the holder is its child.
LAUNCHER = """
import subprocess, sys
sys.exit(subprocess.call([sys.executable, *sys.argv[1:]]))
"""


def read_line(stream: IO[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line within {timeout} s (got {data!r})"
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"the process ended before printing a line (got {data!r})"
            data += chunk
    return data.decode()


@contextlib.contextmanager
def holding_port(tmp_path: Path, env: Mapping[str, str], *args: str,
                 launcher: bool = False) -> Iterator[tuple[subprocess.Popen[bytes], int, int, str]]:
    """A real process listening on 127.0.0.1: (the started process, the holder's pid, its
    port, the holder's command line). Closing its stdin ends it (and the launcher)."""
    write(tmp_path / "holder.py", HOLDER)
    write(tmp_path / "launcher.py", LAUNCHER)
    # Relative script names keep the command line short enough to be shown whole.
    argv = [sys.executable, *(["launcher.py"] if launcher else []), "holder.py", *args]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env), cwd=tmp_path)
    try:
        assert proc.stdout is not None
        pid, port = map(int, read_line(proc.stdout, timeout=10).split())
        yield proc, pid, port, " ".join([sys.executable, "holder.py", *args])
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_a_real_foreign_holder_is_named_with_pid_name_and_command_line(
    root: Path, tmp_path: Path, os_env: Env, no_leftovers: str
) -> None:
    with holding_port(tmp_path, {**os.environ, TEST_TAG: no_leftovers}) as (_, pid, port, cmdline):
        stack = make_stack(root, make_service(root, port=port))
        name = psutil.Process(pid).name()
        assert of(check_service(stack, stack.services["ai-api"], os_env), "port") == [
            (Severity.ERROR, f"port {port} is held by pid {pid} ({name}: {cmdline})",
             f"kill {pid} (or stop it, or change `port` of ai-api in stack.toml)")]


def test_a_real_leftover_of_this_stack_is_recognised_by_its_tag(
    root: Path, tmp_path: Path, os_env: Env, no_leftovers: str
) -> None:
    env = {**os.environ, TEST_TAG: no_leftovers, TAG_VAR: f"{stack_id(root)}/ai-api"}
    with holding_port(tmp_path, env, "--token", SECRET) as (_, pid, port, cmdline):
        service = make_service(root, port=port)
        write(service.cwd / ".env", f"API_TOKEN={SECRET}\n")
        stack = make_stack(root, service)
        name = psutil.Process(pid).name()
        shown = cmdline.replace(SECRET, "****")  # a .env value in a command line is masked
        assert of(check_service(stack, service, os_env), "port") == [
            (Severity.ERROR, f"port {port} is held by pid {pid} ({name}: {shown}), a leftover of this "
             "stack's previous run (ai-api)", "devstack down")]


def test_a_real_holder_under_the_running_supervisor_is_the_service_itself(
    root: Path, tmp_path: Path, os_env: Env, no_leftovers: str
) -> None:
    env = {**os.environ, TEST_TAG: no_leftovers, TAG_VAR: f"{stack_id(root)}/ai-api"}
    with holding_port(tmp_path, env, launcher=True) as (launcher, _pid, port, _):
        write(root / ".devstack" / "run" / "supervisor.json", json.dumps({"pid": launcher.pid}))
        stack = make_stack(root, make_service(root, port=port))
        assert of(check_service(stack, stack.services["ai-api"], os_env), "port") == [
            (Severity.INFO, f"port {port} is in use by ai-api itself, running under this stack's supervisor "
             f"(pid {launcher.pid})", None)]


def test_a_free_port_gives_no_finding(root: Path, os_env: Env) -> None:
    port = free_port()
    stack = make_stack(root, make_service(root, port=port))
    assert of(check_service(stack, stack.services["ai-api"], os_env), "port") == []


def test_a_held_port_psutil_cannot_attribute_is_found_by_binding(
    root: Path, os_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As for another user's process: the socket is listed without a pid.
    monkeypatch.setattr(owners, "listeners", lambda port: [])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        stack = make_stack(root, make_service(root, port=port))
        assert of(check_service(stack, stack.services["ai-api"], os_env), "port") == [
            (Severity.ERROR, f"port {port} is in use by a process devstack may not inspect (another user's?)",
             f"find it with `sudo lsof -nP -iTCP:{port} -sTCP:LISTEN`, "
             "or change `port` of ai-api in stack.toml")]


# --- the reference service, every check ------------------------------------------------


def test_doctor_on_the_reference_service(root: Path, os_env: Env) -> None:
    """The ai-api of the reference stack (the demo's), set up the way that costs a team a day."""
    api = make_service(root, cwd="apps/ai-api-fastapi", command="uvicorn main:app --host 0.0.0.0 --port 8001",
                       port=8001, required_env=("OPENAI_API_KEY",),
                       health=HealthSpec(ProbeKind.HTTP, "http://localhost:8001/"))
    venv = make_venv(api.cwd / "venv", pip=True)
    make_executable(venv / "bin" / "uvicorn")
    install(venv, "fastapi", "0.110.0")
    install(venv, "uvicorn", "0.27.1")
    write(api.cwd / "requirements.txt", "fastapi==0.110.0\nuvicorn==0.27.1\npyjwt==2.8.0\n")
    write(api.cwd / ".env.example", "OPENAI_API_KEY=\n")
    web = make_service(root, name="frontend", cwd="apps/frontend", create=False, command="npm run dev")
    stack = make_stack(root, api, web)
    findings = check_stack(stack, os_env, port_owner=no_holders, resolve=lambda: ["127.0.0.1", "::1"])
    assert render_findings(stack, findings) == textwrap.dedent("""\
        ai-api
          error: package 'pyjwt' is not installed in venv (requirements.txt line 3: pyjwt==2.8.0)
            fix: apps/ai-api-fastapi/venv/bin/pip install -r apps/ai-api-fastapi/requirements.txt
          error: env file apps/ai-api-fastapi/.env does not exist
            fix: cp apps/ai-api-fastapi/.env.example apps/ai-api-fastapi/.env
          error: required_env not set: OPENAI_API_KEY
            fix: add OPENAI_API_KEY=... to apps/ai-api-fastapi/.env
          info: using venv apps/ai-api-fastapi/venv (found automatically)
        frontend
          error: cwd apps/frontend does not exist
            fix: mkdir -p apps/frontend (or fix `cwd` in stack.toml)
        stack-wide
          info: localhost resolves to 127.0.0.1 and ::1 (IPv4 first)

        4 errors in 2 services
        """)
    assert blocking_error(check_service(stack, api, os_env, port_owner=no_holders)) == (
        "package 'pyjwt' is not installed in venv (requirements.txt line 3: pyjwt==2.8.0) "
        "(fix: apps/ai-api-fastapi/venv/bin/pip install -r apps/ai-api-fastapi/requirements.txt)")


def test_no_value_from_a_env_file_appears_in_any_finding_or_report(root: Path, os_env: Env) -> None:
    service = make_service(root, required_env=("MISSING_ONE",), port=8001,
                           env={"DATABASE_URL": "postgres://app:${DB_PASSWORD}@localhost/app"})
    write(root / ".env", f"SHARED_TOKEN={SECRET}\n{SECRET}\n")
    write(root / ".env.example", f"SHARED_TOKEN={SECRET}\nOTHER={SECRET}\n")
    write(service.cwd / ".env", f"DB_PASSWORD={SECRET}\nbroken {SECRET} line\nAPI_KEY='{SECRET}\n")
    write(service.cwd / ".env.example", f"DB_PASSWORD={SECRET}\nJWT_SECRET={SECRET}\n")
    venv = make_venv(service.cwd / "venv", pip=True)
    (venv / "bin" / "python").unlink()
    make_executable(venv / "bin" / "python", 'echo "error: $DATABASE_URL $DB_PASSWORD" >&2\nexit 1')
    holder = PortHolder(99, "uvicorn", f"uvicorn --secret {SECRET}")
    stack = make_stack(root, service, env_file=root / ".env")
    findings = [
        *check_service(stack, service, os_env, port_owner=lambda port: [holder]),
        *check_stack(stack, os_env, port_owner=lambda port: [holder], resolve=lambda: ["::1"]),
    ]
    assert {f.check for f in findings} >= {"venv", "env_file", "env_keys", "required_env", "port"}
    for finding in findings:
        assert SECRET not in finding.message and SECRET not in (finding.fix or ""), finding
    report = render_findings(stack, findings)
    assert SECRET not in report
    assert "port 8001 is held by pid 99 (uvicorn: uvicorn --secret ****)" in report
