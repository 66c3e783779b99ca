"""Python, Node and Postgres services that fail for real, and the one line `devstack status` gives
for each: the cause and its fix (issue 18). Small stacks on free ports; real interpreters, real
npm and node, a real Postgres where the machine has one, real uvicorn and pydantic-settings in a
venv made for this module (pip, once), a real Vite in an npm folder made for this module (npm,
once). What a machine lacks is skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import PY, Stack, q
from tests.support.ports import accepts, free_port
from tests.support.postgres import as_server, make_cluster, remove_cluster, server_command
from tests.support.waiting import wait_until

NODE = shutil.which("node")
NPM = shutil.which("npm")
needs_node = pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are needed")


def error_of(stack: Stack, name: str, *args: str) -> str:
    """Start the stack and give the service's one-line reason once it failed (a service without a
    probe counts as running after 1 s, and a slow import may die after that)."""
    run = stack.run("up", "-d", *args, timeout=120)
    error: str = stack.wait_state(name, "failed", timeout=60)["health"]["error"] or ""
    assert error, run.text
    return error


def app(stack: Stack, folder: str, files: dict[str, str]) -> Path:
    for name, text in files.items():
        stack.write(f"{folder}/{name}", text)
    return stack.root / folder


def installed(folder: Path) -> None:
    """An npm install that ran (its record newer than package.json), so that the pre-flight check
    lets the service start."""
    stack_record = folder / "node_modules" / ".package-lock.json"
    stack_record.parent.mkdir(exist_ok=True)
    stack_record.write_text("{}\n")


# --- Python ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with uvicorn, Starlette and pydantic-settings from the package index (once)."""
    venv = tmp_path_factory.mktemp("pyweb") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                           "uvicorn", "starlette", "pydantic-settings"], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        pytest.skip(f"could not install uvicorn and pydantic-settings: {done.stderr[-300:]}")
    return venv


@pytest.mark.timeout(600)  # pytest-timeout: its fixture installs from a package index once
def test_uvicorn_without_the_attribute_names_the_app_to_use(stack: Stack, web_venv: Path) -> None:
    api = app(stack, "apps/api", {"main.py": "from starlette.applications import Starlette\n\n"
                                              "api = Starlette()\n"})
    (api / "venv").symlink_to(web_venv)
    port = free_port()
    stack.toml(f"""
[services.api]
cwd = "apps/api"
command = "uvicorn main:app --port {port}"
max_restarts = 0
""")
    assert error_of(stack, "api") == ('uvicorn found no "app" in module "main" (apps/api/main.py); its ASGI '
                                      "app is api (line 3: Starlette(…)): put main:api in command")


@pytest.mark.timeout(600)  # pytest-timeout: its fixture installs from a package index once
def test_pydantic_settings_name_the_missing_variables(stack: Stack, web_venv: Path) -> None:
    api = app(stack, "apps/api", {
        "settings.py": "from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n"
                       "    database_url: str\n    jwt_secret: str\n\n\nsettings = Settings()\n",
        ".env.example": "DATABASE_URL=\nJWT_SECRET=\n",
        ".env": "LOG_LEVEL=debug\n"})
    (api / "venv").symlink_to(web_venv)
    stack.toml("""
[services.api]
cwd = "apps/api"
command = "python settings.py"
max_restarts = 0
""")
    assert error_of(stack, "api") == (
        "Settings needs variables its environment lacks: DATABASE_URL, JWT_SECRET; add them to apps/api/.env "
        "(apps/api/.env.example names all of them: copy from there), or to [services.api.env] in stack.toml")


def test_os_environ_names_the_missing_variable(stack: Stack) -> None:
    app(stack, "apps/api", {"main.py": 'import os\n\nDATABASE_URL = os.environ["DATABASE_URL"]\n',
                            ".env.example": "DATABASE_URL=\n", ".env": "LOG_LEVEL=debug\n"})
    stack.toml(f"""
[services.api]
cwd = "apps/api"
command = {q([PY, "main.py"])}
max_restarts = 0
""")
    assert error_of(stack, "api") == (
        "api reads a variable its environment lacks: DATABASE_URL; add it to apps/api/.env "
        "(apps/api/.env.example "
        "names it: copy from there), or to [services.api.env] in stack.toml")


CONNECT = """
import asyncio, os
from urllib.parse import urlsplit

async def main():
    url = urlsplit(os.environ["DATABASE_URL"])
    await asyncio.open_connection(url.hostname, url.port)

asyncio.run(main())
"""


