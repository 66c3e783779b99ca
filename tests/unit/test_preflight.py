"""devstack.doctor: the pre-flight checks on real folders, fake venvs and .env files, with each
message and fix asserted verbatim; port holders faked (`port_owner`), as the wording is the point.

The checks that run a venv's interpreter or its pip, and that find real processes holding real
ports, are tests/integration/test_preflight.py.
"""

from __future__ import annotations

import os
import socket
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from devstack.config.specs import HealthSpec, ProbeKind, StackSpec
from devstack.control.paths import stack_id
from devstack.doctor import localhost
from devstack.doctor.checks import blocking_error, check_stack
from devstack.doctor.findings import Finding, Severity
from devstack.doctor.localhost import resolve_localhost
from devstack.doctor.report import render_findings
from devstack.process.owners import PortHolder
from tests.support.doctor import SECRET, Env, Row, check, make_service, no_holders, of
from tests.support.files import make_executable, write
from tests.support.specs import make_stack
from tests.support.venvs import make_venv

# --- cwd ------------------------------------------------------------------------------


def test_a_missing_cwd_is_an_error_and_hides_the_checks_that_depend_on_it(root: Path, os_env: Env) -> None:
    service = make_service(root, cwd="apps/ai-api", create=False, command="uvicorn main:app",
                           required_env=("DATABASE_URL",), port=8001)
    holders = [PortHolder(4242, "java", "java -jar app.jar")]
    findings = check(make_stack(root, service), os_env, port_owner=lambda port: holders)
    assert of(findings, "cwd", "executable", "venv", "required_env", "env_file", "port") == [
        (Severity.ERROR, "cwd apps/ai-api does not exist",
         "mkdir -p apps/ai-api (or fix `cwd` in stack.toml)"),
        (Severity.ERROR, "port 8001 is held by pid 4242 (java: java -jar app.jar)",
         "kill 4242 (or stop it, or change `port` of ai-api in stack.toml)"),
    ]


def test_a_missing_cwd_next_to_a_similar_folder_suggests_that_folder(root: Path, os_env: Env) -> None:
    (root / "apps" / "ai-api-fastapi").mkdir(parents=True)
    (root / "apps" / "frontend").mkdir()
    service = make_service(root, cwd="apps/ai-api", create=False)
    assert of(check(make_stack(root, service), os_env), "cwd") == [
        (Severity.ERROR, "cwd apps/ai-api does not exist",
         'set cwd = "apps/ai-api-fastapi" in stack.toml (or mkdir -p apps/ai-api)')]


def test_a_cwd_that_is_a_file(root: Path, os_env: Env) -> None:
    write(root / "apps", "not a folder\n")
    service = make_service(root, cwd="apps", create=False)
    assert of(check(make_stack(root, service), os_env), "cwd") == [
        (Severity.ERROR, "cwd apps is not a folder", "fix `cwd` in stack.toml")]


# --- executable -----------------------------------------------------------------------


def test_a_command_in_a_venv_turned_off_by_venv_false(root: Path, os_env: Env) -> None:
    service = make_service(root, command="uvicorn main:app", venv_disabled=True)
    make_venv(service.cwd / ".venv", pip=True)
    make_executable(service.cwd / ".venv" / "bin" / "uvicorn")
    assert of(check(make_stack(root, service), os_env), "executable") == [
        (Severity.ERROR, "command not found: 'uvicorn' is not on the service's PATH "
         f"(searched {os_env['PATH']})",
         "remove `venv = false` from [services.ai-api] in stack.toml (uvicorn is in apps/ai-api/.venv/bin)")]


def test_a_command_the_requirements_list_without_any_venv(root: Path, os_env: Env) -> None:
    service = make_service(root, command="gunicorn app:app")
    write(service.cwd / "requirements.txt", "gunicorn\n")
    findings = check(make_stack(root, service), os_env)
    assert [fix for _, _, fix in of(findings, "executable")] == [
        "python3 -m venv apps/ai-api/venv && apps/ai-api/venv/bin/pip install -r "
        "apps/ai-api/requirements.txt"]


