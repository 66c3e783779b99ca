"""`devstack init`'s PostgreSQL: from DATABASE_URL, JDBC URLs and compose files, to a service with
a setup that creates the roles and databases they name, and the dependencies on it."""

from __future__ import annotations

from pathlib import Path

from devstack.init import dburls, postgres
from devstack.init.model import DbUrl
from tests.support.initrepo import FASTAPI_MAIN, detect, make, service, toml_of


def api(folder: str, env_example: str, port: int = 8000) -> dict[str, str]:
    return {f"{folder}/requirements.txt": "fastapi\n", f"{folder}/.env.example": env_example,
            f"{folder}/main.py": f'"""uvicorn main:app --port {port}"""\n' + FASTAPI_MAIN}


def test_a_database_url_in_env_example_makes_a_postgres_the_service_depends_on(tmp_path: Path) -> None:
    make(tmp_path, api("apps/ai-api", "DATABASE_URL=postgresql+psycopg2://lifebit:pw@127.0.0.1:5432/lifebit_db\n"))
    result = detect(tmp_path)
    db = service(result, "postgres")
    assert db.found.headline() == ("PostgreSQL (DATABASE_URL in apps/ai-api/.env.example), port 5432 "
                                   "from that URL")
    assert service(result, "ai-api").depends_on == ["postgres"]
    assert [s.name for s in result.services] == ["postgres", "ai-api"]
    table = toml_of(result)["services"]["postgres"]
    assert table["port"] == 5432 and table["stop_signal"] == "SIGINT"
    assert table["health"] == {"cmd": "pg_isready -q -h localhost -p 5432", "start_period": "30s"}
    assert "cwd" not in table  # the stack folder: .devstack/pgdata is relative to it
    assert 'CREATE ROLE "lifebit" LOGIN PASSWORD \'pw\';\nCREATE DATABASE "lifebit_db" OWNER "lifebit";' \
        in table["setup"]
    assert "--auth-host=scram-sha-256" in table["setup"]
    assert table["command"].endswith('exec $AS "$BIN/postgres" -D "$D" -p 5432 -c listen_addresses=localhost '
                                     "-c unix_socket_directories=")


def test_the_generated_scripts_handle_root_and_a_checkout_postgres_cannot_enter() -> None:
    [db], _ = postgres.services([DbUrl("localhost", 5432, "app", "app", "pw", "x")], [])
    assert 'AS="setpriv --reuid=postgres --regid=postgres --init-groups --"' in (db.setup or "")
    assert "HOLD=/var/lib/devstack/" in (db.setup or "")
    assert 'ln -sfn "$HOLD/pgdata" "$R/.devstack/pgdata"' in (db.setup or "")
    assert "as root, the server runs as the postgres system user (Postgres refuses root)" in db.evidence


def test_the_password_never_reaches_a_comment_or_stderr_line(tmp_path: Path) -> None:
    make(tmp_path, api("api", "DATABASE_URL=postgres://u:hunter22@localhost/app\n"))
    result = detect(tmp_path)
    for s in result.services:
        assert "hunter22" not in s.found.headline()
        assert not any("hunter22" in line for line in [*s.found.evidence, *s.evidence])


def test_jdbc_urls_and_placeholders() -> None:
    url = dburls.from_jdbc("jdbc:postgresql://db1:6000,db2:6001/shop?user=a&password=b", None, None, "s")
    assert url == DbUrl("db1", 6000, "shop", "a", "b", "s")
    assert dburls.from_jdbc("jdbc:postgresql:shop", "u", "p", "s") \
        == DbUrl("localhost", 5432, "shop", "u", "p", "s")
    assert dburls.resolve_placeholders("jdbc:postgresql://${DB_HOST:localhost}:${DB_PORT:5440}/x") \
        == "jdbc:postgresql://localhost:5440/x"
    assert dburls.resolve_placeholders("${DB_URL}") is None
    assert dburls.resolve_placeholders("${PW:-secret}") == "secret"
    assert dburls.from_url("mysql://localhost/x", "s") is None


def test_a_compose_files_postgres_service_with_its_published_port_and_env(tmp_path: Path) -> None:
    make(tmp_path, {"docker-compose.yml": """\
        services:
          db:
            image: postgres:16-alpine
            ports: ["127.0.0.1:5440:5432"]
            environment:
              - POSTGRES_USER=shop
              - POSTGRES_PASSWORD=${DB_PASSWORD:-devpass}
          cache:
            image: redis:7
        """})
    db = service(detect(tmp_path), "postgres").found
    assert db.headline() == "PostgreSQL (service db in docker-compose.yml), port 5440 from its published port"
    assert 'CREATE ROLE "shop" LOGIN PASSWORD \'devpass\';\nCREATE DATABASE "shop" OWNER "shop";' \
        in (db.setup or "")


def test_a_url_without_a_password_means_trusted_local_connections(tmp_path: Path) -> None:
    make(tmp_path, api("api", "DATABASE_URL=postgresql://localhost:5432/app\n"))
    db = service(detect(tmp_path), "postgres").found
    assert "--auth-host=trust" in (db.setup or "")
    assert 'ALTER ROLE "postgres" LOGIN;\nCREATE DATABASE "app" OWNER "postgres";' in (db.setup or "")
    assert "no password for postgres: connections from this machine are trusted" in db.evidence


def test_a_remote_database_is_a_note_not_a_service(tmp_path: Path) -> None:
    make(tmp_path, api("api", "DATABASE_URL=postgresql://u:p@db.example.com:5432/app\n"))
    result = detect(tmp_path)
    assert [s.name for s in result.services] == ["api"]
    assert result.notes == ["DATABASE_URL in api/.env.example names a database on db.example.com, "
                            "not on this machine: not run by the stack"]


def test_two_ports_make_two_databases(tmp_path: Path) -> None:
    make(tmp_path, {**api("a", "DATABASE_URL=postgresql://a:a@localhost:5432/a\n"),
                    **api("b", "DB=postgresql://b:b@localhost:5433/b\n", port=8001)})
    result = detect(tmp_path)
    assert service(result, "a").depends_on == ["postgres-5432"]
    assert service(result, "b").depends_on == ["postgres-5433"]
    assert ".devstack/pgdata-5433" in (service(result, "postgres-5433").found.command)


def test_one_user_with_two_passwords_is_a_question_only_an_edit_settles(tmp_path: Path) -> None:
    make(tmp_path, {**api("a", "DATABASE_URL=postgresql://app:one@localhost/app\n"),
                    **api("b", "DATABASE_URL=postgresql://app:two@localhost/app\n", port=8001)})
    [question] = detect(tmp_path).ambiguities
    assert question.lines() == [
        "the repository root: user app has different passwords on port 5432:",
        "  postgresql://app@localhost:5432/app  (DATABASE_URL in a/.env.example)",
        "  postgresql://app@localhost:5432/app  (DATABASE_URL in b/.env.example)",
        "  pick one: make the password of app the same in those files",
    ]


def test_identifiers_and_passwords_are_quoted_for_sql() -> None:
    [db], _ = postgres.services([DbUrl("localhost", 5432, 'we"ird', "o'neil", "it's", "x")], [])
    assert "CREATE ROLE \"o'neil\" LOGIN PASSWORD 'it''s';\nCREATE DATABASE \"we\"\"ird\" OWNER \"o'neil\";" \
        in (db.setup or "")