def test_a_database_that_is_still_starting_is_named_with_the_fix(stack: Stack) -> None:
    """The client's own words ("Connect call failed ('127.0.0.1', N)", as asyncpg says it) while the
    stack's postgres has not passed its probe yet: its state, and the depends_on that waits for it."""
    db = free_port()
    stack.write("connect.py", CONNECT)
    stack.toml(f"""
[services.postgres]
command = {q([PY, "-c", "import time; time.sleep(600)"])}
port = {db}
health = {{ tcp = "127.0.0.1:{db}", start_period = "60s" }}

[services.api]
command = {q([PY, "connect.py"])}
env = {{ DATABASE_URL = "postgresql://app:not-shown-2c9@127.0.0.1:{db}/app" }}
max_restarts = 0
""")
    stack.run("up", "-d", "--timeout", "3s", timeout=60)

    def reason() -> str | None:
        error = stack.service("api")["health"]["error"] or ""
        return error if "cannot reach" in error else None

    error = wait_until(reason, 30, "api's reason", interval=0.2)
    assert error == (f"api cannot reach postgres at 127.0.0.1:{db} (DATABASE_URL = postgresql://app@127.0.0.1:"
                     f"{db}/app in stack.toml): postgres is starting; "
                     'add depends_on = ["postgres"] to api, so that it starts once postgres is healthy')
    assert "not-shown-2c9" not in stack.run("status", "--json").out


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="needs a Python older than 3.12 for the venv")
def test_syntax_newer_than_the_venv_names_both_pythons_and_the_rebuild(stack: Stack) -> None:
    api = app(stack, "apps/api", {"main.py": "def first[T](items: list[T]) -> T:\n    return items[0]\n"})
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(api / "venv")], check=True,
                   timeout=120)
    stack.toml("""
[services.api]
cwd = "apps/api"
command = "python main.py"
max_restarts = 0
""")
    have = ".".join(map(str, sys.version_info[:3]))
    assert error_of(stack, "api") == (
        f"apps/api/main.py:1 needs Python 3.12+ (generic function (def f[T])), but the venv apps/api/venv "
        f"has "
        f"{have} (SyntaxError: expected '('): rm -rf apps/api/venv && python3.12 -m venv apps/api/venv, then "
        "install its packages again")


# --- Node --------------------------------------------------------------------------------------


@needs_node
def test_npm_in_the_wrong_folder_names_the_cwd_to_set(stack: Stack) -> None:
    app(stack, "web", {"package.json": '{"private": true, "scripts": {"dev": "node -e 1"}}\n'})
    stack.toml("""
[services.web]
command = "npm run dev"
max_restarts = 0
""")
    assert error_of(stack, "web") == ('npm ran in the stack folder, which has no package.json; package.json '
                                      'is in web: set cwd = "web"')


@needs_node
def test_an_entry_file_in_another_folder_names_the_cwd_to_set(stack: Stack) -> None:
    app(stack, "nodeapp", {"server.js": "require('http').createServer().listen(0)\n"})
    stack.toml("""
[services.nodeapp]
command = "node server.js"
max_restarts = 0
""")
    assert error_of(stack, "nodeapp") == ('node found no server.js in the stack folder; it is in nodeapp: '
                                          'set cwd = "nodeapp"')


