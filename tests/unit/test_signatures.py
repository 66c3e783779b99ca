"""devstack.signatures: one-line failure reasons from a service's own output.

Every signature is tested on output captured from the real tool (tests/unit/captured/;
the command that produced each file is in CASES). Temporary paths in the captures were
replaced by `$STACK`, which `load` turns into the test's stack folder. Spring Boot could
not be run here: its two files are transcribed from Spring Boot's own code and say so
in their first line, which `load` drops.

The stack folder of the tests mirrors the folders the captures were made in:
apps/ai-api (FastAPI, with a venv), nodeapp and web (npm projects), pg (Postgres),
java (plain Java and Spring Boot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from devstack.doctor.signatures.base import MAX_CHARS, Context
from devstack.doctor.signatures.diagnose import SIGNATURES, diagnose

CAPTURED = Path(__file__).parent / "captured"
TRANSCRIBED = "# transcribed"

# Who held each port in the real runs (what devstack.ports.port_holder would have said).
HOLDERS = {
    8001: "pid 19137 (python -m http.server 8001 --bind 0.0.0.0)",
    3000: "pid 19402 (node -e require('http').createServer().listen(3000))",
    5173: "pid 20113 (node node_modules/.bin/vite --port 5173)",
    55432: "pid 19842 (postgres -D pg/data -p 55432 -k pg)",
    8080: "pid 4242 (java -jar build/libs/other.jar)",
}


def load(name: str, stack: Path) -> list[str]:
    text = (CAPTURED / name).read_text(encoding="utf-8")
    lines = text.replace("$STACK", str(stack)).splitlines()
    return lines[1:] if lines and lines[0].startswith(TRANSCRIBED) else lines


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """The folder of the captures' stack."""
    root = tmp_path / "stack"
    (root / "apps/ai-api/venv").mkdir(parents=True)
    (root / "apps/ai-api/venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "apps/ai-api/main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    (root / "apps/ai-api/auth.py").write_text("import os\n")
    for npm in ("nodeapp", "web"):
        (root / npm).mkdir()
        (root / npm / "package.json").write_text('{"private": true}\n')
    (root / "pg").mkdir()
    (root / "java").mkdir()
    return root


def holder_of(port: int) -> str | None:
    return HOLDERS.get(port)


def context(stack: Path, service: str) -> Context:
    """The services of the test stack, as the supervisor would describe them."""
    api_venv = stack / "apps/ai-api/venv"
    services = {
        # name, cwd, venv, port
        "ai-api": ("ai-api", stack / "apps/ai-api", api_venv, 8001),
        # uvicorn started from the stack folder instead of apps/ai-api.
        "ai-api@root": ("ai-api", stack, api_venv, 8001),
        "ai-api-no-venv": ("ai-api", stack / "apps/ai-api", None, 8001),
        "nodeapp": ("nodeapp", stack / "nodeapp", None, 3000),
        "web": ("web", stack / "web", None, 5173),
        "db": ("db", stack / "pg", None, 55432),
        "core-api": ("core-api", stack / "java", None, 8080),
    }
    name, cwd, venv, port = services[service]
    return Context(name=name, cwd=cwd, root=stack, venv=venv, port=port, port_holder=holder_of)


@dataclass(frozen=True)
class Case:
    capture: str
    how: str  # the command that produced the capture (from the folder of the service)
    service: str
    expected: str


CASES = [
    # Python
    Case(
        "python_no_module_jwt.txt",
        'venv/bin/python -c "import jwt"',
        "ai-api",
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)",
    ),
    Case(
        "python_no_module_jwt.txt",
        'python -c "import jwt" (no venv)',
        "ai-api-no-venv",
        "ModuleNotFoundError: No module named 'jwt' (no venv is active for this service: "
        "set `venv` in stack.toml or create venv/ in apps/ai-api, then pip install pyjwt in it)",
    ),
    Case(
        "uvicorn_no_module_jwt.txt",
        "venv/bin/uvicorn main:app --port 18731 (main.py imports auth.py, which imports jwt)",
        "ai-api",
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)",
    ),
    Case(
        "python_no_module_yaml.txt",
        'venv/bin/python -c "import yaml.constructor"',
        "ai-api",
        "ModuleNotFoundError: No module named 'yaml' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyyaml)",
    ),
    Case(
        "python_no_module_submodule.txt",
        'venv/bin/python -c "import uvicorn.nope"',
        "ai-api",
        "ModuleNotFoundError: No module named 'uvicorn.nope' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install uvicorn)",
    ),
    Case(
        "python_no_module_local.txt",
        'venv/bin/python -c "import auth" from the stack folder (auth.py is in apps/ai-api)',
        "ai-api@root",
        "ModuleNotFoundError: No module named 'auth' "
        '(auth is this stack\'s own code in apps/ai-api: set cwd = "apps/ai-api")',
    ),
    Case(
        "uvicorn_could_not_import_main.txt",
        "venv/bin/uvicorn main:app --port 18731 from the stack folder (main.py is in apps/ai-api)",
        "ai-api@root",
        'uvicorn could not import module "main" from the stack folder; '
        'main.py is in apps/ai-api: set cwd = "apps/ai-api"',
    ),
    # Ports
    Case(
        "uvicorn_port_in_use.txt",
        "venv/bin/uvicorn main:app --host 0.0.0.0 --port 8001, with python -m http.server 8001 running",
        "ai-api",
        "port 8001 is already in use by pid 19137 (python -m http.server 8001 --bind 0.0.0.0)",
    ),
    Case(
        "python_http_server_port_in_use.txt",
        "python -m http.server 8001 --bind 0.0.0.0, twice",
        "ai-api",
        "port 8001 is already in use by pid 19137 (python -m http.server 8001 --bind 0.0.0.0)",
    ),
    Case(
        "node_eaddrinuse.txt",
        "node -e \"require('http').createServer().listen(3000)\", twice",
        "nodeapp",
        "port 3000 is already in use by pid 19402 (node -e require('http').createServer().listen(3000))",
    ),
    Case(
        "spring_port_in_use.txt",
        "transcribed: Spring Boot 3.2 with port 8080 taken",
        "core-api",
        "port 8080 is already in use by pid 4242 (java -jar build/libs/other.jar)",
    ),
    # Vite 5.4
    Case(
        "vite_port_moved.txt",
        "node_modules/.bin/vite --port 5173, with another vite on 5173",
        "web",
        "vite moved to port 5174 because 5173 is held by pid 20113 "
        "(node node_modules/.bin/vite --port 5173); set strictPort or free the port",
    ),
    Case(
        "vite_port_moved_color.txt",
        "FORCE_COLOR=1 node_modules/.bin/vite --port 5173, with another vite on 5173",
        "web",
        "vite moved to port 5174 because 5173 is held by pid 20113 "
        "(node node_modules/.bin/vite --port 5173); set strictPort or free the port",
    ),
    Case(
        "vite_port_moved_twice.txt",
        "node_modules/.bin/vite --port 5173, with vites on 5173 and 5174",
        "web",
        "vite moved to port 5175 because 5173 is held by pid 20113 "
        "(node node_modules/.bin/vite --port 5173); set strictPort or free the port",
    ),
    Case(
        "vite_strict_port.txt",
        "node_modules/.bin/vite --port 5173 --strictPort, with another vite on 5173",
        "web",
        "port 5173 is already in use by pid 20113 (node node_modules/.bin/vite --port 5173)",
    ),
    # Postgres 15 (Debian)
    Case(
        "postgres_as_root.txt",
        "postgres -D pg/data, as root",
        "db",
        "postgres refuses to run as root: run it as the postgres user "
        '(e.g. command = "runuser -u postgres -- postgres -D …")',
    ),
    Case(
        "postgres_no_data_dir.txt",
        "runuser -u postgres -- postgres -D pg/data (no such folder)",
        "db",
        "postgres data directory pg/data does not exist: create it with initdb -D pg/data "
        "(as the postgres user)",
    ),
    Case(
        "postgres_data_dir_missing.txt",
        "runuser -u postgres -- postgres -D pg/conf (its postgresql.conf sets data_directory = pg/missing)",
        "db",
        "postgres data directory pg/missing does not exist: create it with initdb -D pg/missing "
        "(as the postgres user)",
    ),
    Case(
        "postgres_no_config.txt",
        "runuser -u postgres -- postgres -D pg/empty (an empty folder)",
        "db",
        "postgres found no postgresql.conf in pg/empty: it is not an initialized data directory; "
        "run initdb -D pg/empty (as the postgres user) or point -D at the right folder",
    ),
    Case(
        "postgres_incompatible_version.txt",
        "runuser -u postgres -- postgres -D pg/data2 (PG_VERSION changed to 14)",
        "db",
        "postgres: database files are incompatible with server (made by PostgreSQL 14, this is 15.18): "
        "run postgres 14 on them, or upgrade them with pg_upgrade",
    ),
    Case(
        "postgres_lock_file_exists.txt",
        "runuser -u postgres -- postgres -D pg/data -p 55433, with a postgres running on pg/data",
        "db",
        'postgres: lock file "postmaster.pid" already exists: another postgres (pid 19842) runs on this '
        "data directory; stop it, or if pid 19842 is not a postgres, delete pg/data/postmaster.pid",
    ),
    Case(
        "postgres_port_in_use.txt",
        "runuser -u postgres -- postgres -D pg/data2 -p 55432, with a postgres on port 55432",
        "db",
        "port 55432 is already in use by pid 19842 (postgres -D pg/data -p 55432 -k pg) "
        "(postgres could not create any TCP/IP sockets)",
    ),
    Case(
        "postgres_socket_dir_missing.txt",
        "runuser -u postgres -- postgres -D pg/data2 -p 55434 -k nosuchdir",
        "db",
        "postgres socket directory nosuchdir does not exist: create it (owned by the postgres user) "
        "or choose another with -k / unix_socket_directories",
    ),
    # Java 17 / Spring Boot
    Case(
        "java_class_not_found_exception.txt",
        'java -cp out Main (Main calls Class.forName("com.example.billing.Plugin"))',
        "core-api",
        'Exception in thread "main" java.lang.ClassNotFoundException: com.example.billing.Plugin '
        "(check the classpath / build the project first)",
    ),
    Case(
        "java_no_class_def_found.txt",
        "java -cp out App (Helper.class deleted after javac)",
        "core-api",
        'Exception in thread "main" java.lang.NoClassDefFoundError: Helper '
        "(check the classpath / build the project first)",
    ),
    Case(
        "java_could_not_find_main_class.txt",
        "java -cp build/classes com.example.Application (not built)",
        "core-api",
        "Error: Could not find or load main class com.example.Application "
        "(check the classpath / build the project first)",
    ),
    Case(
        "java_unable_to_access_jar.txt",
        "java -jar build/libs/app.jar (not built)",
        "core-api",
        "Error: Unable to access jarfile build/libs/app.jar "
        "(relative to java: build the project first or fix the path)",
    ),
    Case(
        "spring_datasource_url.txt",
        "transcribed: Spring Boot 3.2 with spring-boot-starter-data-jpa and no spring.datasource.url",
        "core-api",
        "Failed to configure a DataSource: 'url' attribute is not specified and no embedded datasource "
        "could be configured. Reason: Failed to determine a suitable driver class",
    ),
    # Node 20 and shells
    Case(
        "node_cannot_find_module.txt",
        "node -e \"require('nope')\"",
        "nodeapp",
        "Error: Cannot find module 'nope' (run npm ci in nodeapp)",
    ),
    Case(
        "node_esm_cannot_find_package.txt",
        "node --input-type=module -e \"import 'nope'\"",
        "nodeapp",
        "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'nope' (run npm ci in nodeapp)",
    ),
    Case(
        "node_cannot_find_script.txt",
        "node nope.js",
        "nodeapp",
        "Error: Cannot find module 'nodeapp/nope.js' (no such file: check the command and cwd = \"nodeapp\")",
    ),
    Case(
        "npm_vite_not_found.txt",
        "npm run dev (scripts.dev = vite, no node_modules)",
        "web",
        "sh: 1: vite: not found (run `devstack setup web` or npm ci in web)",
    ),
    Case(
        "sh_vite_not_found.txt",
        "sh -c vite",
        "web",
        "sh: 1: vite: not found (run `devstack setup web` or npm ci in web)",
    ),
    Case(
        "bash_vite_not_found.txt",
        "bash -c vite",
        "web",
        "bash: line 1: vite: command not found (run `devstack setup web` or npm ci in web)",
    ),
]