def test_a_relative_command_that_is_missing_or_not_executable(root: Path, os_env: Env) -> None:
    service = make_service(root, name="core-api", cwd="apps/core api", command="./mvnw spring-boot:run")
    stack = make_stack(root, service)
    assert of(check(stack, os_env), "executable") == [
        (Severity.ERROR, "'./mvnw' does not exist in apps/core api", "fix `command` in stack.toml")]
    write(service.cwd / "mvnw", "#!/bin/sh\n", mode=0o644)  # as a zip download leaves it
    assert of(check(stack, os_env), "executable") == [
        (Severity.ERROR, "'./mvnw' in apps/core api is not executable", "chmod +x 'apps/core api/mvnw'")]
    (service.cwd / "mvnw").chmod(0o755)
    assert of(check(stack, os_env), "executable") == []


def test_an_empty_command(root: Path, os_env: Env) -> None:
    service = make_service(root, command=())
    assert of(check(make_stack(root, service), os_env), "executable") == [
        (Severity.ERROR, "the command is empty", "set `command` in stack.toml")]


# --- venv -----------------------------------------------------------------------------


def test_a_declared_venv_that_does_not_exist(root: Path, os_env: Env) -> None:
    service = make_service(root, venv=root / "apps" / "ai-api" / "env")
    write(service.cwd / "requirements.txt", "fastapi\n")
    findings = check(make_stack(root, service), os_env)
    assert of(findings, "venv", "requirements", "executable") == [
        (Severity.ERROR, "venv apps/ai-api/env does not exist",
         "python3 -m venv apps/ai-api/env && apps/ai-api/env/bin/pip install -r "
         "apps/ai-api/requirements.txt")]


def test_a_folder_without_pyvenv_cfg_is_not_a_venv(root: Path, os_env: Env) -> None:
    service = make_service(root, venv=root / "apps" / "ai-api" / "venv")
    (service.cwd / "venv" / "bin").mkdir(parents=True)
    assert of(check(make_stack(root, service), os_env), "venv") == [
        (Severity.ERROR, "apps/ai-api/venv is not a venv (it has no pyvenv.cfg)",
         "python3 -m venv apps/ai-api/venv")]


def test_a_venv_whose_python_links_to_a_removed_interpreter(root: Path, os_env: Env) -> None:
    service = make_service(root)
    write(service.cwd / "requirements.txt", "fastapi\n")
    venv = make_venv(service.cwd / "venv", pip=True)
    (venv / "bin" / "python").unlink()
    (venv / "bin" / "python").symlink_to("python3.99")  # the chain venv leaves: python -> python3.X -> base
    (venv / "bin" / "python3.99").symlink_to("/nonexistent/python3.99")
    assert of(check(make_stack(root, service), os_env), "venv", "requirements") == [
        (Severity.INFO, "using venv apps/ai-api/venv (found automatically)", None),
        (Severity.ERROR, "the venv's python apps/ai-api/venv/bin/python links to /nonexistent/python3.99, "
         "which does not exist",
         "python3 -m venv --clear apps/ai-api/venv && apps/ai-api/venv/bin/pip install -r "
         "apps/ai-api/requirements.txt"),
    ]


# --- requirements ---------------------------------------------------------------------


def test_requirements_without_a_venv_are_noted_not_checked(root: Path, os_env: Env) -> None:
    service = make_service(root)
    write(service.cwd / "requirements.txt", "fastapi\n")
    assert of(check(make_stack(root, service), os_env), "requirements") == [
        (Severity.INFO, "apps/ai-api/requirements.txt not checked: no venv/ or .venv/ in apps/ai-api",
         "python3 -m venv apps/ai-api/venv && apps/ai-api/venv/bin/pip install -r "
         "apps/ai-api/requirements.txt")]
    disabled = replace(service, venv_disabled=True)
    assert of(check(make_stack(root, disabled), os_env), "requirements") == [
        (Severity.INFO, "apps/ai-api/requirements.txt not checked: `venv = false`", None)]