@needs_node
def test_a_node_too_old_for_the_engines_field(stack: Stack) -> None:
    """node:util has no such export in this Node; package.json asks for a Node that does not exist
    yet: the reason gives `node --version` of the service's PATH and the range."""
    installed(app(stack, "web", {
        "package.json": '{"private": true, "type": "module", "engines": {"node": ">=99"}}\n',
        "app.mjs": 'import { styleTextFromTheFuture } from "node:util";\n'}))
    stack.toml("""
[services.web]
cwd = "web"
command = "node app.mjs"
max_restarts = 0
""")
    version = subprocess.run([str(NODE), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    error = error_of(stack, "web")
    assert error.startswith(f"web runs Node {version.lstrip('v')} ({NODE}), but package.json needs Node >=99 "
                            "(node:util has no styleTextFromTheFuture): "), error
    assert error.endswith("for web") or "for web in stack.toml" in error, error


@needs_node
def test_an_engine_strict_install_names_the_node_it_ran(stack: Stack) -> None:
    """`devstack setup` whose npm refuses the project's engines (EBADENGINE): the same reason."""
    app(stack, "web", {"package.json": '{"private": true, "engines": {"node": ">=99"}}\n',
                       ".npmrc": "engine-strict=true\n"})
    stack.toml("""
[services.web]
cwd = "web"
command = "npm run dev"
setup = "npm install --no-audit --no-fund"
""")
    r = stack.run("setup", "web", timeout=120)
    assert r.code != 0
    version = subprocess.run([str(NODE), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip().lstrip("v")
    assert (f"setup of web failed with exit code {r.code}: web runs Node {version} ({NODE}), but "
            "package.json's engines needs Node >=99 (npm's engine-strict): ") in r.err, r.text


@needs_node
def test_a_tool_that_is_not_installed_names_the_install(stack: Stack) -> None:
    """node_modules is there (an install ran) but vite is not in it, as after adding it to package.json
    without installing: a missing node_modules is the pre-flight check's to name, before the start."""
    installed(app(stack, "web", {"package.json": '{"private": true, "devDependencies": {"vite": "^8.4.1"}}\n',
                                 "server.mjs": 'import { createServer } from "vite";\n'}))
    stack.toml("""
[services.web]
cwd = "web"
command = "node server.mjs"
max_restarts = 0
""")
    assert error_of(stack, "web") == ("Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'vite' "
                                      "(not installed: npm install in web)")


@needs_node
def test_eaddrinuse_names_the_holder(stack: Stack) -> None:
    port = free_port()
    holder = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: accepts(port), 10, "the holder to listen")
        stack.toml(f"""
[services.nodeapp]
command = {q([str(NODE), "-e", f"require('http').createServer().listen({port}, '127.0.0.1')"])}
max_restarts = 0
""")
        assert error_of(stack, "nodeapp") == (f"port {port} is already in use by pid {holder.pid} "
                                              f"({sys.executable} -m http.server {port} --bind 127.0.0.1)")
    finally:
        holder.kill()
        holder.wait()


@needs_node
def test_a_crash_no_signature_knows_is_told_by_its_trace(stack: Stack) -> None:
    """Node's last line is "Node.js v20.20.2": the reason is the error line above the frames."""
    app(stack, "nodeapp", {"crash.js": 'throw new TypeError("sessionSecret must be a non-empty string");\n'})
    stack.toml("""
[services.nodeapp]
cwd = "nodeapp"
command = "node crash.js"
max_restarts = 0
""")
    assert error_of(stack, "nodeapp") == "TypeError: sessionSecret must be a non-empty string"


@pytest.fixture(scope="module")
def vite_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node_modules with Vite from the npm registry (once)."""
    if NPM is None:
        pytest.skip("npm is needed")
    folder = tmp_path_factory.mktemp("vite")
    (folder / "package.json").write_text('{"private": true}\n')
    done = subprocess.run([NPM, "install", "--no-audit", "--no-fund", "vite@8"], cwd=folder,
                          capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        pytest.skip(f"could not install vite: {done.stderr[-300:]}")
    return folder / "node_modules"


@needs_node
@pytest.mark.timeout(600)  # pytest-timeout: its fixture installs from a package index once
def test_a_vite_config_that_imports_a_missing_plugin(stack: Stack, vite_modules: Path) -> None:
    web = app(stack, "web", {
        "package.json": '{"private": true, "type": "module", "scripts": {"dev": "vite"}}\n',
        "vite.config.js": 'import { defineConfig } from "vite";\nimport vue from "@vitejs/plugin-vue";\n\n'
                          "export default defineConfig({ plugins: [vue()] });\n"})
    (web / "node_modules").symlink_to(vite_modules)
    stack.toml(f"""
[services.web]
cwd = "web"
command = "npm run dev -- --port {free_port()} --strictPort"
max_restarts = 0
""")
    assert error_of(stack, "web") == ("vite could not load web/vite.config.js: it imports "
                                      "@vitejs/plugin-vue, "
                                      "which is not installed: npm install -D @vitejs/plugin-vue in web")



# --- Postgres ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Path]:
    """A real data directory made by initdb (once)."""
    data = make_cluster()
    yield data
    remove_cluster(data)


def _postgres_stack(stack: Stack, data: Path) -> int:
    port = free_port()
    stack.toml(f"""
[services.postgres]
command = {q(server_command(data, port))}
max_restarts = 0
health = {{ tcp = "127.0.0.1:{port}" }}
""")
    return port


def test_postgres_data_folder_open_to_others_names_the_chmod(stack: Stack, cluster: Path) -> None:
    _postgres_stack(stack, cluster)
    cluster.chmod(0o755)
    try:
        error = error_of(stack, "postgres")
    finally:
        cluster.chmod(0o700)
    assert error == (f"postgres data directory {cluster} is open to other users (its mode is 0755): postgres "
                     f"requires 0700 or 0750: chmod 0700 {cluster}")


def test_postgres_lock_file_of_a_process_that_is_not_postgres(stack: Stack, cluster: Path) -> None:
    """postmaster.pid left by a crash, its pid reused by another process of the server's user."""
    _postgres_stack(stack, cluster)
    other = subprocess.Popen([*as_server(), "sleep", "600"], start_new_session=True)
    pid_file = cluster / "postmaster.pid"
    try:
        wait_until(lambda: Path(f"/proc/{other.pid}/cmdline").read_bytes().startswith(b"sleep"), 10,
                   "sleep to run")
        # postmaster.pid's layout: pid, data directory, start time, port, socket folder, address, …
        pid_file.write_text(f"{other.pid}\n{cluster}\n1765000000\n5432\n/tmp\n127.0.0.1\n  5432001  0\n"
                            "ready\n")
        if as_server():
            shutil.chown(pid_file, "postgres", "postgres")
        error = error_of(stack, "postgres")
    finally:
        other.kill()
        other.wait()
        pid_file.unlink(missing_ok=True)
    assert error == (f'postgres: lock file "postmaster.pid" already exists, but the process it names, pid '
                     f"{other.pid} (sleep 600), is not a postgres: the file is stale (left by a crash, the "
                     f"pid "
                     f"reused since); delete {cluster}/postmaster.pid")
