"""devstack.env: the layered environment of a service, venv activation, executable lookup.

Real files in tmp_path throughout; the test with a real venv's interpreter is
tests/integration/test_env.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from devstack.config.specs import ServiceSpec
from devstack.env.executables import resolve_executable
from devstack.env.layers import EnvVar, Layer, ServiceEnv, build_env, masked
from devstack.env.secrets import MASK, looks_secret
from devstack.env.venv import find_venv, venv_bin_dir, venv_python
from tests.support.files import make_executable
from tests.support.specs import make_service, make_stack
from tests.support.venvs import fake_venv


def build(
    root: Path,
    service: ServiceSpec,
    os_env: Mapping[str, str] | None = None,
    stack_env_file: Path | None = None,
    *,
    color: bool = False,
    windows: bool = False,
) -> ServiceEnv:
    stack = make_stack(root, service, env_file=stack_env_file)
    return build_env(stack, service, os_env if os_env is not None else {}, color=color, windows=windows)


# --- layers ---------------------------------------------------------------------------

LAYER_ORDER = [Layer.OS, Layer.STACK_ENV_FILE, Layer.SERVICE_ENV_FILE, Layer.ENV]


@pytest.mark.parametrize(
    ("present", "winner"),
    [
        ((Layer.OS,), Layer.OS),
        ((Layer.STACK_ENV_FILE,), Layer.STACK_ENV_FILE),
        ((Layer.SERVICE_ENV_FILE,), Layer.SERVICE_ENV_FILE),
        ((Layer.ENV,), Layer.ENV),
        ((Layer.OS, Layer.STACK_ENV_FILE), Layer.STACK_ENV_FILE),
        ((Layer.OS, Layer.SERVICE_ENV_FILE), Layer.SERVICE_ENV_FILE),
        ((Layer.STACK_ENV_FILE, Layer.SERVICE_ENV_FILE), Layer.SERVICE_ENV_FILE),
        ((Layer.SERVICE_ENV_FILE, Layer.ENV), Layer.ENV),
        ((Layer.OS, Layer.ENV), Layer.ENV),
        (tuple(LAYER_ORDER), Layer.ENV),
    ],
)
def test_layer_precedence(tmp_path: Path, present: tuple[Layer, ...], winner: Layer) -> None:
    value_in = {layer: f"from-{layer.name.lower()}" for layer in LAYER_ORDER}
    os_env = {"X": value_in[Layer.OS]} if Layer.OS in present else {}
    stack_file = tmp_path / "stack.env"
    stack_file.write_text(f"X={value_in[Layer.STACK_ENV_FILE]}\n" if Layer.STACK_ENV_FILE in present else "")
    cwd = tmp_path / "svc"
    cwd.mkdir()
    svc_file = cwd / ".env"
    in_svc = Layer.SERVICE_ENV_FILE in present
    svc_file.write_text(f"X={value_in[Layer.SERVICE_ENV_FILE]}\n" if in_svc else "")
    env_table = {"X": value_in[Layer.ENV]} if Layer.ENV in present else {}
    service = make_service(cwd, env=env_table)

    result = build(tmp_path, service, os_env, stack_env_file=stack_file)

    var = result.variables["X"]
    assert (var.layer, var.value) == (winner, value_in[winner])
    expected_source = {Layer.STACK_ENV_FILE: str(stack_file), Layer.SERVICE_ENV_FILE: str(svc_file)}
    assert var.source == expected_source.get(winner, "")
    assert result.as_dict()["X"] == value_in[winner]


def test_several_service_env_files_later_wins(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    first, second = cwd / "base.env", cwd / "local.env"
    first.write_text("A=base\nB=base\n")
    second.write_text("B=local\n")
    service = make_service(cwd, env_files=(first, second))

    result = build(tmp_path, service)

    assert result.variables["A"] == EnvVar("A", "base", Layer.SERVICE_ENV_FILE, str(first))
    assert result.variables["B"] == EnvVar("B", "local", Layer.SERVICE_ENV_FILE, str(second))
    assert result.env_files == (first, second)


def test_default_env_file_is_cwd_dotenv(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("A=1\n")
    result = build(tmp_path, make_service(cwd))
    assert result.variables["A"].layer is Layer.SERVICE_ENV_FILE
    assert result.env_files == (cwd / ".env",)
    assert result.missing_env_files == ()


def test_a_file_is_read_once_at_its_lowest_layer(tmp_path: Path) -> None:
    # cwd = "." with stack env_file = ".env": the service's default .env is the stack's.
    (tmp_path / ".env").write_text("A=1\n")
    service = make_service(tmp_path)
    result = build(tmp_path, service, stack_env_file=tmp_path / ".env")
    assert result.variables["A"].layer is Layer.STACK_ENV_FILE
    assert result.env_files == (tmp_path / ".env",)


def test_bare_name_without_equals_sets_nothing(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("JUST_A_NAME\nEMPTY=\n")
    result = build(tmp_path, make_service(cwd), {"JUST_A_NAME": "os"})
    assert result.variables["JUST_A_NAME"].layer is Layer.OS
    assert result.variables["EMPTY"].value == ""
    assert result.warnings == ()


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_bytes(b"\xef\xbb\xbfFIRST=1\n")
    result = build(tmp_path, make_service(cwd))
    assert result.variables["FIRST"].value == "1"


# --- interpolation --------------------------------------------------------------------


def test_interpolation_sees_lower_layers_and_earlier_keys(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.env"
    stack_file.write_text("DB_PORT=5432\nDB_HOST=stack-host\n")
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text(
        "EARLY=${DB_HOST}\n"  # DB_HOST is redefined below: here the stack's value is seen
        "DB_HOST=svc-host\n"
        "DB_NAME=${USER_NAME}_db\n"
        "URL=postgres://${DB_HOST}:${DB_PORT}/${DB_NAME}\n"
        "FALLBACK=${NOT_SET:-default-value}\n"
        "SET_EMPTY=${EMPTY_IN_OS:-unused}\n"
        "UNKNOWN=[${NOT_SET}]\n"
    )
    service = make_service(cwd)

    result = build(tmp_path, service, {"USER_NAME": "alice", "EMPTY_IN_OS": ""}, stack_env_file=stack_file)

    values = result.as_dict()
    assert values["EARLY"] == "stack-host"
    assert values["DB_NAME"] == "alice_db"
    assert values["URL"] == "postgres://svc-host:5432/alice_db"
    assert values["FALLBACK"] == "default-value"
    assert values["SET_EMPTY"] == ""  # python-dotenv: the default is for unset names only
    assert values["UNKNOWN"] == "[]"


def test_later_env_file_interpolates_from_earlier_file(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / "a.env").write_text("HOST=db\n")
    (cwd / "b.env").write_text("URL=http://${HOST}/\n")
    service = make_service(cwd, env_files=(cwd / "a.env", cwd / "b.env"))
    assert build(tmp_path, service).as_dict()["URL"] == "http://db/"


def test_env_table_is_interpolated_from_everything_below(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.env"
    stack_file.write_text("STACK_VAR=s\n")
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("SVC_VAR=v\n")
    service = make_service(
        cwd,
        env={"COMBINED": "${OS_VAR}-${STACK_VAR}-${SVC_VAR}", "LATER": "${COMBINED}+", "P": "${PORT}"},
        port=8001,
    )

    result = build(tmp_path, service, {"OS_VAR": "o"}, stack_env_file=stack_file)

    assert result.as_dict()["COMBINED"] == "o-s-v"
    assert result.as_dict()["LATER"] == "o-s-v+"  # earlier keys of the table, in order
    # The devstack layer sits above the table: its PORT is not visible to interpolation.
    assert result.as_dict()["P"] == ""


def test_interpolation_reads_os_env_argument_not_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSTACK_TEST_ONLY_IN_PROCESS", "leaked")
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("A=${DEVSTACK_TEST_ONLY_IN_PROCESS}\n")
    service = make_service(cwd, env={"B": "${DEVSTACK_TEST_ONLY_IN_PROCESS}"})
    result = build(tmp_path, service, {})
    assert result.as_dict()["A"] == ""
    assert result.as_dict()["B"] == ""
    assert "DEVSTACK_TEST_ONLY_IN_PROCESS" not in result.variables


# --- devstack's layer -----------------------------------------------------------------


def test_port_exported_and_overrides_os(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc", port=8001)
    result = build(tmp_path, service, {"PORT": "9999"})
    assert result.variables["PORT"] == EnvVar("PORT", "8001", Layer.DEVSTACK, "")


@pytest.mark.parametrize("where", ["env_file", "env"])
def test_port_set_by_user_wins(tmp_path: Path, where: str) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    if where == "env_file":
        (cwd / ".env").write_text("PORT=7000\n")
        service = make_service(cwd, port=8001)
    else:
        service = make_service(cwd, port=8001, env={"PORT": "7000"})
    var = build(tmp_path, service, {"PORT": "9999"}).variables["PORT"]
    assert var.value == "7000"
    assert var.layer is (Layer.SERVICE_ENV_FILE if where == "env_file" else Layer.ENV)


def test_no_port_leaves_port_alone(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc")
    assert "PORT" not in build(tmp_path, service).variables
    assert build(tmp_path, service, {"PORT": "9999"}).variables["PORT"].layer is Layer.OS


def test_pythonunbuffered_default_overrides_os(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc")
    var = build(tmp_path, service, {"PYTHONUNBUFFERED": ""}).variables["PYTHONUNBUFFERED"]
    assert (var.value, var.layer) == ("1", Layer.DEVSTACK)


def test_pythonunbuffered_and_force_color_set_by_user_are_kept(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("PYTHONUNBUFFERED=0\n")
    service = make_service(cwd, env={"FORCE_COLOR": "0"})
    result = build(tmp_path, service, color=True)
    assert result.variables["PYTHONUNBUFFERED"].value == "0"
    assert result.variables["FORCE_COLOR"].value == "0"
    assert result.variables["FORCE_COLOR"].layer is Layer.ENV


def test_force_color_only_with_color(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc")
    assert "FORCE_COLOR" not in build(tmp_path, service, color=False).variables
    var = build(tmp_path, service, {"FORCE_COLOR": "0"}, color=True).variables["FORCE_COLOR"]
    assert (var.value, var.layer) == ("1", Layer.DEVSTACK)
    # Without colour an OS-level FORCE_COLOR is the user's business and passes through.
    assert build(tmp_path, service, {"FORCE_COLOR": "3"}).variables["FORCE_COLOR"].layer is Layer.OS


def test_extra_is_set_last(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc", env={"DEVSTACK_SERVICE": "user"})
    stack = make_stack(tmp_path, service)
    result = build_env(stack, service, {}, extra={"DEVSTACK_SERVICE": "api", "DEVSTACK_RUN": "r1"})
    assert result.variables["DEVSTACK_SERVICE"] == EnvVar("DEVSTACK_SERVICE", "api", Layer.DEVSTACK, "")
    assert result.variables["DEVSTACK_RUN"].value == "r1"


# --- venv -----------------------------------------------------------------------------


def test_auto_detected_venv_is_activated(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    venv = fake_venv(cwd / ".venv")
    service = make_service(cwd)

    result = build(tmp_path, service, {"PATH": "/usr/bin:/bin", "PYTHONHOME": "/opt/py", "VIRTUAL_ENV": "/x"},
                   windows=False)

    assert (result.venv, result.venv_auto) == (venv, True)
    assert result.variables["PATH"] == EnvVar("PATH", f"{venv}/bin:/usr/bin:/bin", Layer.DEVSTACK, "")
    assert result.variables["VIRTUAL_ENV"] == EnvVar("VIRTUAL_ENV", str(venv), Layer.DEVSTACK, "")
    assert "PYTHONHOME" not in result.variables
    assert "PYTHONHOME" not in result.as_dict()


def test_pythonhome_dropped_even_when_set_by_env_table(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    fake_venv(cwd / "venv")
    service = make_service(cwd, env={"PYTHONHOME": "/opt/py"})
    assert "PYTHONHOME" not in build(tmp_path, service).variables


def test_pythonhome_kept_without_venv(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc")
    result = build(tmp_path, service, {"PYTHONHOME": "/opt/py", "PATH": "/bin"})
    assert result.venv is None
    assert result.as_dict()["PYTHONHOME"] == "/opt/py"
    assert result.variables["PATH"].layer is Layer.OS


def test_venv_path_prepended_to_path_from_env_file(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    venv = fake_venv(cwd / "venv")
    (cwd / ".env").write_text("PATH=/custom/bin\n")
    result = build(tmp_path, make_service(cwd), {"PATH": "/usr/bin"}, windows=False)
    assert result.as_dict()["PATH"] == f"{venv}/bin:/custom/bin"
    # Built from a .env value, so it is masked like one.
    assert result.variables["PATH"].secret


def test_venv_without_path_below(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    venv = fake_venv(cwd / "venv")
    assert build(tmp_path, make_service(cwd), {}, windows=False).as_dict()["PATH"] == f"{venv}/bin"


def test_find_venv_prefers_venv_over_dot_venv(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    fake_venv(cwd / ".venv")
    venv = fake_venv(cwd / "venv")
    assert find_venv(make_service(cwd)) == (venv, True)


def test_find_venv_needs_pyvenv_cfg(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    (cwd / "venv" / "bin").mkdir(parents=True)
    assert find_venv(make_service(cwd)) == (None, False)


def test_declared_venv_is_used_even_when_missing(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    fake_venv(cwd / ".venv")  # not used: the declared one wins
    declared = cwd / "env-py311"
    service = make_service(cwd, venv=declared)
    assert find_venv(service) == (declared, False)
    result = build(tmp_path, service, {"PATH": "/bin"}, windows=False)
    assert (result.venv, result.venv_auto) == (declared, False)
    assert result.as_dict()["PATH"] == f"{declared}/bin:/bin"
    assert result.as_dict()["VIRTUAL_ENV"] == str(declared)


def test_venv_disabled(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    fake_venv(cwd / "venv")
    service = make_service(cwd, venv_disabled=True)
    assert find_venv(service) == (None, False)
    result = build(tmp_path, service, {"PATH": "/bin", "PYTHONHOME": "/opt/py"})
    assert result.venv is None
    assert result.as_dict()["PATH"] == "/bin"
    assert "VIRTUAL_ENV" not in result.variables
    assert result.as_dict()["PYTHONHOME"] == "/opt/py"


# --- missing files and warnings -------------------------------------------------------


def test_missing_declared_env_files_are_reported(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    present, absent = cwd / "present.env", cwd / "absent.env"
    present.write_text("A=1\n")
    service = make_service(cwd, env_files=(present, absent))
    result = build(tmp_path, service, stack_env_file=tmp_path / ".env")
    assert result.missing_env_files == (tmp_path / ".env", absent)
    assert result.env_files == (present,)
    assert result.variables["A"].value == "1"


def test_missing_default_env_reported_only_when_example_exists(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    service = make_service(cwd)
    assert build(tmp_path, service).missing_env_files == ()
    (cwd / ".env.example").write_text("API_KEY=\n")
    assert build(tmp_path, service).missing_env_files == (cwd / ".env",)


def test_malformed_line_warns_with_line_number_and_no_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    cwd = tmp_path / "apps" / "api"
    cwd.mkdir(parents=True)
    (cwd / ".env").write_text(
        "A=1\n"
        "\n"
        "# a comment\n"
        "this line is broken hunter2-secret\n"
        'QUOTED="unterminated hunter3-secret\n'
        "B=2\n"
    )
    caplog.set_level(logging.DEBUG)

    result = build(tmp_path, make_service(cwd))

    assert result.warnings == (
        "apps/api/.env:4: could not parse this line",
        "apps/api/.env:5: could not parse this line",
    )
    assert result.as_dict()["A"] == "1"
    assert result.as_dict()["B"] == "2"  # parsing goes on after a bad line
    assert "QUOTED" not in result.variables
    # python-dotenv's own warning must not reach logging or the terminal.
    assert caplog.records == []
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert not any("hunter" in w for w in result.warnings)


def test_malformed_line_after_blank_lines_gets_its_own_line_number(tmp_path: Path) -> None:
    # python-dotenv itself would say line 2 here: it counts from where the blank lines start.
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("A=1\n\n\n   bad line x\r\nB=2\n")
    result = build(tmp_path, make_service(cwd))
    assert result.warnings == ("svc/.env:4: could not parse this line",)
    assert result.as_dict()["B"] == "2"


def test_non_utf8_bytes_are_replaced_with_a_warning(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_bytes(b"A=1\nB=caf\xe9\n")
    result = build(tmp_path, make_service(cwd))
    assert result.warnings == ("svc/.env:2: bytes that are not UTF-8 were replaced",)
    assert result.as_dict()["B"] == "caf\ufffd"


def test_unreadable_env_file_is_a_warning(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    (cwd / ".env").mkdir(parents=True)  # a folder where the file should be
    result = build(tmp_path, make_service(cwd))
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("svc/.env: could not read")


def test_value_with_nul_is_ignored_with_a_warning(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc", env={"BAD": "a\0b"})
    result = build(tmp_path, service)
    assert "BAD" not in result.variables
    assert result.warnings == ("env of api: the value of BAD contains a NUL character; ignored",)


def test_required_names_missing(tmp_path: Path) -> None:
    service = make_service(tmp_path / "svc", env={"SET_EMPTY": ""})
    result = build(tmp_path, service, {"HOME": "/root"})
    assert result.missing(["HOME", "SET_EMPTY", "OPENAI_API_KEY"]) == ("OPENAI_API_KEY",)


# --- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY", "API_KEY", "KEY", "api_key", "apiKey", "DB_PASSWORD", "PGPASSWORD",
        "MYSQL_PWD", "DB_PASS", "SMTP_PASSWD", "JWT_SECRET", "AWS_SECRET_ACCESS_KEY", "SECRET_KEY_BASE",
        "DJANGO_SECRETKEY", "GITHUB_TOKEN", "HF_TOKEN", "AUTHTOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
        "API_KEYS", "APIKEY", "SSH_PASSPHRASE", "API_KEY_2", "client-secret", "db.password",
    ],
)
def test_secret_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "KEYBOARD_LAYOUT", "MONKEY_PATCH", "BYPASS_CACHE", "PASSPORT_ID", "TOKENIZERS_PARALLELISM",
        "PWD", "OLDPWD", "HOME", "PATH", "DATABASE_URL", "KEYCLOAK_URL", "SSH_AUTH_SOCK", "PORT",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not looks_secret(name)


def test_secret_property() -> None:
    assert not EnvVar("HOME", "/root", Layer.OS, "").secret
    assert EnvVar("DEBUG", "1", Layer.SERVICE_ENV_FILE, "/x/.env").secret  # any .env value
    assert EnvVar("DEBUG", "1", Layer.STACK_ENV_FILE, "/x/.env").secret
    assert EnvVar("OPENAI_API_KEY", "sk-1", Layer.OS, "").secret  # the name
    assert EnvVar("DATABASE_URL", "postgres://app:pw@db:5432/app", Layer.ENV, "").secret  # the URL
    assert not EnvVar("DATABASE_URL", "postgres://db:5432/app", Layer.ENV, "").secret
    assert not EnvVar("API_URL", "http://localhost:8001/", Layer.ENV, "").secret
    assert EnvVar("URL", "x", Layer.ENV, "", from_secret=True).secret


def test_values_built_from_secrets_are_secret(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("DB_USER=app\n")
    service = make_service(
        cwd, env={"DSN": "db?user=${DB_USER}", "HOME_COPY": "${HOME}", "KEY_COPY": "x${OPENAI_API_KEY}"}
    )
    result = build(tmp_path, service, {"HOME": "/root", "OPENAI_API_KEY": "sk-1"})
    assert result.variables["DSN"].secret
    assert result.variables["KEY_COPY"].secret
    assert not result.variables["HOME_COPY"].secret


def test_masked() -> None:
    secret = EnvVar("API_KEY", "sk-123", Layer.OS, "")
    plain = EnvVar("HOME", "/root", Layer.OS, "")
    from_file = EnvVar("DEBUG", "true", Layer.SERVICE_ENV_FILE, "/x/.env")
    assert masked(secret, show_values=False) == MASK == "****"
    assert masked(secret, show_values=True) == "sk-123"
    assert masked(from_file, show_values=False) == "****"
    assert masked(plain, show_values=False) == "/root"
    # Emptiness is shown: "set but empty" is what the user needs to see.
    assert masked(EnvVar("API_KEY", "", Layer.SERVICE_ENV_FILE, "/x/.env"), show_values=False) == ""


def test_secret_values_are_every_env_file_value(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.env"
    stack_file.write_text("API_KEY=stack-secret\nEMPTY=\n")
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("API_KEY=svc-secret\nDEBUG=true\n")
    service = make_service(cwd, env={"TABLE": "from-table"})
    result = build(tmp_path, service, {"OS_TOKEN": "os-value"}, stack_env_file=stack_file)
    # The overridden stack value is kept too: it must not appear in output either.
    assert result.secret_values() == frozenset({"stack-secret", "svc-secret", "true"})


def test_values_stay_out_of_repr(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("API_KEY=sk-very-secret\n")
    result = build(tmp_path, make_service(cwd))
    assert "sk-very-secret" not in repr(result)
    assert "sk-very-secret" not in repr(result.variables["API_KEY"])


# --- purity ---------------------------------------------------------------------------


def test_os_environ_and_os_env_are_not_mutated(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    fake_venv(cwd / "venv")
    (cwd / ".env").write_text("FROM_FILE=1\nPATH=/file/bin\n")
    service = make_service(cwd, env={"FROM_TABLE": "1"}, port=8001)
    before = dict(os.environ)
    os_env = {"PATH": "/usr/bin", "PYTHONHOME": "/opt/py", "PORT": "1"}
    os_env_before = dict(os_env)

    build(tmp_path, service, os.environ, color=True)
    build(tmp_path, service, os_env, color=True)

    assert dict(os.environ) == before
    assert os_env == os_env_before


def test_variables_cannot_be_changed(tmp_path: Path) -> None:
    result = build(tmp_path, make_service(tmp_path / "svc"))
    with pytest.raises(TypeError):
        result.variables["X"] = EnvVar("X", "1", Layer.OS, "")  # type: ignore[index]


# --- resolve_executable (POSIX) -------------------------------------------------------


def test_resolve_first_match_on_path_wins(tmp_path: Path) -> None:
    first = make_executable(tmp_path / "a" / "tool")
    make_executable(tmp_path / "b" / "tool")
    env = {"PATH": f"{tmp_path / 'a'}:{tmp_path / 'b'}"}
    assert resolve_executable("tool --flag", env, tmp_path, windows=False) == str(first)
    assert resolve_executable(("tool", "--flag"), env, tmp_path, windows=False) == str(first)


def test_resolve_skips_non_executable_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "tool").write_text("not executable")
    (tmp_path / "b" / "tool").mkdir(parents=True)
    good = make_executable(tmp_path / "c" / "tool")
    env = {"PATH": ":".join(str(tmp_path / d) for d in "abc")}
    assert resolve_executable("tool", env, tmp_path, windows=False) == str(good)


def test_resolve_not_found(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}
    assert resolve_executable("no-such-tool-xyz", env, tmp_path, windows=False) is None
    assert resolve_executable("", env, tmp_path, windows=False) is None
    assert resolve_executable((), env, tmp_path, windows=False) is None


def test_resolve_relative_word_is_relative_to_cwd(tmp_path: Path) -> None:
    cwd = tmp_path / "apps" / "core"
    mvnw = make_executable(cwd / "mvnw")
    assert resolve_executable("./mvnw spring-boot:run", {"PATH": ""}, cwd, windows=False) == str(mvnw)
    assert resolve_executable("bin/x", {"PATH": ""}, cwd, windows=False) is None
    (cwd / "notexec").write_text("")
    assert resolve_executable("./notexec", {}, cwd, windows=False) is None
    assert resolve_executable(str(mvnw), {}, tmp_path, windows=False) == str(mvnw)


def test_resolve_relative_and_empty_path_entries(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    tool = make_executable(cwd / "node_modules" / ".bin" / "vite")
    here = make_executable(cwd / "here")
    assert resolve_executable("vite", {"PATH": "node_modules/.bin"}, cwd, windows=False) == str(tool)
    assert resolve_executable("here", {"PATH": "/nonexistent:"}, cwd, windows=False) == str(here)


def test_resolve_skips_assignments_and_exec(tmp_path: Path) -> None:
    tool = make_executable(tmp_path / "bin" / "uvicorn")
    env = {"PATH": str(tmp_path / "bin")}
    assert resolve_executable("FOO=1 BAR='a b' uvicorn main:app", env, tmp_path, windows=False) == str(tool)
    assert resolve_executable("exec uvicorn main:app", env, tmp_path, windows=False) == str(tool)
    # In an array there is no shell: FOO=1 would be the program's name.
    assert resolve_executable(("FOO=1", "uvicorn"), env, tmp_path, windows=False) is None


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("cd apps && npm run dev", "cd"),
        ("exec", "exec"),
        ("exec -a name tool", "exec"),
        (". ./env.sh && run", "."),
        ("echo hi", "echo"),
        ("$JAVA_HOME/bin/java -jar app.jar", "$JAVA_HOME/bin/java"),
        ("${JAVA_HOME}/bin/java", "${JAVA_HOME}/bin/java"),
        ("`which python` -V", "`which"),  # as far as shlex takes the word
    ],
)
def test_resolve_returns_what_it_cannot_check(tmp_path: Path, command: str, expected: str) -> None:
    assert resolve_executable(command, {"PATH": ""}, tmp_path, windows=False) == expected


def test_resolve_home_tilde(tmp_path: Path) -> None:
    tool = make_executable(tmp_path / "home" / "bin" / "tool")
    env = {"HOME": str(tmp_path / "home")}
    assert resolve_executable("~/bin/tool", env, tmp_path, windows=False) == str(tool)


def test_resolve_without_path_uses_default_search_path(tmp_path: Path) -> None:
    if not Path("/bin/sh").exists() and not Path("/usr/bin/sh").exists():
        pytest.skip("no sh in /bin or /usr/bin")
    assert resolve_executable("sh -c true", {}, tmp_path, windows=False) in {"/bin/sh", "/usr/bin/sh"}


# --- Windows rules --------------------------------------------------------------------


def test_windows_venv_paths(tmp_path: Path) -> None:
    assert venv_bin_dir(tmp_path / "venv", windows=True) == tmp_path / "venv" / "Scripts"
    assert venv_bin_dir(tmp_path / "venv", windows=False) == tmp_path / "venv" / "bin"
    assert venv_python(tmp_path / "venv", windows=True) == tmp_path / "venv" / "Scripts" / "python.exe"
    assert venv_python(tmp_path / "venv", windows=False) == tmp_path / "venv" / "bin" / "python"


def test_windows_activation(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    venv = fake_venv(cwd / ".venv")
    service = make_service(cwd, port=8001, env={"path_extra": "x"})
    os_env = {"Path": r"C:\Windows;C:\Windows\System32", "PythonHome": r"C:\Python311", "Port": "1"}

    result = build(tmp_path, service, os_env, windows=True)

    assert result.variables["PATH"].value == str(venv / "Scripts") + r";C:\Windows;C:\Windows\System32"
    assert "PYTHONHOME" not in result.variables
    assert result.variables["PORT"].value == "8001"
    # Names are case-insensitive: one PATH, upper-cased like os.environ on Windows.
    assert sorted(result.as_dict()) == ["PATH", "PATH_EXTRA", "PORT", "PYTHONUNBUFFERED", "VIRTUAL_ENV"]
    assert result.get("path") is result.variables["PATH"]
    assert result.missing(["virtual_env", "Missing"]) == ("Missing",)


def test_windows_names_case_insensitive_across_layers(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    (cwd / ".env").write_text("Api_Url=http://file\nDerived=${api_url}/x\n")
    service = make_service(cwd, env={"api_url": "http://table"}, venv_disabled=True)
    result = build(tmp_path, service, {"API_URL": "http://os"}, windows=True)
    assert result.variables["API_URL"] == EnvVar("API_URL", "http://table", Layer.ENV, "")
    assert result.as_dict()["DERIVED"] == "http://file/x"
    assert "Api_Url" not in result.as_dict()


def test_windows_resolve_uses_scripts_and_pathext(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    venv = fake_venv(cwd / "venv")
    python = venv / "Scripts" / "python.exe"
    python.parent.mkdir()
    python.write_text("")  # Windows has no execute bit: a file is enough
    other = tmp_path / "System32" / "python.exe"
    other.parent.mkdir()
    other.write_text("")
    result = build(tmp_path, make_service(cwd), {"Path": str(other.parent)}, windows=True)
    env = result.as_dict()

    assert resolve_executable("python -m app", env, cwd, windows=True) == str(python)
    assert resolve_executable("python.exe -m app", env, cwd, windows=True) == str(python)
    assert resolve_executable(("python", "-V"), env, cwd, windows=True) == str(python)
    assert resolve_executable("python", {"Path": str(other.parent)}, cwd, windows=True) == str(other)
    # PATHEXT limits what counts as a program; lower-case in the environment still works.
    (tmp_path / "System32" / "tool.cmd").write_text("")
    assert resolve_executable("tool", {"PATH": str(other.parent)}, cwd, windows=True) is not None
    only_exe = {"PATH": str(other.parent), "pathext": ".EXE"}
    assert resolve_executable("tool", only_exe, cwd, windows=True) is None


def test_windows_resolve_quoting_and_builtins(tmp_path: Path) -> None:
    program = tmp_path / "Program Files" / "app.exe"
    program.parent.mkdir()
    program.write_text("")
    # cmd.exe's quoting: backslashes are not escapes.
    assert resolve_executable(f'"{program}" --serve', {}, tmp_path, windows=True) == str(program)
    assert resolve_executable("CD apps && npm run dev", {}, tmp_path, windows=True) == "CD"
    java = "%JAVA_HOME%\\bin\\java"
    assert resolve_executable(java, {}, tmp_path, windows=True) == java
    # The current folder is searched first, as cmd.exe does.
    local = tmp_path / "run.bat"
    local.write_text("")
    assert resolve_executable("run", {"PATH": ""}, tmp_path, windows=True) == str(local)
