"""doctor.reach: a service that cannot reach another one is told by the other one's state.

The output is the demo's Core API (Spring Boot 3.5, pgjdbc through Hikari) captured while its
Postgres was down, or up with a wrong password or database (tests/unit/captured/spring_hikari_*).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.specs import Condition, ServiceSpec, StackSpec
from devstack.doctor.peers import Peer
from devstack.doctor.reach import addresses_in, database_reason, reach_reason
from devstack.env.layers import build_env
from tests.support.captures import load

DB_URL = "jdbc:postgresql://127.0.0.1:5432/lifebit_db"


def core_api(tmp_path: Path, env: dict[str, str] | None = None,
             **kw: object) -> tuple[StackSpec, ServiceSpec]:
    spec = ServiceSpec(name="core-api", command="java -jar app.jar", cwd=tmp_path, port=8080,
                       env=env if env is not None else {"SPRING_DATASOURCE_URL": DB_URL,
                                                        "SPRING_DATASOURCE_USERNAME": "lifebit_user",
                                                        "SPRING_DATASOURCE_PASSWORD": "lifebit_pass"},
                       **kw)  # type: ignore[arg-type]
    stack = StackSpec(name="t", root=tmp_path, source=tmp_path / "stack.toml", services={"core-api": spec})
    return stack, spec


def peers(postgres: str, error: str | None = None) -> dict[str, Peer]:
    return {"postgres": Peer("postgres", 5432, postgres, error, "./init.sh"),
            "core-api": Peer("core-api", 8080, "healthy")}


def reason(tmp_path: Path, capture: str, postgres: str, *, alive: bool = True,
           depends: dict[str, str] | None = None, error: str | None = None) -> str | None:
    stack, spec = core_api(tmp_path)
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    lines = load(capture, tmp_path)
    return reach_reason("core-api", lines, addresses, peers(postgres, error), depends or {}, alive,
                        "HTTP 503 from 127.0.0.1:8080 (expected 200–399)")


def test_a_refused_connection_names_the_database_service_and_its_state(tmp_path: Path) -> None:
    assert reason(tmp_path, "spring_hikari_connection_refused.txt", "stopped") == (
        "core-api cannot reach postgres at 127.0.0.1:5432 (SPRING_DATASOURCE_URL = "
        "jdbc:postgresql://127.0.0.1:5432/lifebit_db in stack.toml): postgres is stopped; start it: "
        "devstack start postgres; it keeps running meanwhile")


@pytest.mark.parametrize(("state", "depends", "fix"), [
    ("starting", {},
     'add depends_on = ["postgres"] to core-api, so that it starts once postgres is healthy'),
    ("starting", {"postgres": "started"},
     'make core-api wait until postgres is healthy: depends_on = { postgres = "healthy" }'),
    ("failed", {"postgres": "healthy"}, "see devstack status and devstack logs postgres"),
])
def test_the_fix_follows_the_state_and_the_dependency(tmp_path: Path, state: str, depends: dict[str, str],
                                                       fix: str) -> None:
    said = reason(tmp_path, "spring_hikari_connection_refused.txt", state, depends=depends,
                  error="FATAL: data directory is missing" if state == "failed" else None) or ""
    assert f": postgres is {state}" in said and said.endswith(f"; {fix}; it keeps running meanwhile"), said


def test_a_failed_database_shows_its_own_reason(tmp_path: Path) -> None:
    said = reason(tmp_path, "spring_hikari_connection_refused.txt", "failed",
                  error="postgres: no database yet at .devstack/pgdata") or ""
    assert ": postgres is failed (postgres: no database yet at .devstack/pgdata); " in said


def test_no_word_about_a_database_that_is_up(tmp_path: Path) -> None:
    """Refused while postgres is healthy: the cause is elsewhere (the address), not its state."""
    assert reason(tmp_path, "spring_hikari_connection_refused.txt", "healthy") is None


def test_a_service_that_exited_at_start_is_not_said_to_keep_running(tmp_path: Path) -> None:
    said = reason(tmp_path, "spring_hikari_connection_refused.txt", "stopped", alive=False) or ""
    assert said.endswith("start it: devstack start postgres")


def test_a_503_without_an_address_is_explained_by_the_url_in_the_environment(tmp_path: Path) -> None:
    stack, spec = core_api(tmp_path)
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    said = reach_reason("core-api", ["Started CoreApiApplication in 3.1 seconds"], addresses,
                        peers("starting"), {}, True, "HTTP 503 from 127.0.0.1:8080 (expected 200–399)")
    assert said is not None and said.startswith("core-api cannot reach postgres at 127.0.0.1:5432 (")


def test_a_503_is_explained_by_a_dependency_that_is_not_up(tmp_path: Path) -> None:
    stack, spec = core_api(tmp_path, env={}, depends_on={"postgres": Condition.HEALTHY})
    said = reach_reason("core-api", [], addresses_in(build_env(stack, spec, {}), tmp_path),
                        peers("backoff"), {"postgres": "healthy"}, True, "HTTP 503 from 127.0.0.1:8080")
    assert said == ("core-api cannot reach postgres at port 5432: postgres is in backoff (restarting after "
                    "a crash); see devstack status and devstack logs postgres; it keeps running meanwhile")


def test_a_port_no_service_has(tmp_path: Path) -> None:
    line = ("org.postgresql.util.PSQLException: Connection to 127.0.0.1:5433 refused. Check that the "
            "hostname and port are correct and that the postmaster is accepting TCP/IP connections.")
    said = reach_reason("core-api", [line], [], peers("healthy"), {}, False)
    assert said == ("core-api cannot reach 127.0.0.1:5433: nothing listens there, and no service of this "
                    "stack has port 5433; start what should, or add it to stack.toml")


def test_a_url_from_a_dotenv_file_is_named_not_shown(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://app:hunter2@127.0.0.1:5432/app\n")
    stack, spec = core_api(tmp_path, env={})
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    said = reach_reason("core-api", load("spring_hikari_connection_refused.txt", tmp_path), addresses,
                        peers("stopped"), {}, True) or ""
    assert "(DATABASE_URL in .env)" in said and "hunter2" not in said and "app@" not in said


def test_a_password_in_a_stack_toml_url_is_never_shown(tmp_path: Path) -> None:
    stack, spec = core_api(tmp_path, env={"DATABASE_URL": "postgres://app:hunter2@localhost:5432/app"})
    [address] = addresses_in(build_env(stack, spec, {}), tmp_path)
    assert address.where == "DATABASE_URL = postgres://app@localhost:5432/app in stack.toml"
    assert (address.host, address.port, address.user, address.database) == ("localhost", 5432, "app", "app")


def test_a_refused_password_names_the_user_its_variable_and_the_setup(tmp_path: Path) -> None:
    stack, spec = core_api(tmp_path)
    env = build_env(stack, spec, {})
    said = database_reason(load("spring_hikari_password_failed.txt", tmp_path), env,
                           addresses_in(env, tmp_path), peers("healthy"), tmp_path)
    assert said == ('Postgres refused the password of user "lifebit_user" (named by '
                    "SPRING_DATASOURCE_USERNAME = lifebit_user in stack.toml): the password the service "
                    "gives (SPRING_DATASOURCE_PASSWORD) differs from the one the user was created with "
                    "(postgres's setup: ./init.sh)")
    assert "lifebit_pass" not in said


def test_a_missing_database_names_the_url_that_names_it(tmp_path: Path) -> None:
    url = "jdbc:postgresql://127.0.0.1:5432/nosuchdb"
    stack, spec = core_api(tmp_path, env={"SPRING_DATASOURCE_URL": url})
    env = build_env(stack, spec, {})
    said = database_reason(load("spring_hikari_database_missing.txt", tmp_path), env,
                           addresses_in(env, tmp_path), peers("healthy"), tmp_path)
    assert said == ('Postgres has no database "nosuchdb" (named by SPRING_DATASOURCE_URL = '
                    "jdbc:postgresql://127.0.0.1:5432/nosuchdb in stack.toml): create it (postgres's setup: "
                    "./init.sh), or name an existing database there")


def test_output_without_a_refusal_says_nothing(tmp_path: Path) -> None:
    stack, spec = core_api(tmp_path)
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    lines = load("spring_port_in_use.txt", tmp_path)
    assert reach_reason("core-api", lines, addresses, peers("stopped"), {}, False) is None


# --- issue 18: Python and Node clients (SQLAlchemy, psycopg, asyncpg, node-postgres) ------------------

API_URL = "postgresql://lifebit_user:lifebit_pass@127.0.0.1:{port}/lifebit_db"


def api(tmp_path: Path, port: int, *, in_dotenv: bool = False, database: str = "lifebit_db",
        user: str = "lifebit_user") -> tuple[StackSpec, ServiceSpec]:
    url = f"postgresql://{user}:lifebit_pass@127.0.0.1:{port}/{database}"
    if in_dotenv:
        (tmp_path / ".env").write_text(f"DATABASE_URL={url}\n")
    spec = ServiceSpec(name="ai-api", command="uvicorn main:app", cwd=tmp_path, port=8001,
                       env={} if in_dotenv else {"DATABASE_URL": url})
    return StackSpec(name="t", root=tmp_path, source=tmp_path / "stack.toml", services={"ai-api": spec}), spec


def db_peers(state: str, port: int, error: str | None = None) -> dict[str, Peer]:
    return {"postgres": Peer("postgres", port, state, error, "./init.sh"),
            "ai-api": Peer("ai-api", 8001, "failed")}


REFUSED = ["sqlalchemy_refused.txt", "psycopg_refused.txt", "asyncpg_refused.txt", "node_pg_refused.txt"]


@pytest.mark.parametrize("capture", REFUSED)
@pytest.mark.parametrize(("state", "depends", "fix"), [
    ("starting", {}, 'add depends_on = ["postgres"] to ai-api, so that it starts once postgres is healthy'),
    ("stopped", {}, "start it: devstack start postgres"),
    ("failed", {"postgres": "healthy"}, "see devstack status and devstack logs postgres"),
])
def test_every_client_refused_names_the_database_service(capture: str, state: str, depends: dict[str, str],
                                                         fix: str, tmp_path: Path) -> None:
    """The captures were made against 127.0.0.1:55499 with nothing listening."""
    stack, spec = api(tmp_path, 55499)
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    said = reach_reason("ai-api", load(capture, tmp_path), addresses,
                        db_peers(state, 55499, "FATAL: data directory is missing"), depends, False)
    where = "DATABASE_URL = postgresql://lifebit_user@127.0.0.1:55499/lifebit_db in stack.toml"
    failed = " (FATAL: data directory is missing)" if state == "failed" else ""
    assert said == (f"ai-api cannot reach postgres at 127.0.0.1:55499 ({where}): "
                    f"postgres is {state}{failed}; {fix}")
    assert "lifebit_pass" not in said


@pytest.mark.parametrize("capture", REFUSED)
def test_a_refusal_at_a_port_no_service_has(capture: str, tmp_path: Path) -> None:
    stack, spec = api(tmp_path, 55499, in_dotenv=True)
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    said = reach_reason("ai-api", load(capture, tmp_path), addresses, db_peers("healthy", 5432), {}, False)
    assert said == ("ai-api cannot reach 127.0.0.1:55499 (DATABASE_URL in .env): nothing listens there, "
                    "and no service of this stack has port 55499; start what should, or add it to stack.toml")


@pytest.mark.parametrize("capture", ["sqlalchemy_timeout.txt", "asyncpg_timeout.txt", "node_pg_timeout.txt"])
def test_a_timeout_names_the_address_and_the_service_behind_it(capture: str, tmp_path: Path) -> None:
    """The captures timed out against 127.0.0.1:55498, a listener with a full accept queue. libpq names
    the address; asyncpg's bare TimeoutError and node-postgres' "timeout expired" do not: DATABASE_URL
    does."""
    stack, spec = api(tmp_path, 55498, in_dotenv=True)
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    lines = load(capture, tmp_path)
    said = reach_reason("ai-api", lines, addresses, db_peers("starting", 55498), {}, False)
    assert said == ("ai-api cannot reach postgres at 127.0.0.1:55498 (DATABASE_URL in .env): postgres is "
                    'starting; add depends_on = ["postgres"] to ai-api, so that it starts once postgres is '
                    'healthy')
    said = reach_reason("ai-api", lines, addresses, db_peers("healthy", 5432), {}, False)
    assert said == ("ai-api cannot reach 127.0.0.1:55498 (DATABASE_URL in .env): the connection timed out: "
                    "something holds the port but does not accept (hung, or its backlog is full); see who: "
                    "devstack status, ss -ltnp")


def test_a_timeout_to_another_host(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://app:pw@db.internal.example:5432/app\n")
    spec = ServiceSpec(name="ai-api", command="x", cwd=tmp_path)
    stack = StackSpec(name="t", root=tmp_path, source=tmp_path / "stack.toml", services={"ai-api": spec})
    addresses = addresses_in(build_env(stack, spec, {}), tmp_path)
    said = reach_reason("ai-api", load("asyncpg_timeout.txt", tmp_path), addresses, {}, {}, False)
    assert said == ("ai-api cannot reach db.internal.example:5432 (DATABASE_URL in .env): the connection "
                    "timed out: check that the host is right and reachable from this machine (VPN, "
                    "firewall), or "
                    "run "
                    "the database in this stack")


@pytest.mark.parametrize(("capture", "expected"), [
    ("sqlalchemy_password_failed.txt", "password"), ("asyncpg_password_failed.txt", "password"),
    ("node_pg_password_failed.txt", "password"), ("psycopg_database_missing.txt", "database"),
    ("asyncpg_database_missing.txt", "database"), ("node_pg_database_missing.txt", "database"),
    ("sqlalchemy_role_missing.txt", "role"),
])
def test_python_and_node_clients_refused_by_postgres(capture: str, expected: str, tmp_path: Path) -> None:
    """Real Postgres 15 answers (scram-sha-256 for TCP, trust on the socket for the missing role)."""
    stack, spec = api(tmp_path, 55444, database="lifebit" if expected == "database" else "lifebit_db",
                      user="lifebit" if expected == "role" else "lifebit_user")
    env = build_env(stack, spec, {})
    said = database_reason(load(capture, tmp_path), env, addresses_in(env, tmp_path),
                           db_peers("healthy", 55444), tmp_path) or ""
    if expected == "password":
        assert said == ('Postgres refused the password of user "lifebit_user" (named by DATABASE_URL = '
                        "postgresql://lifebit_user@127.0.0.1:55444/lifebit_db in stack.toml): the password "
                        "the "
                        "service gives differs from the one the user was created with (postgres's setup: "
                        "./init.sh)")
    elif expected == "database":
        assert said == ('Postgres has no database "lifebit" (named by DATABASE_URL = postgresql://lifebit_user@'
                        "127.0.0.1:55444/lifebit in stack.toml): create it (postgres's setup: ./init.sh), or "
                        "name an existing database there")
    else:
        assert said == ('Postgres has no user (role) "lifebit" (named by DATABASE_URL = postgresql://lifebit@'
                        "127.0.0.1:55444/lifebit_db in stack.toml): create it (postgres's setup: ./init.sh), "
                        "or "
                        "name an existing one")
    assert "lifebit_pass" not in said
