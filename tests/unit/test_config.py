"""stack.toml loading: every broken file gives the exact problems, every good one the exact spec."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from devstack.config.durations import parse_duration
from devstack.config.load import find_stack
from devstack.config.specs import Condition, HealthSpec, ProbeKind, Restart, ServiceSpec, StackSpec
from devstack.config.stackfile import load_stack
from devstack.errors import ConfigError, Problem, UsageError
from tests.support.files import write

SERVICE_KEYS = (
    "command, cwd, venv, env_file, env, required_env, port, depends_on, health, restart, max_restarts, "
    "backoff, backoff_max, restart_on_unhealthy, stop_signal, stop_timeout, setup, optional"
)


def problems_of(path: Path) -> str:
    with pytest.raises(ConfigError) as excinfo:
        load_stack(path)
    return str(excinfo.value)


# --- broken files: (id, stack.toml, the exact problems, one per line) ------------------------

BROKEN: list[tuple[str, str, list[str]]] = [
    (
        "toml_syntax_unterminated_string",
        """
        [stack]
        name = "broken"

        [services.api]
        command = "python -c 'print(1)'
        port = 8000
        """,
        ["stack.toml:5:32: invalid TOML: Illegal character '\\n'"],
    ),
    (
        "toml_syntax_at_end_of_document",
        """
        [services.api]
        command =""",
        ["stack.toml:2:10: invalid TOML: Invalid value"],
    ),
    (
        "toml_key_twice",
        """
        [services.api]
        command = "a"
        command = "b"
        """,
        ["stack.toml:3:14: invalid TOML: Cannot overwrite a value"],
    ),
    (
        "misspelt_key_says_it_once",
        """
        [services.api]
        comand = "python app.py"
        """,
        ["stack.toml: services.api.comand: unknown key; did you mean 'command'?"],
    ),
    (
        "unknown_key_lists_known_keys",
        """
        [services.api]
        command = "python app.py"
        colour = "red"
        """,
        [f"stack.toml: services.api.colour: unknown key; known keys: {SERVICE_KEYS}"],
    ),
    (
        "unknown_top_level_and_stack_keys",
        """
        [stack]
        nmae = "shop"

        [services.api]
        command = "python app.py"

        [service.web]
        command = "npm run dev"
        """,
        [
            "stack.toml: stack.nmae: unknown key; did you mean 'name'?",
            "stack.toml: service: unknown key; did you mean 'services'?",
        ],
    ),
    (
        "missing_command",
        """
        [services.api]
        port = 8000
        """,
        ["stack.toml: services.api.command: required: the command that starts the service"],
    ),
    (
        "blank_command",
        """
        [services.api]
        command = "   "
        """,
        [
            "stack.toml: services.api.command: "
            'expected a command string or a non-empty array of strings, got "   "'
        ],
    ),
    (
        "empty_command_array",
        """
        [services.api]
        command = []
        """,
        [
            "stack.toml: services.api.command: "
            "expected a command string or a non-empty array of strings, got []"
        ],
    ),
    (
        "command_array_of_numbers",
        """
        [services.api]
        command = ["python", 3]
        """,
        [
            "stack.toml: services.api.command: expected a command string or a non-empty array of strings, "
            'got ["python", 3]'
        ],
    ),
    (
        "unbalanced_quotes",
        """
        [services.api]
        command = "python -c 'print(1)"
        """,
        [
            "stack.toml: services.api.command: expected a shell command with balanced quotes "
            """(No closing quotation), got "python -c 'print(1)\""""
        ],
    ),
    (
        "port_not_a_number",
        """
        [services.api]
        command = "python app.py"
        port = "80a"
        """,
        ['stack.toml: services.api.port: expected an integer from 1 to 65535, got "80a"'],
    ),
    (
        "port_out_of_range_and_boolean",
        """
        [services.a]
        command = "a"
        port = 70000

        [services.b]
        command = "b"
        port = true
        """,
        [
            "stack.toml: services.a.port: expected an integer from 1 to 65535, got 70000",
            "stack.toml: services.b.port: expected an integer from 1 to 65535, got true",
        ],
    ),
    (
        "duplicate_port",
        """
        [services.a]
        command = "a"
        port = 8000

        [services.b]
        command = "b"
        port = 8000
        """,
        ["stack.toml: services.b.port: port 8000 is also declared by service 'a'"],
    ),
    (
        "unknown_dependency",
        """
        [services.db]
        command = "postgres"

        [services.api]
        command = "python app.py"
        depends_on = ["dbb", "cache"]
        """,
        [
            "stack.toml: services.api.depends_on: unknown service 'dbb'; did you mean 'db'?",
            "stack.toml: services.api.depends_on: unknown service 'cache'; known services: db, api",
        ],
    ),
    (
        "dependency_cycle",
        """
        [services.alpha-svc]
        command = "a"
        depends_on = ["beta-svc"]

        [services.beta-svc]
        command = "b"
        depends_on = ["alpha-svc"]
        """,
        ["stack.toml: services: dependency cycle: alpha-svc → beta-svc → alpha-svc"],
    ),
    (
        "self_dependency",
        """
        [services.api]
        command = "a"
        depends_on = { api = "started" }
        """,
        ["stack.toml: services: dependency cycle: api → api"],
    ),
    (
        "cycle_starts_at_its_first_service_in_file_order",
        """
        [services.web]
        command = "w"
        depends_on = ["db"]

        [services.api]
        command = "a"
        depends_on = ["db"]

        [services.db]
        command = "d"
        depends_on = ["api"]
        """,
        ["stack.toml: services: dependency cycle: api → db → api"],
    ),
    (
        "dependency_condition",
        """
        [services.db]
        command = "d"

        [services.api]
        command = "a"
        depends_on = { db = "ready" }
        """,
        ['stack.toml: services.api.depends_on.db: expected "healthy", "started" or "completed", got "ready"'],
    ),
    (
        "depends_on_a_string",
        """
        [services.db]
        command = "d"

        [services.api]
        command = "a"
        depends_on = "db"
        """,
        [
            "stack.toml: services.api.depends_on: expected an array of service names, "
            'or a table like { db = "healthy" }, got "db"'
        ],
    ),
    (
        "health_two_kinds",
        """
        [services.api]
        command = "a"
        health = { http = "http://localhost:8000/", tcp = "127.0.0.1:8000" }
        """,
        [
            "stack.toml: services.api.health: expected exactly one probe kind (http, tcp, cmd or log), "
            "got http and tcp"
        ],
    ),
    (
        "health_two_kinds_still_checks_both_targets_and_timing",
        """
        [services.api]
        command = "a"
        health = { tcp = "localhost", http = "http://localhost:8000/", retries = "3" }
        """,
        [
            "stack.toml: services.api.health: expected exactly one probe kind (http, tcp, cmd or log), "
            "got http and tcp",
            "stack.toml: services.api.health.tcp: "
            'expected "host:port" like "127.0.0.1:5432" or "[::1]:5432", got "localhost"',
            'stack.toml: services.api.health.retries: expected an integer of at least 1, got "3"',
        ],
    ),
    (
        "health_no_kind",
        """
        [services.api]
        command = "a"
        health = { interval = "1s" }
        """,
        [
            "stack.toml: services.api.health: "
            "expected exactly one probe kind (http, tcp, cmd or log), got none"
        ],
    ),
    (
        "health_not_a_table",
        """
        [services.api]
        command = "a"
        health = "http://localhost:8000/"
        """,
        [
            'stack.toml: services.api.health: expected a table like { http = "http://localhost:8000/" }, '
            'got "http://localhost:8000/"'
        ],
    ),
    (
        "tcp_target_without_port",
        """
        [services.db]
        command = "d"
        health = { tcp = "localhost" }
        """,
        [
            'stack.toml: services.db.health.tcp: expected "host:port" like "127.0.0.1:5432" or "[::1]:5432", '
            'got "localhost"'
        ],
    ),
    (
        "tcp_ipv6_without_brackets",
        """
        [services.db]
        command = "d"
        health = { tcp = "::1:5432" }
        """,
        [
            'stack.toml: services.db.health.tcp: expected "host:port" like "127.0.0.1:5432" or "[::1]:5432", '
            'got "::1:5432"'
        ],
    ),
    (
        "log_target_bad_regex",
        """
        [services.api]
        command = "a"
        health = { log = "Started (\\\\w+" }
        """,
        [
            "stack.toml: services.api.health.log: expected a Python regular expression "
            '(missing ), unterminated subpattern at position 8), got "Started (\\\\w+"'
        ],
    ),
    (
        "http_target_not_a_url",
        """
        [services.api]
        command = "a"
        health = { http = "localhost:8000/" }
        """,
        [
            'stack.toml: services.api.health.http: expected a URL starting with "http://" or "https://", '
            'got "localhost:8000/"'
        ],
    ),
    (
        "expect_keys_only_with_http",
        """
        [services.db]
        command = "d"
        health = { cmd = "pg_isready", expect_status = 200, expect_text = "ok" }
        """,
        [
            "stack.toml: services.db.health.expect_status: only allowed with an http probe, not cmd",
            "stack.toml: services.db.health.expect_text: only allowed with an http probe, not cmd",
        ],
    ),
    (
        "probe_timing",
        """
        [services.api]
        command = "a"

        [services.api.health]
        http = "http://localhost:8000/"
        expect_status = [200, 99]
        interval = "fast"
        timeout = 0
        retries = 0
        intervall = "1s"
        """,
        [
            "stack.toml: services.api.health.expect_status: expected an HTTP status from 100 to 599, "
            "or an array of them, got [200, 99]",
            "stack.toml: services.api.health.interval: "
            """expected a duration like "5s", "250ms" or "1h30m", got 'fast'""",
            "stack.toml: services.api.health.timeout: expected a duration greater than zero, got 0",
            "stack.toml: services.api.health.retries: expected an integer of at least 1, got 0",
            "stack.toml: services.api.health.intervall: unknown key; did you mean 'interval'?",
        ],
    ),
    (
        "restart_policy_and_limits",
        """
        [services.api]
        command = "a"
        restart = "never"
        max_restarts = -1
        backoff = "5s"
        backoff_max = "1s"
        stop_signal = "SIGFOO"
        stop_timeout = -1
        restart_on_unhealthy = "yes"
        """,
        [
            'stack.toml: services.api.restart: expected "on-failure", "always" or "no", got "never"',
            "stack.toml: services.api.max_restarts: expected an integer of at least 0, got -1",
            'stack.toml: services.api.backoff_max: expected a duration of at least backoff (5s), got "1s"',
            'stack.toml: services.api.stop_signal: expected a signal name like "SIGTERM" or "SIGINT", '
            'got "SIGFOO"',
            "stack.toml: services.api.stop_timeout: expected a duration that is not negative, got -1",
            'stack.toml: services.api.restart_on_unhealthy: expected true or false, got "yes"',
        ],
    ),
    (
        "env_and_paths",
        """
        [services.api]
        command = "a"
        venv = true
        env_file = [".env", 3]
        env = { PORT = 8000, NAMES = ["a", "b"] }
        required_env = "DATABASE_URL"
        optional = 1
        """,
        [
            "stack.toml: services.api.venv: expected a path, or false to turn venv detection off, got true",
            'stack.toml: services.api.env_file: expected a path or an array of paths, got [".env", 3]',
            'stack.toml: services.api.env.NAMES: expected a string, number or boolean, got ["a", "b"]',
            "stack.toml: services.api.required_env: "
            'expected an array of non-empty strings, got "DATABASE_URL"',
            "stack.toml: services.api.optional: expected true or false, got 1",
        ],
    ),
    (
        "no_services",
        """
        [stack]
        name = "empty"
        """,
        ["stack.toml: services: no services defined; add a [services.NAME] table with a command"],
    ),
    (
        "services_not_a_table",
        """
        services = ["api"]
        """,
        ['stack.toml: services: expected a table of services like [services.api], got ["api"]'],
    ),
    (
        "service_not_a_table",
        """
        [services]
        api = "python app.py"
        """,
        ['stack.toml: services.api: expected a table with at least a command, got "python app.py"'],
    ),
    (
        "service_name_not_a_file_name",
        """
        [services."../api"]
        command = "a"
        """,
        [
            'stack.toml: services: expected a service name of letters, digits, "_", "." and "-" '
            'that starts with a letter or digit, got "../api"'
        ],
    ),
    (
        "every_problem_at_once_in_file_order",
        """
        [services.db]
        command = "postgres"
        port = 5432
        depends_on = ["api"]

        [services.api]
        cmd = "python app.py"
        port = 5432
        depends_on = ["db", "cache"]
        """,
        [
            "stack.toml: services.api.cmd: unknown key; did you mean 'cwd'?",
            "stack.toml: services.api.port: port 5432 is also declared by service 'db'",
            "stack.toml: services.api.depends_on: unknown service 'cache'; known services: db, api",
            "stack.toml: services.api.command: required: the command that starts the service",
            "stack.toml: services: dependency cycle: db → api → db",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_broken_stack_file(in_tmp: Path, text: str, expected: list[str]) -> None:
    assert problems_of(write(in_tmp / "stack.toml", text)) == "\n".join(expected)


def test_the_table_covers_at_least_twenty_broken_files() -> None:
    assert len(BROKEN) >= 20


def test_problems_carry_file_key_and_position(in_tmp: Path) -> None:
    path = write(in_tmp / "stack.toml", '[services.api]\ncommand = "a\n')
    with pytest.raises(ConfigError) as excinfo:
        load_stack(path)
    assert excinfo.value.problems == [
        Problem("stack.toml", "", "invalid TOML: Illegal character '\\n'", 2, 13)
    ]
    assert excinfo.value.exit_code == 2


def test_a_file_outside_the_working_folder_is_named_in_full(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.toml", "[services.api]\nport = 1\n")
    assert problems_of(path) == f"{path}: services.api.command: required: the command that starts the service"


def test_unreadable_and_non_utf8_files(in_tmp: Path) -> None:
    (in_tmp / "stack.toml").write_bytes(b'[services.api]\ncommand = "caf\xe9"\n')
    assert problems_of(in_tmp / "stack.toml") == (
        "stack.toml: not UTF-8 text (invalid continuation byte at byte 29)"
    )
    assert problems_of(in_tmp / "missing.toml") == "missing.toml: cannot read: No such file or directory"


# --- good files -------------------------------------------------------------------------------

SPEC_EXAMPLE = """
[stack]
name = "lifebit"
env_file = ".env"

[services.postgres]
command = "postgres -D .devstack/pgdata -p 5432"
port = 5432
health = { tcp = "127.0.0.1:5432" }

[services.core-api]
cwd = "apps/core-api-spring"
command = "./mvnw spring-boot:run"
depends_on = ["postgres"]
port = 8080
health = { http = "http://localhost:8080/api/health/db", expect_json = { status = "OK" }, start_period = "180s" }

[services.ai-api]
cwd = "apps/ai-api-fastapi"
venv = "venv"
env_file = ".env"
command = "uvicorn main:app --host 0.0.0.0 --port 8001"
depends_on = ["postgres"]
port = 8001
optional = true
health = { http = "http://localhost:8001/", expect_json = { status = "OK" } }

[services.frontend]
cwd = "apps/frontend"
command = "npm run dev"
setup = "npm ci"
depends_on = { core-api = "healthy", ai-api = "started" }
port = 5173
health = { http = "http://localhost:5173/" }
"""  # noqa: E501 - the reference stack, long lines and all


def test_the_spec_example(tmp_path: Path) -> None:
    stack = load_stack(write(tmp_path / "stack.toml", SPEC_EXAMPLE))
    root = tmp_path.resolve()
    assert (stack.name, stack.root, stack.source, stack.env_file) == (
        "lifebit",
        root,
        root / "stack.toml",
        root / ".env",
    )
    assert not stack.from_procfile
    assert list(stack.services) == ["postgres", "core-api", "ai-api", "frontend"]
    pg, core, ai, web = stack.services.values()
    assert pg.cwd == root
    assert pg.health == HealthSpec(kind=ProbeKind.TCP, target="127.0.0.1:5432")
    assert core.cwd == root / "apps" / "core-api-spring"
    assert dict(core.depends_on) == {"postgres": Condition.HEALTHY}
    assert core.health is not None
    assert (core.health.kind, core.health.target, core.health.start_period) == (
        ProbeKind.HTTP,
        "http://localhost:8080/api/health/db",
        180.0,
    )
    assert dict(core.health.expect_json or {}) == {"status": "OK"}
    assert ai.venv == root / "apps" / "ai-api-fastapi" / "venv"
    assert ai.env_files == (root / "apps" / "ai-api-fastapi" / ".env",)
    assert ai.optional and ai.port == 8001
    assert dict(web.depends_on) == {"core-api": Condition.HEALTHY, "ai-api": Condition.STARTED}
    assert web.setup == "npm ci"
    assert stack.start_order() == ["postgres", "core-api", "ai-api", "frontend"]


def test_a_minimal_service_gets_every_default(tmp_path: Path) -> None:
    stack = load_stack(write(tmp_path / "stack.toml", '[services.api]\ncommand = "python app.py"\n'))
    root = tmp_path.resolve()
    assert stack.name == tmp_path.name
    assert stack.env_file is None
    assert stack.services["api"] == ServiceSpec(name="api", command="python app.py", cwd=root)


def test_every_key_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(
        tmp_path / "stack.toml",
        """
        [services.db]
        command = "postgres"

        [services.api]
        command = ["python", "-m", "api"]
        cwd = "apps/api/../api"
        venv = "~/venvs/api"
        env_file = [".env", "../common.env"]
        env = { NAME = "api", WORKERS = 4, RATIO = 0.5, DEBUG = true, QUIET = false }
        required_env = ["DATABASE_URL"]
        port = 8001
        depends_on = { db = "completed" }
        health = { http = "https://localhost:8001/", expect_status = 204, expect_text = "ok", interval = "250ms", timeout = 1, retries = 5, start_period = "2m" }
        restart = "always"
        max_restarts = 0
        backoff = "1s"
        backoff_max = "1m"
        restart_on_unhealthy = true
        stop_signal = "int"
        stop_timeout = "30s"
        setup = ["pip", "install", "-r", "requirements.txt"]
        optional = true
        """,  # noqa: E501 - an inline table is one line in TOML
    )
    api = load_stack(path).services["api"]
    cwd = tmp_path.resolve() / "apps" / "api"
    assert api == ServiceSpec(
        name="api",
        command=("python", "-m", "api"),
        cwd=cwd,
        venv=tmp_path / "home" / "venvs" / "api",
        env_files=(cwd / ".env", tmp_path.resolve() / "apps" / "common.env"),
        env={"NAME": "api", "WORKERS": "4", "RATIO": "0.5", "DEBUG": "true", "QUIET": "false"},
        required_env=("DATABASE_URL",),
        port=8001,
        depends_on={"db": Condition.COMPLETED},
        health=HealthSpec(
            kind=ProbeKind.HTTP,
            target="https://localhost:8001/",
            expect_status=(204,),
            expect_text="ok",
            interval=0.25,
            timeout=1.0,
            retries=5,
            start_period=120.0,
        ),
        restart=Restart.ALWAYS,
        max_restarts=0,
        backoff=1.0,
        backoff_max=60.0,
        restart_on_unhealthy=True,
        stop_signal=signal.SIGINT,
        stop_timeout=30.0,
        setup=("pip", "install", "-r", "requirements.txt"),
        optional=True,
    )


@pytest.mark.parametrize("spelling", ["SIGINT", "INT", "sigint", "int"])
def test_stop_signal_spellings(tmp_path: Path, spelling: str) -> None:
    path = write(tmp_path / "stack.toml",
                 f'[services.db]\ncommand = "postgres"\nstop_signal = "{spelling}"\n')
    assert load_stack(path).services["db"].stop_signal is signal.SIGINT


@pytest.mark.parametrize(
    ("probe", "kind", "target"),
    [
        ('tcp = "[::1]:5432"', ProbeKind.TCP, "[::1]:5432"),
        ('tcp = "db.local:5432"', ProbeKind.TCP, "db.local:5432"),
        ('cmd = "pg_isready -h 127.0.0.1"', ProbeKind.CMD, "pg_isready -h 127.0.0.1"),
        ('log = "Started \\\\w+ in [0-9.]+ seconds"', ProbeKind.LOG, "Started \\w+ in [0-9.]+ seconds"),
    ],
)
def test_probe_kinds(tmp_path: Path, probe: str, kind: ProbeKind, target: str) -> None:
    path = write(tmp_path / "stack.toml", f'[services.db]\ncommand = "postgres"\nhealth = {{ {probe} }}\n')
    assert load_stack(path).services["db"].health == HealthSpec(kind=kind, target=target)


def test_venv_false_turns_detection_off_and_an_empty_env_file_list_loads_none(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\nvenv = false\nenv_file = []\n')
    api = load_stack(path).services["api"]
    assert (api.venv, api.venv_disabled, api.env_files) == (None, True, ())


def test_list_form_depends_on_means_healthy_and_start_order_follows_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "stack.toml",
        """
        [services.web]
        command = "w"
        depends_on = ["api"]

        [services.api]
        command = "a"
        depends_on = ["db", "cache"]

        [services.cache]
        command = "c"

        [services.db]
        command = "d"
        """,
    )
    stack = load_stack(path)
    assert dict(stack.services["api"].depends_on) == {"db": Condition.HEALTHY, "cache": Condition.HEALTHY}
    assert stack.start_order() == ["db", "cache", "api", "web"]
    assert stack.with_dependencies(["api"]) == ["db", "cache", "api"]


def test_a_relative_path_gives_absolute_paths(in_tmp: Path) -> None:
    write(in_tmp / "stack.toml",
          '[stack]\nenv_file = "conf/stack.env"\n[services.api]\ncommand = "a"\ncwd = "api"\n')
    stack = load_stack(Path("stack.toml"))
    assert stack.root == in_tmp.resolve()
    assert stack.source == in_tmp.resolve() / "stack.toml"
    assert stack.env_file == in_tmp.resolve() / "conf" / "stack.env"
    assert stack.services["api"].cwd == in_tmp.resolve() / "api"


def test_specs_are_read_only(tmp_path: Path) -> None:
    stack = load_stack(write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\nenv = { A = "1" }\n'))
    with pytest.raises(TypeError):
        stack.services["other"] = stack.services["api"]  # type: ignore[index]
    with pytest.raises(TypeError):
        stack.services["api"].env["A"] = "2"  # type: ignore[index]


# --- finding the stack ------------------------------------------------------------------------


def _nothing_above(folder: Path) -> bool:
    return not any((p / "stack.toml").exists() or (p / "Procfile").exists() for p in folder.parents)


def test_found_from_a_nested_folder(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\n')
    nested = tmp_path / "apps" / "api" / "src"
    nested.mkdir(parents=True)
    stack = find_stack(nested)
    assert stack.root == tmp_path.resolve()
    assert list(stack.services) == ["api"]


def test_stack_toml_wins_over_a_procfile_in_the_same_folder(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\n')
    write(tmp_path / "Procfile", "web: python -m http.server\n")
    assert not find_stack(tmp_path).from_procfile


def test_the_nearest_folder_wins_even_with_a_procfile(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\n')
    write(tmp_path / "sub" / "Procfile", "web: python -m http.server\n")
    stack = find_stack(tmp_path / "sub")
    assert stack.from_procfile and stack.root == (tmp_path / "sub").resolve()


def test_file_option_names_a_stack_file(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\n')
    write(tmp_path / "other" / "dev.toml", '[services.db]\ncommand = "d"\n')
    stack = find_stack(tmp_path, file=Path("other/dev.toml"))
    assert list(stack.services) == ["db"]
    assert stack.source == (tmp_path / "other" / "dev.toml").resolve()


def test_file_option_with_a_procfile_name_reads_a_procfile(tmp_path: Path) -> None:
    write(tmp_path / "Procfile.dev", "web: python -m http.server\n")
    stack = find_stack(tmp_path, file=Path("Procfile.dev"))
    assert stack.from_procfile and list(stack.services) == ["web"]


def test_file_option_naming_a_missing_file(in_tmp: Path) -> None:
    write(in_tmp / "sub" / "Procfile", "web: a\n")
    with pytest.raises(ConfigError) as excinfo:
        find_stack(in_tmp / "sub", file=Path("stack.toml"))
    assert str(excinfo.value) == "sub/stack.toml: no such file; check the -f/--file (or DEVSTACK_FILE) path"


def test_file_option_naming_a_folder_means_its_stack_file(in_tmp: Path) -> None:
    write(in_tmp / "a" / "stack.toml", '[services.api]\ncommand = "a"\n')
    write(in_tmp / "b" / "Procfile", "web: a\n")
    (in_tmp / "c").mkdir()
    assert list(find_stack(in_tmp, file=Path("a")).services) == ["api"]
    assert find_stack(in_tmp / "a", file=Path("../b")).from_procfile  # no stack.toml: its Procfile
    with pytest.raises(ConfigError) as excinfo:
        find_stack(in_tmp, file=Path("c"))
    assert str(excinfo.value) == "c/stack.toml: no such file; check the -f/--file (or DEVSTACK_FILE) path"


@pytest.mark.parametrize(("text", "seconds"), [
    ("250ms", 0.25), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1d", 86400.0), ("1h30m", 5400.0),
    ("2m30s", 150.0), ("1m 30s", 90.0), ("1.5s", 1.5), ("1s500ms", 1.5), ("10", 10.0), (" 3 ", 3.0),
    (7, 7.0), (0.5, 0.5),
])
def test_durations_simple_and_compound(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["banana", "", "5x", "ms", "1m30", "1.h", "h1", "-5s", True, -1, None,
                                  "5 s s"])
def test_bad_durations_say_what_a_duration_looks_like(text: object) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration"):
        parse_duration(text)


def test_procfile_option_forces_procfile_mode(tmp_path: Path) -> None:
    write(tmp_path / "stack.toml", '[services.api]\ncommand = "a"\n')
    write(tmp_path / "Procfile", "web: python -m http.server\n")
    stack = find_stack(tmp_path, procfile=Path("Procfile"))
    assert stack.from_procfile and list(stack.services) == ["web"]


def test_procfile_option_naming_a_folder(in_tmp: Path) -> None:
    (in_tmp / "Procfile").mkdir()
    with pytest.raises(ConfigError) as excinfo:
        find_stack(in_tmp, procfile=Path("Procfile"))
    assert str(excinfo.value) == "Procfile: a folder, not a file; check the --procfile path"


def test_file_and_procfile_options_together(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not both"):
        find_stack(tmp_path, file=Path("stack.toml"), procfile=Path("Procfile"))


def test_nothing_found(tmp_path: Path) -> None:
    if not _nothing_above(tmp_path):
        pytest.skip("a parent of the temporary folder holds a stack.toml or Procfile")
    with pytest.raises(ConfigError) as excinfo:
        find_stack(tmp_path)
    assert str(excinfo.value) == (
        f"{tmp_path}: no stack.toml or Procfile here or in any parent folder; "
        "create one, or name it with -f/--file"
    )


def test_find_stack_returns_what_load_stack_returns(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.toml", SPEC_EXAMPLE)
    assert find_stack(tmp_path) == load_stack(path)
    assert isinstance(find_stack(tmp_path), StackSpec)
