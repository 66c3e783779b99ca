"""`devstack init` on Python apps: FastAPI found by parsing, its venv, .env, port and probe;
Flask and Django where simple."""

from __future__ import annotations

from pathlib import Path

from tests.support.initrepo import FASTAPI_MAIN, detect, make, service, toml_of


def test_a_fastapi_app_runs_with_uvicorn_from_its_folder_with_a_venv_made_by_setup(tmp_path: Path) -> None:
    make(tmp_path, {"apps/ai-api/requirements.txt": "fastapi==0.110.0\nuvicorn[standard]\n",
                    "apps/ai-api/main.py": FASTAPI_MAIN})
    result = detect(tmp_path)
    api = service(result, "ai-api")
    assert api.found.command == "uvicorn main:app --port 8000"
    assert api.found.headline() == "FastAPI (apps/ai-api/requirements.txt), port 8000 from uvicorn's default"
    assert api.found.setup == "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    table = toml_of(result)["services"]["ai-api"]
    assert table == {"cwd": "apps/ai-api", "venv": ".venv", "setup": api.found.setup,
                     "command": "uvicorn main:app --port 8000", "port": 8000,
                     "health": {"http": "http://localhost:8000/"}}


def test_an_existing_venv_and_env_example_are_used(tmp_path: Path) -> None:
    make(tmp_path, {"requirements.txt": "fastapi\n", "app.py": FASTAPI_MAIN,
                    "venv/pyvenv.cfg": "home = /usr\n", ".env.example": "KEY=value\n"})
    found = detect(tmp_path).services[0].found
    assert (found.venv, found.env_file) == ("venv", ".env")
    assert found.setup == ("venv/bin/pip install -r requirements.txt uvicorn"
                           " && (test -f .env || cp .env.example .env)")
    assert found.command == "uvicorn app:app --port 8000"
    assert "no .env yet: setup copies .env.example" in found.evidence


def test_an_existing_env_needs_no_copy(tmp_path: Path) -> None:
    make(tmp_path, {"requirements.txt": "fastapi\nuvicorn\n", "main.py": FASTAPI_MAIN, ".env": "A=1\n",
                    ".env.example": "A=\n"})
    found = detect(tmp_path).services[0].found
    assert found.env_file == ".env" and "cp" not in (found.setup or "")


def test_the_app_is_found_by_parsing_not_by_a_substring(tmp_path: Path) -> None:
    notes = '"""Write app = FastAPI() in main.py."""\n# api = FastAPI()\nEXAMPLE = "x = FastAPI()"\n'
    make(tmp_path, {"requirements.txt": "fastapi\n", "notes.py": notes,
                    "server.py": FASTAPI_MAIN.replace("app", "api")})
    assert detect(tmp_path).services[0].found.command == "uvicorn server:api --port 8000"


def test_no_app_in_any_module_is_a_note(tmp_path: Path) -> None:
    make(tmp_path, {"svc/requirements.txt": "fastapi\n", "svc/util.py": "import fastapi\n"})
    result = detect(tmp_path)
    assert result.services == []
    assert result.notes == ["svc/requirements.txt names fastapi but no module in svc creates FastAPI(...); "
                            "not taken as a service"]


def test_two_apps_in_one_folder_are_a_question_and_choose_picks_one(tmp_path: Path) -> None:
    make(tmp_path, {"api/requirements.txt": "fastapi\n", "api/main.py": FASTAPI_MAIN,
                    "api/admin.py": "import fastapi\nadmin = fastapi.FastAPI(title='admin')\n",
                    "api/tests/test_app.py": "from fastapi import FastAPI\ntest_app = FastAPI()\n"})
    result = detect(tmp_path)
    assert result.services == []
    [question] = result.ambiguities
    assert question.lines() == [
        "api: more than one FastAPI app:",
        "  admin:admin  (admin = FastAPI(...) in api/admin.py)",
        "  main:app  (app = FastAPI(...) in api/main.py)",
        "  pick one: devstack init --choose api=VALUE (one of the above)",
    ]
    picked = service(detect(tmp_path, api="admin:admin"), "api")
    assert picked.found.command == "uvicorn admin:admin --port 8000"


def test_a_package_module_a_src_layout_and_a_factory(tmp_path: Path) -> None:
    factory = "from fastapi import FastAPI\n\ndef create_app():\n    app = FastAPI()\n\n" \
              "    @app.get('/health')\n    def health():\n        return {}\n    return app\n"
    make(tmp_path, {"a/pyproject.toml": '[project]\nname = "a"\ndependencies = ["fastapi>=0.100"]\n',
                    "a/src/a_pkg/web.py": FASTAPI_MAIN, "a/src/a_pkg/__init__.py": "",
                    "b/requirements.txt": "fastapi\n", "b/service/factory.py": factory})
    result = detect(tmp_path)
    a, b = service(result, "a"), service(result, "b")
    assert a.found.command == "uvicorn a_pkg.web:app --port 8000 --app-dir src"
    assert a.found.setup == "python3 -m venv .venv && .venv/bin/pip install -e . uvicorn"
    assert b.found.command == "uvicorn service.factory:create_app --port 8000 --factory"
    assert b.found.probe.target == "http://localhost:8000/health"