# --- env files ------------------------------------------------------------------------


def test_a_missing_default_env_with_an_example_names_the_file_to_copy(root: Path, os_env: Env) -> None:
    service = make_service(root, cwd="apps/ai-api-fastapi")
    write(service.cwd / ".env.example", "DATABASE_URL=\nOPENAI_API_KEY=\n")
    assert of(check(make_stack(root, service), os_env), "env_file", "env_keys") == [
        (Severity.ERROR, "env file apps/ai-api-fastapi/.env does not exist",
         "cp apps/ai-api-fastapi/.env.example apps/ai-api-fastapi/.env")]


def test_a_missing_default_env_without_an_example_is_fine(root: Path, os_env: Env) -> None:
    service = make_service(root)
    assert of(check(make_stack(root, service), os_env), "env_file", "env_keys") == []


def test_a_declared_env_file_that_is_missing(root: Path, os_env: Env) -> None:
    cwd = root / "apps" / "ai-api"
    service = make_service(root, env_files=(cwd / ".env.local", cwd / ".env"))
    write(cwd / ".env.example", "A=1\n")
    assert of(check(make_stack(root, service), os_env), "env_file") == [
        (Severity.ERROR, "env file apps/ai-api/.env.local does not exist",
         "create apps/ai-api/.env.local, or remove it from `env_file` in stack.toml"),
        (Severity.ERROR, "env file apps/ai-api/.env does not exist",
         "cp apps/ai-api/.env.example apps/ai-api/.env"),
    ]


def test_keys_of_the_example_missing_from_env_are_named_never_valued(root: Path, os_env: Env) -> None:
    service = make_service(root, env={"FROM_TABLE": "x"})
    write(service.cwd / ".env", f"API_KEY={SECRET}\nEMPTY=\nBARE\n")
    write(service.cwd / ".env.example", f"""
        API_KEY={SECRET}
        EMPTY=
        BARE=
        JWT_SECRET={SECRET}
        DATABASE_URL=postgres://app:{SECRET}@localhost/app
        """)
    assert of(check(make_stack(root, service), os_env), "env_keys") == [
        (Severity.WARNING, "apps/ai-api/.env lacks keys that apps/ai-api/.env.example has: "
         "BARE, JWT_SECRET, DATABASE_URL",
         "add them to apps/ai-api/.env (see apps/ai-api/.env.example)")]


def test_missing_keys_that_another_layer_sets_are_only_noted(root: Path, os_env: Env) -> None:
    service = make_service(root, env={"LOG_LEVEL": "debug"}, port=8001)
    write(service.cwd / ".env", "A=1\n")
    write(service.cwd / ".env.example", "A=\nLOG_LEVEL=info\nPORT=8000\nHOME=\n")
    findings = check(make_stack(root, service), {**os_env, "HOME": "/root"})
    assert of(findings, "env_keys") == [
        (Severity.INFO, "apps/ai-api/.env lacks keys that apps/ai-api/.env.example has: "
         "LOG_LEVEL (set by `env` in stack.toml), PORT (set by devstack), "
         "HOME (set in the OS environment)", None)]


def test_unparsable_env_lines_are_warnings_by_line_number(root: Path, os_env: Env) -> None:
    service = make_service(root)
    write(service.cwd / ".env", f"A=1\n\nthis line {SECRET} is broken\nB=2\n")
    assert of(check(make_stack(root, service), os_env), "env_file") == [
        (Severity.WARNING, "apps/ai-api/.env:3: could not parse this line", None)]


