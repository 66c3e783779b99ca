"""`devstack config`'s document and text, and where an export's files go (-o)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.stackfile import load_stack
from devstack.errors import UsageError
from devstack.export import writer
from devstack.export.resolved import render_text, resolve
from tests.support.files import write

MARKER = "zz-secret-marker-zz"


def test_every_default_is_filled_in_and_every_path_absolute(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.toml", """
        [services.api]
        cwd = "api"
        command = ["python", "-m", "http.server"]
        health = { http = "http://localhost:8001/health?deep=1" }
    """)
    doc = resolve(load_stack(path), {})
    api = doc["services"][0]
    assert api["cwd"] == str(tmp_path / "api")
    assert api["argv"] == ["python", "-m", "http.server"]
    assert (api["restart"], api["max_restarts"], api["backoff"], api["backoff_max"]) == (
        "on-failure", 5, 0.5, 30.0)
    assert (api["stop_signal"], api["stop_timeout"], api["optional"], api["setup"]) == (
        "SIGTERM", 10.0, False, None)
    assert api["health"] == {
        "kind": "http", "target": "http://localhost:8001/health?deep=1", "host": "localhost", "port": 8001,
        "path": "/health?deep=1", "expect_status": "200-399", "expect_json": None, "expect_text": None,
        "interval": 2.0, "timeout": 5.0, "retries": 3, "start_period": 60.0,
    }


def test_dependencies_keep_their_conditions_and_the_start_order_is_given(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.toml", """
        [services.web]
        command = "npm run dev"
        depends_on = { api = "started", migrate = "completed" }
        [services.api]
        command = "python app.py"
        depends_on = ["db"]
        [services.db]
        command = "postgres"
        [services.migrate]
        command = "alembic upgrade head"
        restart = "no"
    """)
    doc = resolve(load_stack(path), {})
    deps = {s["name"]: s["depends_on"] for s in doc["services"]}
    assert deps["web"] == {"api": "started", "migrate": "completed"}
    assert deps["api"] == {"db": "healthy"}
    assert doc["start_order"] == ["db", "api", "migrate", "web"]


def test_env_is_given_as_layers_with_file_values_and_secret_names_masked(tmp_path: Path) -> None:
    write(tmp_path / ".env", f"API_KEY={MARKER}\nMODE={MARKER}-mode\n")
    path = write(tmp_path / "stack.toml", f"""
        [services.api]
        command = "python app.py"
        port = 8000
        env = {{ LOG_LEVEL = "debug", DB_PASSWORD = "{MARKER}" }}
    """)
    doc = resolve(load_stack(path), {"PATH": "/usr/bin", "OS_ONLY": "x"})
    env = {v["name"]: v for v in doc["services"][0]["env"]}
    assert MARKER not in str(doc)
    assert "OS_ONLY" not in env  # the caller's environment is not the stack's
    mode = env["MODE"]
    assert (mode["layer"], mode["value"], mode["masked"]) == ("service .env", "****", True)
    assert env["MODE"]["source"] == str(tmp_path / ".env")
    assert (env["DB_PASSWORD"]["layer"], env["DB_PASSWORD"]["value"]) == ("env", "****")
    assert (env["LOG_LEVEL"]["value"], env["PORT"]["layer"]) == ("debug", "devstack")
    text = render_text(doc, tmp_path)
    assert MARKER not in text
    assert "MODE" in text and "service .env (.env)" in text


def test_text_is_a_block_per_service(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.toml", """
        [stack]
        name = "shop"
        [services.db]
        command = "postgres"
        stop_signal = "SIGINT"
        health = { tcp = "127.0.0.1:5432", start_period = "30s" }
        [services.api]
        command = "python app.py"
        depends_on = ["db"]
        optional = true
        restart_on_unhealthy = true
        health = { http = "http://localhost:8000/", expect_status = [200, 204], expect_json = { ok = true } }
    """)
    text = render_text(resolve(load_stack(path), {}), tmp_path)
    assert text.splitlines()[:2] == [f"stack shop  ({path})", "start order: db, api"]
    assert "\ndb\n  command      postgres\n" in text
    assert "  stop         SIGINT, then SIGKILL after 10 s" in text
    assert "               every 2.0 s, timeout 5.0 s, 3 retries, start period 30 s" in text
    assert ('  health       http http://localhost:8000/\n'
            '               expects status 200, 204, JSON containing {"ok": true}') in text
    assert "  depends_on   db (healthy)" in text and "  optional     yes" in text
    assert ", also when unhealthy" in text


# --- where an export goes ---------------------------------------------------------------------


def test_compose_defaults_to_stdout_written_as_if_in_the_stack_folder(tmp_path: Path) -> None:
    place = writer.place("compose", None, tmp_path / "sub", tmp_path)
    assert (place.stdout, place.single, place.assets) == (True, tmp_path / "compose.yaml",
                                                          tmp_path / "deploy" / "compose")


@pytest.mark.parametrize("kind", ["systemd", "kubernetes"])
def test_the_other_kinds_default_to_a_deploy_folder(tmp_path: Path, kind: str) -> None:
    place = writer.place(kind, None, tmp_path / "sub", tmp_path)
    assert (place.stdout, place.folder, place.single) == (False, tmp_path / "deploy" / kind, None)


def test_o_names_a_file_or_a_folder_from_the_current_folder(tmp_path: Path) -> None:
    folder = writer.place("compose", Path("out"), tmp_path, tmp_path)
    assert folder.single == tmp_path / "out" / "compose.yaml"
    assert writer.place("compose", Path("x/dev.yml"), tmp_path, tmp_path).single == tmp_path / "x" / "dev.yml"
    one = writer.place("kubernetes", Path("k8s.yaml"), tmp_path, tmp_path)
    assert (one.single, one.folder) == (tmp_path / "k8s.yaml", tmp_path)
    with pytest.raises(UsageError, match="systemd units go into a folder"):
        writer.place("systemd", Path("units.yaml"), tmp_path, tmp_path)


def test_a_place_that_cannot_be_written_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError) as caught:
        writer.write([writer.Output(tmp_path / "file" / "compose.yaml", "x")])
    assert str(caught.value) == (f"cannot write {tmp_path / 'file' / 'compose.yaml'}: {tmp_path / 'file'} is "
                                 "a file, not a folder. Name a folder you can write to with -o.")
