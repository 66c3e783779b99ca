"""`devstack export compose`: compose.yaml and the Dockerfiles, from small stacks."""

from __future__ import annotations

from pathlib import Path

from tests.support.exporting import compose_doc, stack_in

PY = "python app.py"


def test_dependencies_keep_their_conditions(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", f"""
        [services.db]
        command = "{PY}"
        health = {{ tcp = "127.0.0.1:5432" }}
        [services.migrate]
        command = "{PY}"
        restart = "no"
        [services.cache]
        command = "{PY}"
        optional = true
        health = {{ tcp = "127.0.0.1:6379" }}
        [services.logger]
        command = "{PY}"
        health = {{ log = "ready" }}
        [services.api]
        command = "{PY}"
        depends_on = {{ db = "healthy", migrate = "completed", cache = "started", logger = "healthy" }}
    """)
    doc, _, notes = compose_doc(stack, tmp_path / "out")
    assert doc["services"]["api"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
        "cache": {"condition": "service_started", "required": False},
        "logger": {"condition": "service_started"},
    }
    assert "api: waits for logger to be started only: logger has no healthcheck" in notes.warnings
    assert any(w.startswith("logger: no healthcheck: its log probe ('ready')") for w in notes.warnings)
    assert any(w.startswith("cache: optional: its dependents get `required: false`") for w in notes.warnings)


def test_restart_stop_and_ports_are_carried(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", f"""
        [services.a]
        command = "{PY}"
        port = 8000
        max_restarts = 3
        stop_signal = "SIGINT"
        stop_timeout = 90
        [services.b]
        command = "{PY}"
        restart = "always"
        [services.c]
        command = "{PY}"
        max_restarts = 0
        [services.d]
        command = "{PY}"
        restart = "no"
        restart_on_unhealthy = true
    """)
    doc, _, notes = compose_doc(stack, tmp_path / "out")
    services = doc["services"]
    assert [services[n]["restart"] for n in "abcd"] == ["on-failure:3", "always", "no", "no"]
    assert (services["a"]["stop_signal"], services["a"]["stop_grace_period"]) == ("SIGINT", "90s")
    assert services["a"]["ports"] == ["127.0.0.1:8000:8000"]
    assert services["a"]["x-devstack"]["max_restarts"] == 3
    assert ("d: restart_on_unhealthy: Docker marks the container unhealthy but does not restart it"
            in notes.warnings)
    assert "b: restart always: Docker keeps restarting it past max_restarts (5)" in notes.warnings


def test_healthchecks_use_a_tool_each_image_has(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.py]
        cwd = "py"
        command = "uvicorn main:app"
        health = { http = "http://localhost:8001/", expect_json = { status = "OK" }, interval = "500ms" }
        [services.web]
        cwd = "web"
        command = "npm run dev"
        health = { http = "http://localhost:5173/", expect_status = [200, 204], expect_text = "app" }
        [services.jvm]
        cwd = "jvm"
        command = "java -jar target/app.jar"
        health = { http = "http://localhost:8080/health", start_period = "2m" }
        [services.db]
        cwd = "db"
        command = "./run.sh"
        health = { cmd = "pg_isready -h 127.0.0.1 -p 5432" }
        [services.raw]
        command = "./serve"
        health = { tcp = "127.0.0.1:7000" }
        [services.rawhttp]
        command = "./serve-http"
        health = { http = "http://localhost:7001/" }
    """, {"py/requirements.txt": "fastapi\n", "web/package.json": "{}", "jvm/pom.xml": "<project/>",
          "db/init.sql": ""})
    doc, files, notes = compose_doc(stack, tmp_path / "out")
    checks = {name: svc.get("healthcheck") for name, svc in doc["services"].items()}
    py = checks["py"]
    assert py["test"][:3] == ["CMD", "python", "-c"] and "urllib.request" in py["test"][3]
    assert (py["interval"], py["timeout"], py["retries"], py["start_period"]) == ("500ms", "5s", 3, "60s")
    web = checks["web"]["test"]
    assert web[:3] == ["CMD", "node", "-e"] and "[200,204].includes" in web[3]
    assert checks["jvm"]["test"] == ["CMD", "java", "-cp", "/devstack", "Probe", "http://localhost:8080/health",
                                     "5000", "200-399"]
    assert checks["jvm"]["start_period"] == "120s"
    assert doc["services"]["jvm"]["build"]["additional_contexts"] == {"devstack": "./jvm"}
    assert "public final class Probe" in files["jvm/Probe.java"]
    assert checks["db"]["test"] == ["CMD-SHELL", "pg_isready -h 127.0.0.1 -p 5432"]
    assert checks["raw"]["test"] == ["CMD", "bash", "-c", ": > /dev/tcp/127.0.0.1/7000"]
    assert checks["rawhttp"] is None
    assert ("rawhttp: no healthcheck: its image (other) has no HTTP client to run its http probe with"
            in notes.warnings)