def test_the_stack_env_file_is_checked_per_service_and_once_for_the_stack(root: Path, os_env: Env) -> None:
    write(root / ".env.example", "SHARED=\n")
    api = make_service(root)
    web = make_service(root, name="web", cwd="apps/web")
    stack = make_stack(root, api, web, env_file=root / ".env")
    expected = (Severity.ERROR, "env file .env does not exist", "cp .env.example .env")
    assert of(check(stack, os_env, "web"), "env_file") == [expected]
    findings = check_stack(stack, os_env, port_owner=no_holders, resolve=lambda: ["127.0.0.1"])
    assert [(f.service, f.severity, f.message, f.fix) for f in findings if f.check == "env_file"] == [
        (None, *expected)]


def test_a_cwd_at_the_stack_root_does_not_report_the_shared_env_twice(root: Path, os_env: Env) -> None:
    write(root / ".env", "A=1\n")
    write(root / ".env.example", "A=\nB=\n")
    service = make_service(root, cwd=".")
    findings = check(make_stack(root, service, env_file=root / ".env"), os_env)
    assert of(findings, "env_keys") == [
        (Severity.WARNING, ".env lacks keys that .env.example has: B", "add them to .env (see .env.example)")]


def test_keys_the_stack_env_lacks_are_judged_per_service_and_stack_wide(root: Path, os_env: Env) -> None:
    write(root / ".env", "A=1\n")
    write(root / ".env.example", "A=\nB=\nC=\n")
    service = make_service(root)
    write(service.cwd / ".env", "B=2\n")
    stack = make_stack(root, service, env_file=root / ".env")
    os_env = {**os_env, "C": "3"}
    # For this service, every key reaches it from some layer.
    assert of(check(stack, os_env), "env_keys") == [
        (Severity.INFO, ".env lacks keys that .env.example has: B (set in apps/ai-api/.env), "
         "C (set in the OS environment)", None)]
    # For the stack as a whole, only the OS layer is shared by every service.
    findings = check_stack(stack, os_env, port_owner=no_holders, resolve=lambda: ["127.0.0.1"])
    assert [(f.service, f.severity, f.message, f.fix) for f in findings if f.check == "env_keys"] == [
        (None, Severity.WARNING, ".env lacks keys that .env.example has: B, C (set in the OS environment)",
         "add them to .env (see .env.example)")]


def test_required_env_not_set_by_any_layer(root: Path, os_env: Env) -> None:
    service = make_service(root, required_env=("DATABASE_URL", "OPENAI_API_KEY", "EMPTY_IS_SET", "PATH"))
    write(service.cwd / ".env", "EMPTY_IS_SET=\n")
    assert of(check(make_stack(root, service), os_env), "required_env") == [
        (Severity.ERROR, "required_env not set: DATABASE_URL, OPENAI_API_KEY",
         "add DATABASE_URL=..., OPENAI_API_KEY=... to apps/ai-api/.env")]
    # With env_file declared, the default .env is not read, and the fix names the declared file.
    declared = replace(service, env_files=(service.cwd / "config" / "dev.env",))
    assert [fix for _, _, fix in of(check(make_stack(root, declared), os_env), "required_env")] == [
        "add DATABASE_URL=..., OPENAI_API_KEY=..., EMPTY_IS_SET=... to apps/ai-api/config/dev.env"]


# --- port (wording, with faked holders) -----------------------------------------------


def port_findings(root: Path, os_env: Env, holder: PortHolder, name: str = "ai-api") -> list[Row]:
    web = make_service(root, name="web", cwd="apps/web", port=8001)
    stack = make_stack(root, make_service(root, port=8001), web)
    return of(check(stack, os_env, name, port_owner=lambda port: [holder]), "port")


def test_port_held_by_a_foreign_process(root: Path, os_env: Env) -> None:
    holder = PortHolder(4242, "python3", "python3 -m http.server 8001")
    assert port_findings(root, os_env, holder) == [
        (Severity.ERROR, "port 8001 is held by pid 4242 (python3: python3 -m http.server 8001)",
         "kill 4242 (or stop it, or change `port` of ai-api in stack.toml)")]