def test_app_assigned_from_a_local_factory_is_the_app(tmp_path: Path) -> None:
    code = "from fastapi import FastAPI\n\ndef build():\n    return FastAPI()\n\napp = build()\n"
    make(tmp_path, {"requirements.txt": "fastapi\n", "main.py": code})
    assert detect(tmp_path).services[0].found.command == "uvicorn main:app --port 8000"


def test_the_probe_prefers_health_then_root_then_openapi_then_tcp(tmp_path: Path) -> None:
    def probe(code: str) -> str:
        make(tmp_path, {"requirements.txt": "fastapi\n", "main.py": "from fastapi import FastAPI\n" + code})
        return detect(tmp_path).services[0].found.probe.target

    assert probe("app = FastAPI()\n@app.get('/')\ndef r(): ...\n@app.get('/health')\ndef h(): ...\n") \
        == "http://localhost:8000/health"
    assert probe("app = FastAPI()\n@app.get('/items/{id}')\ndef r(id): ...\n") == "http://localhost:8000/openapi.json"
    assert probe("app = FastAPI(openapi_url=None)\n@app.post('/')\ndef r(): ...\n") == "127.0.0.1:8000"
    assert probe("app = FastAPI()\n@app.api_route('/', methods=['GET', 'HEAD'])\ndef r(): ...\n") \
        == "http://localhost:8000/"


def test_the_port_from_uvicorn_run_or_a_documented_command(tmp_path: Path) -> None:
    make(tmp_path, {"a/requirements.txt": "fastapi\n",
                    "a/main.py": FASTAPI_MAIN + "\nif __name__ == '__main__':\n    import uvicorn\n"
                                                "    uvicorn.run(app, host='127.0.0.1', port=8010)\n",
                    "b/requirements.txt": "fastapi\n",
                    "b/main.py": '"""Run: uvicorn main:app --port 8020"""\n' + FASTAPI_MAIN,
                    "c/requirements.txt": "fastapi\n", "c/main.py": FASTAPI_MAIN,
                    "c/README.md": "Start it with `uvicorn main:app --reload --port=8030`.\n"})
    result = detect(tmp_path)
    assert {s.name: (s.found.port, s.found.port_from) for s in result.services} == {
        "a": (8010, "uvicorn.run() in main.py"),
        "b": (8020, "the uvicorn command in main.py's docstring"),
        "c": (8030, "the uvicorn command in README.md"),
    }


def test_two_ports_are_a_question(tmp_path: Path) -> None:
    make(tmp_path, {"requirements.txt": "fastapi\n", "main.py": '"""uvicorn main:app --port 8001"""\n'
                    + FASTAPI_MAIN + "\nimport uvicorn\nuvicorn.run(app, port=8002)\n"})
    [question] = detect(tmp_path).ambiguities
    assert question.question == "more than one port"
    assert service(detect(tmp_path, **{".": "8002"}), tmp_path.name.lower()).found.port == 8002


def test_a_module_that_does_not_parse_is_a_note(tmp_path: Path) -> None:
    make(tmp_path, {"requirements.txt": "fastapi\n", "main.py": FASTAPI_MAIN,
                    "broken.py": "app = FastAPI(\n"})
    result = detect(tmp_path)
    assert len(result.services) == 1
    assert result.notes == ["broken.py does not parse as Python (line 1: '(' was never closed); skipped it"]


def test_requirements_includes_are_followed(tmp_path: Path) -> None:
    make(tmp_path, {"requirements.txt": "-r requirements/base.txt\n",
                    "requirements/base.txt": "FastAPI[all]>=0.1\n", "main.py": FASTAPI_MAIN})
    assert detect(tmp_path).services[0].found.kind == "FastAPI"


def test_flask_where_simple(tmp_path: Path) -> None:
    code = ("from flask import Flask\napp = Flask(__name__)\n\n@app.route('/health')\n"
            "def h():\n    return 'ok'\n\nif __name__ == '__main__':\n    app.run(port=5050)\n")
    make(tmp_path, {"web/requirements.txt": "flask\n", "web/app.py": code})
    found = service(detect(tmp_path), "web").found
    assert found.command == "flask --app app:app run --port 5050"
    assert found.probe.target == "http://localhost:5050/health"


def test_django_where_simple(tmp_path: Path) -> None:
    make(tmp_path, {"site/requirements.txt": "Django>=5\n", "site/manage.py": "import django\n"})
    found = service(detect(tmp_path), "site").found
    assert (found.command, found.probe.kind, found.port) == ("python manage.py runserver 8000", "tcp", 8000)