# Real output of runs that went fine (stopped with Ctrl+C / SIGTERM).
UNRELATED = ["uvicorn_normal_run.txt", "vite_normal_run.txt"]
# Captures used by the specific tests below rather than by CASES.
ELSEWHERE = ["uvicorn_no_module_app.txt"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.capture}:{case.service}")
def test_captured_output_is_explained(case: Case, stack: Path) -> None:
    reason = diagnose(load(case.capture, stack), context(stack, case.service))

    assert reason == case.expected
    assert "\n" not in reason and len(reason) <= MAX_CHARS


def test_every_capture_is_used() -> None:
    used = {case.capture for case in CASES} | set(UNRELATED) | set(ELSEWHERE)
    assert sorted(path.name for path in CAPTURED.glob("*.txt")) == sorted(used)


def test_transcribed_captures_say_so() -> None:
    for name in ("spring_port_in_use.txt", "spring_datasource_url.txt"):
        assert (CAPTURED / name).read_text(encoding="utf-8").startswith(TRANSCRIBED + ", not captured")


@pytest.mark.parametrize("capture", UNRELATED)
def test_output_of_a_healthy_run_gives_none(capture: str, stack: Path) -> None:
    assert diagnose(load(capture, stack), context(stack, "ai-api")) is None


def test_no_output_gives_none(stack: Path) -> None:
    assert diagnose([], context(stack, "ai-api")) is None
    assert diagnose(["", "   ", "\x1b[0m"], context(stack, "ai-api")) is None


