"""The `setup` check's record rule and `setup_reason`, the question `up` asks before a first
start: on real folders, with the record files `devstack setup` writes."""

from __future__ import annotations

from pathlib import Path

from devstack.config.stackfile import load_stack
from devstack.doctor.findings import Context, Severity
from devstack.doctor.setup import check_setup, setup_reason
from devstack.doctor.setups import read_record, write_record
from devstack.env.layers import build_env


def context(root: Path, service: str) -> Context:
    stack = load_stack(root / "stack.toml")
    spec = stack.services[service]
    return Context(stack, spec, build_env(stack, spec, {"PATH": "/usr/bin:/bin"}))


def test_a_setup_that_never_ran_is_a_warning_until_it_is_recorded(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text('[services.db]\ncommand = "./run.sh"\nsetup = "./init.sh"\n')
    ctx = context(tmp_path, "db")
    (finding,) = check_setup(ctx)
    assert (finding.severity, finding.message, finding.fix) == (
        Severity.WARNING, "its setup has not run yet (no record of it)", "devstack setup db")
    assert setup_reason(ctx) == "its setup has not run yet (no record of it)"
    write_record(ctx.stack, ctx.service)
    assert read_record(ctx.stack, ctx.service) is not None
    assert check_setup(ctx) == [] and setup_reason(ctx) is None
    (tmp_path / "stack.toml").write_text('[services.db]\ncommand = "./run.sh"\nsetup = ["./init.sh", "-q"]\n')
    changed = context(tmp_path, "db")
    assert [f.message for f in check_setup(changed)] == ["its setup command has changed since it last ran"]


def test_no_setup_no_finding_and_no_reason(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text('[services.db]\ncommand = "./run.sh"\n')
    ctx = context(tmp_path, "db")
    assert check_setup(ctx) == [] and setup_reason(ctx) is None


def test_what_setup_builds_speaks_for_itself(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "package.json").write_text("{}")
    (tmp_path / "stack.toml").write_text('[services.web]\ncwd = "web"\ncommand = "npm run dev"\n'
                                         'setup = "npm ci"\n')
    ctx = context(tmp_path, "web")
    assert setup_reason(ctx) == "web/node_modules has not been installed (npm ci never ran)"
    (web / "node_modules").mkdir()
    (web / "node_modules" / ".package-lock.json").write_text("{}")
    assert check_setup(ctx) == [] and setup_reason(ctx) is None  # no record needed: the build is there


def test_a_declared_venv_that_does_not_exist_is_a_reason_to_set_up(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text('[services.api]\nvenv = "venv"\ncommand = "uvicorn main:app"\n'
                                         'setup = "python3 -m venv venv"\n')
    assert setup_reason(context(tmp_path, "api")) == "venv venv does not exist"
