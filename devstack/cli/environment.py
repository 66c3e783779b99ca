"""The commands that work in one service's folder and environment without a supervisor:
`doctor` (pre-flight checks), `env` (each variable and its layer), `run` (a one-off command)
and `setup` (each service's setup command)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque

import click

from devstack.cli.group import Options, cli, complete_services, leave, pass_options
from devstack.errors import UsageError


@cli.command()
@click.argument("names", nargs=-1, shell_complete=complete_services)
@pass_options
def doctor(opts: Options, names: tuple[str, ...]) -> None:
    """Every pre-flight check, without starting anything: what is wrong and the fix to type."""
    from devstack.doctor.checks import check_stack
    from devstack.doctor.findings import Severity
    from devstack.doctor.report import render_findings

    stack = opts.stack()
    wanted = opts.names(names) or None
    findings = check_stack(stack, os_env(), names=wanted)
    click.echo(render_findings(stack, findings, wanted))
    leave(1 if any(f.severity is Severity.ERROR for f in findings) else 0)


def os_env() -> dict[str, str]:
    from devstack.process.spawn import TAG_VAR

    env = dict(os.environ)
    env.pop(TAG_VAR, None)  # a devstack child running devstack must not tag as its parent
    return env


@cli.command(name="env")
@click.argument("name", shell_complete=complete_services)
@click.option("--show-values", is_flag=True, help="Show values from .env files and secret-looking names.")
@pass_options
def env_command(opts: Options, name: str, show_values: bool) -> None:
    """Every variable a service gets, with the layer that set it."""
    from devstack.env.layers import EnvVar, build_env, masked
    from devstack.text.places import shown

    stack = opts.stack()
    opts.names((name,))
    built = build_env(stack, stack.services[name], os_env())
    def source(var: EnvVar) -> str:
        if not var.source:
            return str(var.layer)
        return f"{var.layer} ({shown(var.source, stack.root)})"

    rows = [(var.name, masked(var, show_values), source(var))
            for var in sorted(built.variables.values(), key=lambda v: v.name)]
    width = max((len(r[0]) for r in rows), default=4)
    for var_name, value, layer in rows:
        click.echo(f"{var_name.ljust(width)}  {layer:<14}  {value}")
    for warning in built.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name", shell_complete=complete_services)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_options
def run(opts: Options, name: str, command: tuple[str, ...]) -> None:
    """Run a one-off command in a service's folder, venv and env: devstack run api -- alembic upgrade head."""
    from devstack.env.layers import build_env

    stack = opts.stack()
    opts.names((name,))
    spec = stack.services[name]
    argv = list(command[1:] if command[:1] == ("--",) else command)
    if not argv:
        raise UsageError("name the command to run after `--`, e.g. devstack run api -- python -V")
    env = build_env(stack, spec, os_env()).as_dict()
    if not spec.cwd.is_dir():
        raise UsageError(f"the folder of service '{name}' does not exist: {spec.cwd}")
    os.chdir(spec.cwd)
    sys.stdout.flush()
    try:
        os.execvpe(argv[0], argv, env)  # the command takes over: its exit code and signals are the user's
    except FileNotFoundError:
        raise UsageError(f"command not found on the PATH of service '{name}': {argv[0]}") from None
    except PermissionError:
        raise UsageError(f"permission denied: {argv[0]}") from None


@cli.command()
@click.argument("names", nargs=-1, shell_complete=complete_services)
@pass_options
def setup(opts: Options, names: tuple[str, ...]) -> None:
    """Run each service's `setup` command (e.g. npm ci) in its folder, venv and env."""
    from devstack.env.layers import build_env
    from devstack.process.spawn import shell_argv

    stack = opts.stack()
    wanted = opts.names(names) or stack.start_order()
    width = max(len(n) for n in [*wanted, "devstack"])
    for name in wanted:
        spec = stack.services[name]
        if spec.setup is None:
            click.echo(f"{'devstack'.ljust(width)} | {name} has no setup command; skipped")
            continue
        setup_text = spec.setup if isinstance(spec.setup, str) else " ".join(spec.setup)
        click.echo(f"{'devstack'.ljust(width)} | {name}: {setup_text}")
        built = build_env(stack, spec, os_env())
        proc = subprocess.Popen(shell_argv(spec.setup), cwd=spec.cwd, env=built.as_dict(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        prefix = f"{name.ljust(width)} | "
        last: deque[str] = deque(maxlen=400)  # what the failure reason is read from
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            last.append(line)
            click.echo(prefix + line)
        code = proc.wait()
        if code != 0:
            from devstack.doctor.signatures.diagnose import context_for, diagnose, last_words

            reason = diagnose(list(last), context_for(stack, spec, built)) or last_words(list(last))
            said = f"setup of {name} failed with exit code {code}" + (f": {reason}" if reason else "")
            click.echo(f"{'devstack'.ljust(width)} | {said}", err=True)
            leave(code)
        from devstack.doctor.setups import write_record

        write_record(stack, spec)  # `up` need not run it again
    leave(0)
