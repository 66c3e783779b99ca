"""The right environment for every service, and a one-line diagnosis when it is wrong:
real venvs, real .env files, real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port, needs_ipv6
from tests.support.programs import HTTP_SERVER
from tests.support.venvs import make_venv
from tests.support.waiting import wait_until

SECRET = "s3cr3t-MARKER-7f3a9"


def test_missing_module_in_the_venv_is_named_with_the_pip_command(stack: Stack) -> None:
    app = stack.root / "apps" / "ai"
    app.mkdir(parents=True)
    make_venv(app / "venv")
    stack.toml("""
[services.ai]
cwd = "apps/ai"
command = "python -c 'import jwt'"
max_restarts = 1
""")
    r = stack.run("up", "-d")
    assert r.code == 1
    ai = stack.service("ai")
    assert ai["state"] == "failed"
    assert ai["health"]["error"].startswith("ModuleNotFoundError: No module named 'jwt'"), ai
    assert "apps/ai/venv/bin/pip install pyjwt" in ai["health"]["error"], ai


def test_missing_env_file_keeps_the_service_from_starting_and_doctor_names_the_copy(stack: Stack) -> None:
    app = stack.root / "api"
    app.mkdir()
    (app / ".env.example").write_text(f"DATABASE_URL=\nJWT_SECRET_KEY={SECRET}\n")
    stack.write("serve.py", HTTP_SERVER)
    web = free_port()
    stack.toml(f"""
[services.api]
cwd = "api"
env_file = ".env"
command = {q([PY, "-c", "import time; time.sleep(600)"])}
optional = true

[services.web]
command = {q(f"{PY} serve.py {web}")}
health = {{ http = "http://127.0.0.1:{web}/" }}
""")
    doctor = stack.run("doctor")
    assert doctor.code == 1
    assert "cp api/.env.example api/.env" in doctor.out, doctor.out
    up = stack.run("up", "-d")
    assert up.code == 0, up  # api is optional: the stack is degraded, not failed
    data = stack.status()
    api = stack.service("api", data)
    assert api["state"] == "failed" and api["pid"] is None
    assert "cp api/.env.example api/.env" in api["health"]["error"], api
    assert stack.service("web", data)["state"] == "healthy"
    assert data["state"] == "degraded"


def test_env_values_never_appear_in_devstack_output(stack: Stack) -> None:
    (stack.root / ".env").write_text(f"API_TOKEN={SECRET}\nPLAIN=also-{SECRET}\n")
    (stack.root / ".env.example").write_text(f"API_TOKEN={SECRET}\nPLAIN=\nMISSING_KEY={SECRET}\n")
    stack.toml(f"""
[services.app]
command = {q([PY, "-c", "import os, time; print('len', len(os.environ['API_TOKEN']), flush=True); "
                       "time.sleep(600)"])}
required_env = ["API_TOKEN", "NOT_SET_ANYWHERE"]
optional = true
""")
    outputs = [stack.run("doctor"), stack.run("env", "app"), stack.run("up", "-d"), stack.run("status"),
               stack.run("status", "--json"), stack.run("logs", "-n", "1000"),
               stack.run("logs", "devstack", "-n", "1000")]
    stack.run("down")
    files = [p.read_text(errors="replace") for p in (stack.root / ".devstack").rglob("*")
             if p.is_file() and not p.is_socket() and p.name != "app.log"]
    for text in [o.text for o in outputs] + files:
        assert SECRET not in text
    env = stack.run("env", "app", "--show-values")
    assert SECRET in env.out  # shown only when asked for


def test_env_command_shows_layers_and_masks(stack: Stack) -> None:
    (stack.root / "svc").mkdir()
    (stack.root / "svc" / ".env").write_text("DB_PASSWORD=hunter2\nMODE=dev\n")
    stack.toml("""
[services.svc]
cwd = "svc"
command = "sleep 1"
port = 8123
env = { GREETING = "hi ${MODE}" }
""")
    r = stack.run("env", "svc")
    assert r.code == 0
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in r.out.splitlines()}
    assert rows["DB_PASSWORD"] == ["service", ".env (svc/.env)  ****"]
    assert rows["MODE"] == ["service", ".env (svc/.env)  ****"]
    assert rows["GREETING"][0] == "env" and "hi dev" not in r.out  # built from a .env value: masked
    assert rows["PORT"] == ["devstack", "8123"]
    assert "hunter2" not in r.out


def test_run_uses_the_service_folder_venv_and_env_and_passes_the_exit_code(stack: Stack) -> None:
    app = stack.root / "app"
    app.mkdir()
    make_venv(app / ".venv")
    (app / ".env").write_text("FROM_DOTENV=yes\n")
    stack.toml("""
[services.app]
cwd = "app"
command = "sleep 600"
""")
    code = ("import os, sys; print(os.getcwd(), sys.prefix, os.environ['FROM_DOTENV'], "
            "os.environ['VIRTUAL_ENV']); sys.exit(7)")
    r = stack.run("run", "app", "--", "python", "-c", code)
    assert r.code == 7
    cwd, prefix, dotenv, venv = r.out.split()
    assert Path(cwd) == app.resolve() and Path(prefix) == (app / ".venv").resolve()
    assert dotenv == "yes" and Path(venv) == (app / ".venv").resolve()
    missing = stack.run("run", "app", "--", "no-such-command-xyz")
    assert missing.code == 2
    assert missing.err.strip() == "Error: command not found on the PATH of service 'app': no-such-command-xyz"


def test_setup_runs_in_order_and_stops_at_the_first_failure(stack: Stack) -> None:
    (stack.root / "a").mkdir()
    (stack.root / "b").mkdir()
    stack.toml("""
