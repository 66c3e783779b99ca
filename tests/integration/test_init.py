"""`devstack init --write`, then `devstack setup` and `devstack up -d`, on three repositories of
different shapes, with real installs and real processes: every service found must come up
healthy as written.

Each repository is copied into the test's folder and the ports its files name are replaced by
free ones, so the tests never need 5432, 8080, 8001 or 5173 to be free. That folder lies in
pytest's 0700 temporary tree: as root (as in CI), Postgres runs as the postgres user, who cannot
enter it, and the setup init writes must put the cluster outside the checkout, which the
teardown removes.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import Stack
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "init_fixtures"
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
SETUP_TIMEOUT = 900  # s: pip, npm and Maven downloads on a cold machine
UP_TIMEOUT = "400s"  # a cold JVM under Maven on two shared cores

# pytest-timeout: setup may download for minutes on a cold machine, and up waits for a cold JVM.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
needs_node = pytest.mark.skipif(shutil.which("npm") is None, reason="Node (npm) is not installed")
needs_jvm = pytest.mark.skipif(shutil.which("java") is None, reason="Java 17 is not installed")
needs_maven = pytest.mark.skipif(shutil.which("mvn") is None, reason="Maven is not installed")
needs_postgres = pytest.mark.skipif(not PG_BIN and shutil.which("initdb") is None,
                                    reason="PostgreSQL server binaries are not installed")


def copy_repo(source: Path, root: Path) -> None:
    shutil.copytree(source, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        "venv", ".venv", "node_modules", "target", "dist", ".env", "__pycache__"))


def put_ports(root: Path, files: dict[str, dict[int, int]]) -> None:
    """In each file, replace each old port number (as a whole number) by the new one."""
    for rel, ports in files.items():
        path = root / rel
        text = path.read_text()
        for old, new in ports.items():
            text, count = re.subn(rf"(?<!\d){old}(?!\d)", str(new), text)
            assert count, f"{rel} does not name port {old}"
        path.write_text(text)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def repo(stack: Stack) -> Iterator[Stack]:
    """The stack folder; after the test, the cluster setup put outside it goes too."""
    yield stack
    stack.cleanup()
    pgdata = stack.root / ".devstack" / "pgdata"
    if pgdata.is_symlink():
        shutil.rmtree(pgdata.resolve().parent, ignore_errors=True)


def init_setup_up(stack: Stack) -> list[str]:
    """init --write (and config on it), doctor's verdict after setup, up -d; init's stderr lines."""
    init = stack.run("init", "--write")
    assert init.code == 0, init.text
    assert init.out == ""
    again = stack.run("init")  # a second run prints the very file the first one wrote
    assert again.out == (stack.root / "stack.toml").read_text()
    config = stack.run("config")  # the resolved stack, as devstack will run it
    assert config.code == 0, config.text
    setup = stack.run("setup", timeout=SETUP_TIMEOUT)
    assert setup.code == 0, setup.text[-4000:]
    doctor = stack.run("doctor")
    assert doctor.code == 0, doctor.text
    up = stack.run("up", "-d", "--timeout", UP_TIMEOUT, timeout=600)
    logs = "\n".join(stack.log_text(s["name"])[-2000:] for s in stack.status()["services"])
    assert up.code == 0, up.text + logs
    states = {s["name"]: s["state"] for s in stack.status()["services"]}
    assert set(states.values()) == {"healthy"}, states
    return init.err.splitlines()


@needs_node
def test_a_vite_app_and_a_fastapi_app(repo: Stack) -> None:
    web, api = free_port(), free_port()
    copy_repo(FIXTURES / "vite-fastapi", repo.root)
    put_ports(repo.root, {"web/vite.config.js": {5173: web, 8000: api}, "api/main.py": {8000: api}})
    err = init_setup_up(repo)
    assert err == [
        f"api: FastAPI (api/requirements.txt), port {api} from uvicorn.run() in main.py",
        f"web: Vite 6 (web/package.json), port {web} from vite.config.js",
        "wrote stack.toml",
    ]
    stack_toml = (repo.root / "stack.toml").read_text()
    assert 'depends_on = ["api"]' in stack_toml
    # through Vite's proxy to the API, which read the .env setup copied from .env.example
    assert get(f"http://localhost:{web}/api/hello") == {"greeting": "hello from the fixture API"}


@needs_jvm
@needs_postgres
def test_a_spring_app_with_a_maven_wrapper_and_its_postgres(repo: Stack) -> None:
    api, pg = free_port(), free_port()
    copy_repo(FIXTURES / "spring-postgres", repo.root)
    put_ports(repo.root, {"shop-api/src/main/resources/application.yml": {8080: api, 5432: pg}})
    err = init_setup_up(repo)
    assert err == [
        f"postgres: PostgreSQL (spring.datasource.url in shop-api/src/main/resources/application.yml), "
        f"port {pg} from that URL",
        f"shop-api: Spring Boot 3 (shop-api/pom.xml), port {api} from application.yml",
        "wrote stack.toml",
    ]
    assert 'command = "./mvnw spring-boot:run"' in (repo.root / "stack.toml").read_text()
    # the role, its password and the database the URL names exist: the app's own query says so
    assert get(f"http://localhost:{api}/products/count") == {"database": "shop"}
    assert get(f"http://localhost:{api}/actuator/health")["components"]["db"]["status"] == "UP"


@needs_node
@needs_jvm
@needs_maven
@needs_postgres
def test_the_demos_own_layout_without_its_stack_toml(repo: Stack) -> None:
    pg, core, ai, web = free_port(), free_port(), free_port(), free_port()
    copy_repo(REPO / "demo", repo.root / "apps")
    put_ports(repo.root, {
        "apps/ai-api/.env.example": {5432: pg},
        "apps/ai-api/main.py": {8001: ai, 5173: web},
        "apps/core-api/src/main/resources/application.properties": {8080: core, 5173: web},
        "apps/frontend/vite.config.js": {5173: web},
    })
    err = init_setup_up(repo)
    assert err == [
        f"postgres: PostgreSQL (DATABASE_URL in apps/ai-api/.env.example), port {pg} from that URL",
        f"ai-api: FastAPI (apps/ai-api/requirements.txt), port {ai} from the uvicorn command in main.py's "
        "docstring",
        f"core-api: Spring Boot 3 (apps/core-api/pom.xml), port {core} from application.properties "
        f"(the default of ${{PORT:{core}}})",
        f"frontend: Vite 6 (apps/frontend/package.json), port {web} from vite.config.js",
        "wrote stack.toml",
    ]
    assert get(f"http://localhost:{core}/api/health") == {"status": "OK", "service": "LifeBit Core-API"}