def test_the_last_matching_line_wins(stack: Path) -> None:
    ctx = context(stack, "ai-api")
    clash = load("uvicorn_port_in_use.txt", stack)
    missing = load("python_no_module_jwt.txt", stack)

    assert diagnose(clash + missing, ctx) == (
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)"
    )
    assert diagnose(missing + clash + ["INFO:     Finished server process [1]"], ctx) == (
        "port 8001 is already in use by pid 19137 (python -m http.server 8001 --bind 0.0.0.0)"
    )


def test_the_reason_is_one_line_of_at_most_300_chars(stack: Path) -> None:
    ctx = context(stack, "ai-api")
    long_name = "x" * 400
    reason = diagnose([f"ModuleNotFoundError: No module named '{long_name}'"], ctx)

    assert reason is not None
    assert len(reason) == MAX_CHARS == 300
    assert reason.endswith("…") and "\n" not in reason


def test_a_multi_line_holder_is_folded_into_one_line(stack: Path) -> None:
    ctx = replace(context(stack, "ai-api"), port_holder=lambda port: f"pid 7\n(python\tserve.py {port})")

    assert diagnose(load("uvicorn_port_in_use.txt", stack), ctx) == (
        "port 8001 is already in use by pid 7 (python serve.py 8001)"
    )