def test_a_cmd_probe_needing_a_tool_the_image_lacks_is_said(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.api]
        command = "python app.py"
        health = { cmd = "curl -fs http://localhost:8000/" }
        [services.ok]
        command = "python app.py"
        health = { cmd = "./check.sh && python -c 'print(1)'" }
    """)
    _, _, notes = compose_doc(stack, tmp_path / "out")
    said = "api: its cmd probe runs curl inside the container, whose image may not have it"
    assert notes.warnings.count(said) == 1
    assert not any(w.startswith("ok:") for w in notes.warnings)


def test_secrets_are_referenced_never_written(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.api]
        cwd = "api"
        command = "python app.py"
        [services.api.env]
        MODE = "cost: $5 a day"
        DB_PASSWORD = "hunter2-marker"
        URL = "postgres://u:pw-marker@db:5432/app"
    """, {"api/.env": "TOKEN=file-marker\n", "api/settings.env": ""})
    doc, files, notes = compose_doc(stack, tmp_path / "out")
    api = doc["services"]["api"]
    assert api["environment"]["MODE"] == "cost: $$5 a day"  # compose would interpolate a single $
    assert api["env_file"] == ["../s/api/.env", "./api.secrets.env"]
    for text in files.values():
        assert "marker" not in text
    assert ("api: DB_PASSWORD, URL not written (secret): put DB_PASSWORD=… URL=… in api.secrets.env "
            "(its env_file)") in notes.warnings


def test_localhost_meaning_another_service_names_it(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.db]
        command = "postgres -D data"
        port = 5432
        [services.api]
        command = "python app.py --db 127.0.0.1:5432 --host 127.0.0.1"
        port = 8000
        env = { JDBC = "jdbc:postgresql://localhost:5432/app", SELF = "http://localhost:8000/" }
    """)
    doc, files, notes = compose_doc(stack, tmp_path / "out")
    api = doc["services"]["api"]
    assert api["environment"]["JDBC"] == "jdbc:postgresql://db:5432/app"
    assert api["environment"]["SELF"] == "http://localhost:8000/"
    assert 'CMD ["python", "app.py", "--db", "db:5432", "--host", "127.0.0.1"]' in files["api/Dockerfile"]
    assert "api: JDBC: localhost:5432 becomes db:5432" in notes.warnings
    assert "api: its command's 127.0.0.1:5432 becomes db:5432" in notes.warnings
    assert any(w.startswith("api: its command listens on 127.0.0.1 only") for w in notes.warnings)


def test_dockerfiles_by_runtime(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.py]
        cwd = "py"
        venv = ".venv"
        command = "uvicorn main:app"
        [services.web]
        cwd = "web"
        command = "npm start"
        [services.db]
        cwd = "db"
        command = "postgres -D data -p 5433"
        port = 5433
        stop_signal = "SIGINT"
        env = { POSTGRES_DB = "shop" }
    """, {"py/requirements.txt": "", "web/package.json": '{"engines": {"node": "18"}}', "db/01.sql": ""})
    doc, files, notes = compose_doc(stack, tmp_path / "out")
    assert files["py/Dockerfile"].splitlines()[1:] == [
        "FROM python:3.11-slim", "WORKDIR /app", "ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH",
        "RUN python -m venv /app/.venv", "COPY requirements.txt ./",
        "RUN pip install --no-cache-dir -r requirements.txt", "COPY . .", "STOPSIGNAL SIGTERM",
        'CMD ["uvicorn", "main:app"]']
    ignored = set(files["py/Dockerfile.dockerignore"].split())
    assert {".env", ".env.*", "!.env.example", ".venv", "venv"} <= ignored
    assert files["web/Dockerfile"].splitlines()[1:5] == [
        "FROM node:18-slim", "WORKDIR /app", "COPY package.json ./", "RUN npm install"]
    assert files["db/Dockerfile"].splitlines()[1:] == [
        "FROM postgres:16", "COPY 01.sql /docker-entrypoint-initdb.d/", "EXPOSE 5433", "STOPSIGNAL SIGINT",
        'CMD ["postgres", "-p", "5433"]']
    db = doc["services"]["db"]
    assert db["environment"]["POSTGRES_DB"] == "shop"
    assert db["volumes"] == ["db-data:/var/lib/postgresql/data"]
    assert doc["volumes"] == {"db-data": {}}
    assert db["env_file"] == ["./db.secrets.env"]
    assert any(w.startswith("db: its database or user was not found") for w in notes.warnings)


def test_devstack_only_settings_stay_under_x_devstack(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [stack]
        name = "My Shop"
        [services.Api]
        command = ["python", "app.py"]
        setup = "pip install -r requirements.txt"
        optional = true
        backoff = "1s"
        backoff_max = "1m"
    """)
    doc, _, _ = compose_doc(stack, tmp_path / "out")
    assert doc["name"] == "my-shop"
    assert doc["services"]["Api"]["image"] == "my-shop-api"  # Docker's image names are lower-case
    assert doc["services"]["Api"]["x-devstack"] == {
        "cwd": "../s", "command": ["python", "app.py"], "runtime": "python (the command runs python)",
        "setup": "pip install -r requirements.txt", "optional": True, "max_restarts": 5, "backoff": "1s",
        "backoff_max": "60s", "restart_on_unhealthy": False}
    assert doc["x-devstack"] == {"stack": "My Shop", "source": "../s/stack.toml",
                                 "exported_by": "devstack export compose"}