[services.a]
cwd = "a"
command = "sleep 600"
setup = "pwd && echo setup-a"

[services.b]
cwd = "b"
command = "sleep 600"
depends_on = ["a"]
setup = "echo failing >&2; exit 4"

[services.c]
command = "sleep 600"
depends_on = ["b"]
setup = "echo never"
""")
    r = stack.run("setup")
    assert r.code == 4
    lines = r.out.splitlines()
    assert f"a        | {(stack.root / 'a').resolve()}" in lines
    assert "a        | setup-a" in lines and "b        | failing" in lines
    assert "never" not in r.out
    assert "setup of b failed with exit code 4" in r.err


@needs_ipv6
def test_probe_on_the_other_address_family_is_explained(stack: Stack) -> None:
    port = free_port()
    stack.write("serve.py", HTTP_SERVER)
    stack.toml(f"""
[services.api]
command = {q(f"{PY} serve.py {port}")}
max_restarts = 1
health = {{ http = "http://[::1]:{port}/", start_period = "2s" }}
""")
    assert stack.run("up", "-d").code == 1
    error = stack.service("api")["health"]["error"]
    assert error == (f"health probe did not pass within 2.0 s: api listens on 127.0.0.1:{port}, but the "
                     f"probe dials [::1]:{port}: another address family; bind to both (e.g. --host ::) "
                     f"or probe 127.0.0.1:{port}"), error


def test_a_probe_answered_by_another_process_is_not_trusted(stack: Stack) -> None:
    port = free_port()
    stack.write("serve.py", HTTP_SERVER)
    impostor = subprocess.Popen([PY, "serve.py", str(port)], cwd=stack.root, env=stack.env(),
                                stdout=subprocess.PIPE)
    try:
        assert impostor.stdout is not None
        wait_until(lambda: b"serving" in impostor.stdout.readline(), 10, "the impostor to listen")  # type: ignore[union-attr]
        stack.toml(f"""
[services.api]
command = {q([PY, "-c", "import time; time.sleep(600)"])}
max_restarts = 1
health = {{ http = "http://127.0.0.1:{port}/", start_period = "2s" }}
""")
        assert stack.run("up", "-d").code == 1
        api = stack.service("api")
        assert api["state"] == "failed"
        assert api["health"]["error"].startswith(
            f"health probe did not pass within 2.0 s: port {port} is answered by pid {impostor.pid} ("), api
        assert api["health"]["error"].endswith("), not by api")
    finally:
        impostor.kill()
        impostor.wait(5)
        impostor.stdout.close()  # type: ignore[union-attr]


def test_status_without_supervisor_names_the_port_holder(stack: Stack) -> None:
    port = free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        stack.toml(f"""
[services.api]
command = "sleep 600"
port = {port}
""")
        r = stack.run("status", "--json")
        assert r.code == 3
        error = json.loads(r.out)["services"][0]["health"]["error"]
        assert error.startswith(f"port {port} is held by pid {os.getpid()} ("), error
    finally:
        holder.close()


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A real, minimal wheel of our own (no network, no build backend needed)."""
    import base64
    import hashlib
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": ("Wheel-Version: 1.0\nGenerator: devstack-tests\nRoot-Is-Purelib: true\n"
                          "Tag: py3-none-any\n"),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


# pytest-timeout: a real venv (up to 240 s on a busy machine) and a pip install (120 s) before devstack runs.
@pytest.mark.timeout(420)
def test_requirements_checked_against_the_venv_with_a_real_installed_package(stack: Stack) -> None:
    app = stack.root / "app"
    app.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(app / "venv")], check=True, timeout=240)
    wheel = _wheel(stack.root, "tinypkg", "1.0")
    subprocess.run([str(app / "venv" / "bin" / "pip"), "install", "-q", "--no-index", str(wheel)],
                   check=True, timeout=120)
    stack.toml("""
[services.app]
cwd = "app"
command = "python -c 'import tinypkg, time; time.sleep(600)'"
""")
    (app / "requirements.txt").write_text("tinypkg==1.0\n")
    ok = stack.run("doctor", "app")
    assert ok.code == 0, ok.out
    (app / "requirements.txt").write_text("# pinned\ntinypkg==2.0\notherpkg>=1\n")
    bad = stack.run("doctor", "app")
    assert bad.code == 1
    assert ("package 'tinypkg' 1.0 is installed in venv, requirements.txt line 2 wants ==2.0"
            in bad.out), bad.out
    assert "package 'otherpkg' is not installed in venv (requirements.txt line 3: otherpkg>=1)" in bad.out
    assert "app/venv/bin/pip install -r app/requirements.txt" in bad.out
    up = stack.run("up", "-d")
    assert up.code == 1
    error = stack.service("app")["health"]["error"]
    assert error == ("package 'tinypkg' 1.0 is installed in venv, requirements.txt line 2 wants ==2.0 "
                     "(fix: app/venv/bin/pip install -r app/requirements.txt)"), error