def test_crlf_and_progress_redraws_are_cleaned(stack: Path) -> None:
    lines = ["Downloading 10%\rDownloading 90%\rModuleNotFoundError: No module named 'jwt'\r\n"]

    assert diagnose(lines, context(stack, "ai-api")) == (
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)"
    )


def test_port_without_a_number_and_no_port_setting(stack: Path) -> None:
    ctx = replace(context(stack, "ai-api"), port=None)

    assert diagnose(load("python_http_server_port_in_use.txt", stack), ctx) == (
        "address already in use (set `port` for ai-api in stack.toml so devstack can name the holder)"
    )


def test_port_held_by_nobody_now(stack: Path) -> None:
    ctx = replace(context(stack, "ai-api"), port_holder=lambda port: None)

    assert diagnose(load("uvicorn_port_in_use.txt", stack), ctx) == (
        "port 8001 is already in use by another process"
    )


def test_a_failing_explanation_falls_back_to_the_line(stack: Path) -> None:
    def broken(port: int) -> str | None:
        raise RuntimeError("psutil exploded")

    ctx = replace(context(stack, "ai-api"), port_holder=broken)

    assert diagnose(load("uvicorn_port_in_use.txt", stack), ctx) == (
        "ERROR: [Errno 98] error while attempting to bind on address ('0.0.0.0', 8001): "
        "address already in use"
    )


# --- Python: distribution names and where code lives ----------------------------------


@pytest.mark.parametrize(
    ("module", "distribution"),
    [
        ("jwt", "pyjwt"),
        ("yaml", "pyyaml"),
        ("cv2", "opencv-python"),
        ("PIL", "pillow"),
        ("PIL.Image", "pillow"),
        ("sklearn", "scikit-learn"),
        ("dotenv", "python-dotenv"),
        ("psycopg2", "psycopg2-binary"),
        ("bs4", "beautifulsoup4"),
        ("google.protobuf", "protobuf"),
        ("requests", "requests"),
        ("fastapi.security", "fastapi"),
    ],
)
def test_import_name_to_distribution(module: str, distribution: str, stack: Path) -> None:
    # The real line of python_no_module_jwt.txt, with another module name.
    lines = [line.replace("'jwt'", f"'{module}'") for line in load("python_no_module_jwt.txt", stack)]

    assert diagnose(lines, context(stack, "ai-api")) == (
        f"ModuleNotFoundError: No module named '{module}' "
        f"(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install {distribution})"
    )


def test_uvicorn_package_missing_here_is_found_nearby(stack: Path) -> None:
    # `uvicorn app.main:app` where there is no app/: uvicorn reports the package itself
    # as missing. It is a namespace package (no __init__.py), as in many FastAPI layouts.
    (stack / "apps/billing/app").mkdir(parents=True)
    (stack / "apps/billing/app/main.py").write_text("app = None\n")

    assert diagnose(load("uvicorn_no_module_app.txt", stack), context(stack, "ai-api@root")) == (
        "ModuleNotFoundError: No module named 'app' "
        '(app is this stack\'s own code in apps/billing: set cwd = "apps/billing")'
    )


