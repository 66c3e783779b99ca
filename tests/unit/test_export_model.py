"""The neutral export model: env plan, links between services, runtimes, durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.export import links
from devstack.export.model import span
from devstack.export.runtime import Kind
from tests.support.exporting import stack_in


@pytest.mark.parametrize(("seconds", "text"), [(30, "30s"), (0.5, "500ms"), (1.5, "1500ms"), (120.0, "120s"),
                                               (0.0001, "0.0001s")])
def test_span_is_what_compose_and_systemd_both_read(seconds: float, text: str) -> None:
    assert span(seconds) == text


def test_env_plan_sorts_what_may_be_written_from_what_may_only_be_named(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [services.api]
        command = "python app.py"
        port = 8000
        [services.api.env]
        LOG_LEVEL = "debug"
        API_TOKEN = "plain-but-secret-name"
        DB_URL = "postgres://app:hunter2@localhost:5432/app"
        FROM_FILE = "x-${FILE_VALUE}"
        HOME_DIR = "${HOME}/data"
        SHARED = "from-toml"
    """, {".env": "FILE_VALUE=s3cr3t\nSHARED=from-file\n"})
    env = stack.service("api").env
    assert dict(env.plain) == {"LOG_LEVEL": "debug", "HOME_DIR": "/home/u/data", "SHARED": "from-toml",
                               "PORT": "8000", "PYTHONUNBUFFERED": "1"}
    # a secret name, a URL with a password, a value built from an .env value
    assert env.secret == ("API_TOKEN", "DB_URL", "FROM_FILE")
    assert env.interpolated == ("HOME_DIR",)
    assert env.shadowed == ("SHARED",)
    assert [f.path.name for f in env.files] == [".env"]


def test_env_files_missing_but_expected_are_still_referenced(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [stack]
        env_file = "shared.env"
        [services.api]
        command = "python app.py"
        cwd = "api"
    """, {"shared.env": "A=${B}\n", "api/.env.example": "KEY=\n"})
    files = stack.service("api").env.files
    assert [(f.path.name, f.exists, f.interpolates) for f in files] == [("shared.env", True, True),
                                                                         (".env", False, False)]


def test_a_value_in_an_env_file_reaching_another_service_is_found_without_keeping_it(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [services.db]
        command = "postgres"
        port = 5432
        [services.api]
        command = "python app.py"
    """, {".env": "DATABASE_URL=postgresql://u:pw@127.0.0.1:5432/app\nOTHER=localhost:9999\n"})
    refs = stack.service("api").env.file_links
    assert [(r.variable, r.service) for r in refs] == [("DATABASE_URL", "db")]
    assert "pw" not in repr(refs)


def test_links_rewrite_other_services_ports_but_not_the_services_own(tmp_path: Path) -> None:
    owners = {5432: "db", 8000: "api"}
    text = "db=127.0.0.1:5432 self=localhost:8000 far=localhost:54321 ipv6=[::1]:5432 host=example:5432"
    assert links.rewrite(text, owners, "api", str.upper) == (
        "db=DB:5432 self=localhost:8000 far=localhost:54321 ipv6=DB:5432 host=example:5432")
    assert [(link.service, link.host) for link in links.find(text, owners, "api")] == [
        ("db", "127.0.0.1"), ("db", "[::1]")]


def test_a_probe_names_the_owner_of_a_port_no_service_declares(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [services.db]
        command = "python db.py"
        health = { tcp = "127.0.0.1:15432" }
        [services.api]
        command = "python api.py"
        port = 18001
    """)
    assert dict(stack.owners) == {18001: "api", 15432: "db"}


def test_runtimes_are_read_from_the_folder_and_the_command(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [services.db]
        cwd = "db"
        command = "./run.sh"
        port = 5433
        health = { cmd = "pg_isready -h 127.0.0.1 -p 5433 -d shop -U shopper" }
        [services.jvm]
        cwd = "jvm"
        command = "java -jar target/app.jar"
        [services.gradle]
        cwd = "gradle"
        command = "java -jar build/libs/app.jar"
        [services.web]
        cwd = "web"
        command = "npm run dev"
        [services.py]
        cwd = "py"
        command = "uvicorn main:app"
        [services.script]
        command = "./serve"
    """, {
        "db/002_seed.sql": "", "db/001_schema.sql": "", "db/run.sh": "",
        "jvm/pom.xml": "<project><properties><java.version>21</java.version></properties></project>",
        "gradle/build.gradle.kts": "java { toolchain { languageVersion = JavaLanguageVersion.of(17) } }",
        "web/package.json": '{"engines": {"node": ">=22.1"}}', "web/package-lock.json": "{}",
        "py/requirements.txt": "fastapi\n", "py/.venv/pyvenv.cfg": "version = 3.12.4\n",
    })
    found = {s.name: s.runtime for s in stack.services}
    assert (found["db"].kind, found["db"].database, found["db"].user, found["db"].init_sql) == (
        Kind.POSTGRES, "shop", "shopper", ("001_schema.sql", "002_seed.sql"))
    assert (found["jvm"].kind, found["jvm"].version) == (Kind.MAVEN, "21")
    assert (found["gradle"].kind, found["gradle"].version) == (Kind.GRADLE, "17")
    web = found["web"]
    assert (web.kind, web.version, web.lockfile) == (Kind.NODE, "22", "package-lock.json")
    assert (found["py"].kind, found["py"].version, found["py"].venv, found["py"].requirements) == (
        Kind.PYTHON, "3.12", ".venv", "requirements.txt")
    assert found["script"].kind is Kind.OTHER


def test_postgres_database_and_user_come_from_another_services_written_url(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [services.postgres]
        command = "postgres -D data -p 5432"
        port = 5432
        [services.api]
        command = "java -jar app.jar"
        env.SPRING_DATASOURCE_URL = "jdbc:postgresql://127.0.0.1:5432/orders"
        env.SPRING_DATASOURCE_USERNAME = "app"
    """)
    runtime = stack.service("postgres").runtime
    assert (runtime.kind, runtime.evidence, runtime.database, runtime.user) == (
        Kind.POSTGRES, "postgres command", "orders", "app")


def test_the_model_keeps_devstacks_own_argv_and_start_order(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, """
        [services.web]
        command = "npm run dev"
        depends_on = ["api"]
        [services.api]
        command = "python app.py > out.log"
    """)
    assert [s.name for s in stack.services] == ["api", "web"]
    assert stack.service("web").argv == ("npm", "run", "dev")
    assert stack.service("api").argv == ("/bin/sh", "-c", "exec python app.py > out.log")
    assert stack.waited_on("api") == {"healthy"}