def test_port_held_by_a_leftover_of_this_stack(root: Path, os_env: Env) -> None:
    holder = PortHolder(4242, "uvicorn", "venv/bin/uvicorn main:app", tag=f"{stack_id(root)}/ai-api")
    assert port_findings(root, os_env, holder) == [
        (Severity.ERROR, "port 8001 is held by pid 4242 (uvicorn: venv/bin/uvicorn main:app), a leftover of "
         "this stack's previous run (ai-api)", "devstack down")]


def test_a_tag_of_another_stack_is_a_foreign_process(root: Path, os_env: Env) -> None:
    holder = PortHolder(4242, "uvicorn", "uvicorn main:app", tag="0123456789ab/ai-api")
    message = port_findings(root, os_env, holder)[0][1]
    assert message == "port 8001 is held by pid 4242 (uvicorn: uvicorn main:app)"


def test_port_in_use_by_the_running_stack(root: Path, os_env: Env) -> None:
    tag = f"{stack_id(root)}/ai-api"
    holder = PortHolder(4242, "uvicorn", "uvicorn main:app", tag=tag, supervisor=999_999)
    assert port_findings(root, os_env, holder) == [
        (Severity.INFO,
         "port 8001 is in use by ai-api itself, running under this stack's supervisor (pid 999999)", None)]
    assert port_findings(root, os_env, holder, "web") == [
        (Severity.ERROR,
         "port 8001 is held by pid 4242 (uvicorn: uvicorn main:app), this stack's running service ai-api",
         "give web and ai-api different ports in stack.toml")]
    # Seen by the supervisor itself, before it starts ai-api again: an earlier process lingers.
    own = replace(holder, supervisor=os.getpid())
    assert port_findings(root, os_env, own) == [
        (Severity.ERROR,
         "port 8001 is still held by pid 4242 (uvicorn: uvicorn main:app), an earlier process of ai-api",
         "kill 4242")]


def test_port_in_use_by_a_process_that_cannot_be_inspected(root: Path, os_env: Env) -> None:
    assert port_findings(root, os_env, PortHolder(None)) == [
        (Severity.ERROR, "port 8001 is in use by a process devstack may not inspect (another user's?)",
         "find it with `sudo lsof -nP -iTCP:8001 -sTCP:LISTEN`, or change `port` of ai-api in stack.toml")]


def test_a_long_command_line_is_shortened(root: Path, os_env: Env) -> None:
    holder = PortHolder(7, "java", "java " + "-Dx=y " * 40)
    message = port_findings(root, os_env, holder)[0][1]
    assert message == "port 8001 is held by pid 7 (java: " + ("java " + "-Dx=y " * 40)[:119] + "…)"


# --- localhost ------------------------------------------------------------------------


def probed_stack(root: Path) -> StackSpec:
    api = make_service(root, health=HealthSpec(ProbeKind.HTTP, "http://LOCALHOST:8001/"))
    db = make_service(root, name="postgres", cwd=".", health=HealthSpec(ProbeKind.TCP, "localhost:5432"))
    web = make_service(root, name="web", cwd="apps/web", health=HealthSpec(ProbeKind.HTTP, "http://127.0.0.1:5173/"))
    return make_stack(root, api, db, web)


def localhost_findings(stack: StackSpec, addresses: list[str] | None) -> list[Row]:
    def resolve() -> list[str]:
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return addresses

    return of(localhost.check_localhost(stack, resolve), "localhost")


def test_localhost_resolution_is_reported_once(root: Path) -> None:
    stack = probed_stack(root)
    assert localhost_findings(stack, ["127.0.0.1"]) == [
        (Severity.INFO, "localhost resolves to 127.0.0.1 only (IPv4)", None)]
    assert localhost_findings(stack, ["::1", "127.0.0.1"]) == [
        (Severity.INFO, "localhost resolves to ::1 and 127.0.0.1 (IPv6 first)", None)]
    assert localhost_findings(stack, ["127.0.0.1", "::1"]) == [
        (Severity.INFO, "localhost resolves to 127.0.0.1 and ::1 (IPv4 first)", None)]