def test_own_module_in_cwd_but_not_on_sys_path(stack: Path) -> None:
    assert diagnose(load("python_no_module_local.txt", stack), context(stack, "ai-api")) == (
        "ModuleNotFoundError: No module named 'auth' "
        '(auth is this stack\'s own code in apps/ai-api, which is not on sys.path: set PYTHONPATH = "." '
        "in the env of ai-api)"
    )


def test_a_frontend_folder_is_not_python_code(stack: Path) -> None:
    (stack / "web/src/jwt").mkdir(parents=True)
    (stack / "web/src/jwt/index.ts").write_text("export {}\n")

    assert diagnose(load("python_no_module_jwt.txt", stack), context(stack, "ai-api")) == (
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)"
    )


UvicornLayout = Callable[[Path], None]


def _nothing(root: Path) -> None:
    (root / "apps/ai-api/main.py").unlink()


def _deeper(root: Path) -> None:
    (root / "apps/ai-api/main.py").rename(root / "apps/ai-api/venv/main.py")
    (root / "apps/ai-api/src/api").mkdir(parents=True)
    (root / "apps/ai-api/src/api/main.py").write_text("app = None\n")


def _only_in_skipped_folders(root: Path) -> None:
    (root / "apps/ai-api/main.py").rename(root / "apps/ai-api/venv/main.py")
    for folder in ("web/node_modules/pkg", ".git/hooks", "apps/env3"):
        (root / folder).mkdir(parents=True)
        (root / folder / "main.py").write_text("")
    (root / "apps/env3/pyvenv.cfg").write_text("")  # a venv with an unusual name


def _too_deep(root: Path) -> None:
    (root / "apps/ai-api/main.py").unlink()
    (root / "a/b/c/d/e").mkdir(parents=True)  # 5 levels below the stack folder
    (root / "a/b/c/d/e/main.py").write_text("")


def _two_places(root: Path) -> None:
    (root / "apps/old-api").mkdir(parents=True)
    (root / "apps/old-api/main.py").write_text("")


@pytest.mark.parametrize(
    ("layout", "service", "expected"),
    [
        (
            _nothing,
            "ai-api",
            'uvicorn could not import module "main" from apps/ai-api; '
            "no main.py under apps/ai-api (nor near it in the stack folder)",
        ),
        (
            _nothing,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; no main.py under the stack folder',
        ),
        (
            _deeper,
            "ai-api",
            'uvicorn could not import module "main" from apps/ai-api; '
            'main.py is in apps/ai-api/src/api: set cwd = "apps/ai-api/src/api"',
        ),
        (
            _only_in_skipped_folders,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; no main.py under the stack folder',
        ),
        (
            _too_deep,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; no main.py under the stack folder',
        ),
        (
            _two_places,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; '
            'main.py is in apps/ai-api (and 1 other place): set cwd = "apps/ai-api"',
        ),
        (
            lambda root: None,
            "ai-api",
            'uvicorn could not import module "main" from apps/ai-api; '
            "main.py is there: check that the command does not cd elsewhere or set --app-dir",
        ),
    ],
    ids=["nowhere", "nowhere-from-root", "deeper", "only-in-venvs-etc", "too-deep", "two-places", "in-cwd"],
)
def test_uvicorn_could_not_import_main(
    layout: UvicornLayout, service: str, expected: str, stack: Path
) -> None:
    layout(stack)

    assert diagnose(load("uvicorn_could_not_import_main.txt", stack), context(stack, service)) == expected


# --- shells: the fix depends on the kind of project ------------------------------------


def test_command_not_found_in_a_python_service(stack: Path) -> None:
    line = "sh: 1: uvicorn: not found"  # dash's wording, as in sh_vite_not_found.txt

    assert diagnose([line], context(stack, "ai-api")) == (
        "sh: 1: uvicorn: not found (run `devstack setup ai-api`, "
        "or install it in the venv: apps/ai-api/venv/bin/pip install uvicorn)"
    )
    assert diagnose([line], context(stack, "core-api")) == (
        "sh: 1: uvicorn: not found (run `devstack setup core-api`, "
        "or install it: it is not on the service's PATH)"
    )


def test_table_is_well_formed() -> None:
    names = [signature.name for signature in SIGNATURES]
    assert len(names) == len(set(names))
    assert all(signature.pattern.pattern for signature in SIGNATURES)
