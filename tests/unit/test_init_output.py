"""`devstack init`'s output: valid TOML that devstack's own loader and doctor accept, comments
with the evidence, the same file every time; and the command's exit codes and messages."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from devstack.cli.main import main
from devstack.config.stackfile import load_stack
from devstack.doctor.checks import check_stack
from devstack.init.toml_out import render, string
from tests.support.initrepo import FASTAPI_MAIN, detect, make, under, vite_app

FIXTURES = Path(__file__).resolve().parents[1] / "init_fixtures"
Capture = pytest.CaptureFixture[str]


def repo(tmp_path: Path) -> Path:
    make(tmp_path, {
        **under("apps/web", vite_app(port_line="port: 5173, proxy: { '/api': 'http://localhost:8001' }")),
        "apps/ai-api/requirements.txt": "fastapi\nuvicorn\n",
        "apps/ai-api/main.py": '"""uvicorn main:app --port 8001"""\n' + FASTAPI_MAIN,
        "apps/ai-api/.env.example": "DATABASE_URL=postgresql://ai:pw@localhost:5432/ai\n",
    })
    return tmp_path


def init(capsys: Capture, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(["init", *args])
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_the_output_loads_with_devstacks_loader_and_passes_doctors_config_checks(tmp_path: Path) -> None:
    result = detect(repo(tmp_path))
    (tmp_path / "stack.toml").write_text(render(result.services))
    stack = load_stack(tmp_path / "stack.toml")
    assert stack.start_order() == ["postgres", "ai-api", "web"]
    assert dict(stack.services["web"].depends_on) == {"ai-api": "healthy"}
    findings = check_stack(stack, {"PATH": "/usr/bin:/bin"}, port_owner=lambda port: [],
                           resolve=lambda: ["127.0.0.1"])
    # Before `devstack setup`: only what setup makes is missing (the venv, .env) and the tools.
    assert {f.check for f in findings if f.severity == "error"} <= {"venv", "env_file", "executable", "setup"}
    env_fix = [f.fix for f in findings if f.check == "env_file"]
    assert env_fix == ["cp apps/ai-api/.env.example apps/ai-api/.env"]


def test_each_service_has_a_comment_with_its_evidence(tmp_path: Path) -> None:
    text = render(detect(repo(tmp_path)).services)
    assert text.startswith("# Written by `devstack init`")
    block = text[text.index("# web: "):]
    assert block.splitlines()[:6] == [
        "# web: Vite 5 (apps/web/package.json), port 5173 from vite.config.js",
        "#   vite ^5.4.0 and a dev script (vite) in package.json",
        "#   npm (apps/web/package-lock.json), so setup is npm ci",
        "#   depends on ai-api: server.proxy '/api' in vite.config.js targets http://localhost:8001",
        "[services.web]",
        'cwd = "apps/web"',
    ]


def test_running_init_twice_gives_the_same_file(tmp_path: Path) -> None:
    first = render(detect(repo(tmp_path)).services)
    copy = tmp_path.parent / (tmp_path.name + "-copy")
    shutil.copytree(tmp_path, copy)
    assert render(detect(tmp_path).services) == first
    assert render(detect(copy).services) == first  # nothing depends on where the checkout is


@pytest.mark.parametrize("value", ["plain", 'a "quoted" \\ path', "two\nlines", "ends with '",
                                   "has ''' in it\n", "tab\tand \x7f del", "multi\nline 'quotes' \\n kept\n"])
def test_strings_read_back_exactly(value: str) -> None:
    assert tomllib.loads(f"v = {string(value)}")["v"] == value


def test_print_by_default_and_one_stderr_line_per_service(tmp_path: Path, capsys: Capture) -> None:
    code, out, err = init(capsys, str(repo(tmp_path)))
    assert code == 0
    assert out == render(detect(tmp_path).services)
    assert err.splitlines() == [
        "postgres: PostgreSQL (DATABASE_URL in apps/ai-api/.env.example), port 5432 from that URL",
        "ai-api: FastAPI (apps/ai-api/requirements.txt), port 8001 from the uvicorn command in main.py's "
        "docstring",
        "web: Vite 5 (apps/web/package.json), port 5173 from vite.config.js",
    ]
    assert not (tmp_path / "stack.toml").exists()


def test_write_never_replaces_a_stack_toml_without_force(tmp_path: Path, capsys: Capture) -> None:
    repo(tmp_path)
    assert init(capsys, str(tmp_path), "--write")[0] == 0
    written = (tmp_path / "stack.toml").read_text()
    (tmp_path / "stack.toml").write_text("# mine\n")
    code, out, err = init(capsys, str(tmp_path), "--write")
    assert (code, out, err) == (2, "", f"Error: {tmp_path}/stack.toml exists; add --force to replace it\n")
    assert (tmp_path / "stack.toml").read_text() == "# mine\n"
    assert init(capsys, str(tmp_path), "--write", "--force")[0] == 0
    assert (tmp_path / "stack.toml").read_text() == written


def test_a_bad_dir_is_one_line_and_exit_2(tmp_path: Path, capsys: Capture) -> None:
    assert init(capsys, str(tmp_path / "nope")) == (2, "", f"Error: {tmp_path}/nope: no such folder\n")
    (tmp_path / "file").write_text("x")
    assert init(capsys, str(tmp_path / "file")) == (2, "", f"Error: {tmp_path}/file: not a folder\n")


def test_nothing_found_says_what_was_looked_for(tmp_path: Path, capsys: Capture) -> None:
    make(tmp_path, {"README.md": "hello\n", "node_modules/x/package.json": "{}"})
    code, out, err = init(capsys, str(tmp_path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "skipped 1 dependency, build, cache or virtualenv folder: node_modules",
        f"found no service in {tmp_path}; looked for a package.json with vite and a dev script; a pom.xml or "
        "build.gradle(.kts) naming org.springframework.boot; requirements*.txt or pyproject.toml naming "
        "fastapi, flask or django with the app's module; a PostgreSQL URL (DATABASE_URL, jdbc:postgresql://, "
        "spring.datasource.url) or a compose file's postgres",
    ]


def test_a_question_writes_nothing_and_exits_1(tmp_path: Path, capsys: Capture) -> None:
    make(tmp_path, {"requirements.txt": "fastapi\n", "main.py": FASTAPI_MAIN, "other.py": FASTAPI_MAIN})
    code, out, err = init(capsys, str(tmp_path), "--write")
    assert (code, out) == (1, "")
    assert err.splitlines()[-5:] == [
        "the repository root: more than one FastAPI app:",
        "  main:app  (app = FastAPI(...) in main.py)",
        "  other:app  (app = FastAPI(...) in other.py)",
        "  pick one: devstack init --choose .=VALUE (one of the above)",
        "nothing written: init does not guess; pick as above and run it again",
    ]
    assert not (tmp_path / "stack.toml").exists()
    assert init(capsys, str(tmp_path), "--write", "--choose", "./=other:app")[0] == 0
    assert "uvicorn other:app --port 8000" in (tmp_path / "stack.toml").read_text()


def test_a_choose_that_matches_nothing_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    repo(tmp_path)
    assert init(capsys, str(tmp_path), "--choose", "apps/web")[2] == \
        "Error: --choose apps/web: expected FOLDER=VALUE, e.g. --choose apps/api=main:app\n"
    code, _, err = init(capsys, str(tmp_path), "--choose", "apps/nothing=1")
    assert code == 2
    assert err.splitlines()[-1] == "Error: --choose apps/nothing=1 matched no question init asked"


def test_the_fixture_repositories_give_their_services(tmp_path: Path) -> None:
    vite_fastapi = detect(FIXTURES / "vite-fastapi")
    assert [(s.name, s.depends_on) for s in vite_fastapi.services] == [("api", []), ("web", ["api"])]
    spring_pg = detect(FIXTURES / "spring-postgres")
    assert [(s.name, s.depends_on) for s in spring_pg.services] == [
        ("postgres", []), ("shop-api", ["postgres"])]
    assert spring_pg.services[1].found.command == "./mvnw spring-boot:run"
