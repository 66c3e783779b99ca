"""doctor.reach: a service that cannot reach another one is told by the other one's state.

The output is the demo's Core API (Spring Boot 3.5, pgjdbc through Hikari) captured while its
Postgres was down, or up with a wrong password or database (tests/unit/captured/spring_hikari_*).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.specs import Condition, ServiceSpec, StackSpec
from devstack.doctor.reach import Peer, addresses_in, database_reason, reach_reason
from devstack.env.layers import build_env
from tests.unit.test_signatures import load

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