def test_localhost_without_ipv4_warns_when_probes_use_it(root: Path) -> None:
    stack = probed_stack(root)
    assert localhost_findings(stack, ["::1"]) == [
        (Severity.WARNING,
         "localhost resolves to ::1 only (IPv6), but ai-api, postgres are probed at localhost: "
         "clients using localhost will not reach a service that listens on 127.0.0.1 or 0.0.0.0",
         "add `127.0.0.1 localhost` to /etc/hosts")]
    assert localhost_findings(stack, None) == [
        (Severity.WARNING, "localhost does not resolve, but ai-api, postgres are probed at localhost: "
         "clients using localhost will not reach a service that listens on 127.0.0.1 or 0.0.0.0",
         "add `127.0.0.1 localhost` and `::1 localhost` to /etc/hosts")]
    unprobed = make_stack(root, make_service(root))
    assert localhost_findings(unprobed, ["::1"]) == [
        (Severity.INFO, "localhost resolves to ::1 only (IPv6)", None)]


def test_the_real_resolver_answers_with_loopback_addresses() -> None:
    try:
        addresses = resolve_localhost()
    except OSError as exc:
        pytest.skip(f"localhost does not resolve on this machine: {exc}")
    assert addresses and set(addresses) <= {"127.0.0.1", "::1", "127.0.1.1"}, addresses


# --- blocking_error and render_findings -----------------------------------------------


def test_blocking_error_is_the_first_error_with_its_fix() -> None:
    findings = [
        Finding("api", Severity.INFO, "venv", "using venv venv (found automatically)", None),
        Finding("api", Severity.WARNING, "env_keys", ".env lacks keys that .env.example has: A", "add them"),
        Finding("api", Severity.ERROR, "required_env", "required_env not set: B", "add B=... to .env"),
        Finding("api", Severity.ERROR, "port", "port 1 is held by pid 2 (x)", None),
    ]
    assert blocking_error(findings) == "required_env not set: B (fix: add B=... to .env)"
    assert blocking_error(findings[3:]) == "port 1 is held by pid 2 (x)"
    assert blocking_error(findings[:2]) is None


def test_render_groups_by_service_errors_first_with_one_fix_per_run(root: Path) -> None:
    stack = make_stack(root, *(make_service(root, name=n, cwd=n, create=False) for n in ("db", "api", "web")))
    pip = "venv/bin/pip install -r requirements.txt"
    findings = [
        Finding("api", Severity.INFO, "venv", "using venv api/venv (found automatically)", None),
        Finding("api", Severity.ERROR, "requirements", "package 'a' is not installed in venv (…)", pip),
        Finding("api", Severity.WARNING, "env_keys", "api/.env lacks keys that api/.env.example has: K",
                "add them to api/.env (see api/.env.example)"),
        Finding("api", Severity.ERROR, "requirements", "package 'b' is not installed in venv (…)", pip),
        Finding("web", Severity.ERROR, "cwd", "cwd web does not exist", "mkdir -p web"),
        Finding(None, Severity.INFO, "localhost", "localhost resolves to 127.0.0.1 only (IPv4)", None),
    ]
    assert render_findings(stack, findings) == textwrap.dedent("""\
        db
          ok
        api
          error: package 'a' is not installed in venv (…)
          error: package 'b' is not installed in venv (…)
            fix: venv/bin/pip install -r requirements.txt
          warning: api/.env lacks keys that api/.env.example has: K
            fix: add them to api/.env (see api/.env.example)
          info: using venv api/venv (found automatically)
        web
          error: cwd web does not exist
            fix: mkdir -p web
        stack-wide
          info: localhost resolves to 127.0.0.1 only (IPv4)

        3 errors, 1 warning in 3 services
        """)
    assert render_findings(stack, findings[-1:], services=["db"]) == textwrap.dedent("""\
        db
          ok
        stack-wide
          info: localhost resolves to 127.0.0.1 only (IPv4)

        no problems in 1 service
        """)

