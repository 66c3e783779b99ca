"""The `devstack` command line: finds the stack, talks to the supervisor, renders, and is the only
place that prints errors and picks exit codes (SPEC: 0 ok, 1 a service failed, 2 usage/config,
3 no supervisor). Heavy modules (asyncio machinery, h11, psutil) are imported only by the
commands that need them, so `status` answers fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from devstack import client
from devstack.errors import DevstackError, NotRunning, UsageError
from devstack.paths import EXIT_LOST_RACE, StatePaths
from devstack.render import stack_ok, status_code, status_table
from devstack.specs import StackSpec
from devstack.suggest import unknown_service_message

CONTEXT = {"help_option_names": ["-h", "--help"]}


class Options:
    def __init__(self, file: str | None, procfile: str | None, debug: bool) -> None:
        self.file = file
        self.procfile = procfile
        self.debug = debug
        self._stack: StackSpec | None = None

    def stack(self) -> StackSpec:
        if self._stack is None:
            from devstack.config import find_stack

            self._stack = find_stack(Path.cwd(), Path(self.file) if self.file else None,
                                     Path(self.procfile) if self.procfile else None)
        return self._stack

    def paths(self) -> StatePaths:
        return StatePaths.of(self.stack().root)

    def names(self, names: tuple[str, ...]) -> list[str]:
        known = list(self.stack().services)
        for name in names:
            if name not in known:
                raise UsageError(unknown_service_message(name, known))
        return list(names)


pass_options = click.make_pass_decorator(Options)


@click.group(context_settings=CONTEXT)
@click.option("-f", "--file", metavar="PATH", help="The stack.toml to use (default: the nearest one).")
@click.option("--procfile", metavar="PATH", help="Run the services of this Procfile.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="devstack")
@click.pass_context
def cli(ctx: click.Context, file: str | None, procfile: str | None, debug: bool) -> None:
    """Start a multi-service development stack and keep it running."""
    ctx.obj = Options(file, procfile, debug)


# --------------------------------------------------------------------------- up / down


@cli.command()
@click.argument("names", nargs=-1)
@click.option("-d", "--detach", is_flag=True, help="Run the supervisor in the background.")
@click.option("--no-deps", is_flag=True, help="Do not start the dependencies of the named services.")
@click.option("--timeout", metavar="DURATION", help="With -d: stop waiting after this long.")
@pass_options
def up(opts: Options, names: tuple[str, ...], detach: bool, no_deps: bool, timeout: str | None) -> None:
    """Start the stack (or the named services and their dependencies)."""
    from devstack.durations import parse_duration

    stack = opts.stack()
    wanted = opts.names(names)
    try:
        wait_s = parse_duration(timeout) if timeout else None
    except ValueError as exc:
        raise UsageError(f"--timeout: {exc}") from None
    paths = opts.paths()
    if client.ping(paths.socket) is not None:
        _exit(_join_running(paths, stack, wanted, no_deps, wait_s))
    if detach:
        _exit(_up_detached(paths, stack, wanted, no_deps, wait_s))
    from devstack.app import App
    from devstack.errors import AlreadyRunning

    try:
        code = App(stack, wanted, no_deps, foreground=True).run()
    except AlreadyRunning:
        code = _join_running(paths, stack, wanted, no_deps, wait_s)
    _exit(code)


def _started_names(stack: StackSpec, wanted: list[str], no_deps: bool) -> list[str]:
    if not wanted:
        return list(stack.services)
    return wanted if no_deps else stack.with_dependencies(wanted)


def _wait_and_report(paths: StatePaths, names: list[str], wait_s: float | None) -> int:
    result = client.call(paths.socket, "wait", io_timeout=None if wait_s is None else wait_s + 10,
                         names=names, timeout=wait_s)
    data = result["status"]
    click.echo(status_table(data))
    if not result["settled"]:
        click.echo(f"Not every service was up after {wait_s:g} s; see `devstack logs` for why.", err=True)
        return 1
    return 0 if stack_ok(data, names) else 1


def _join_running(paths: StatePaths, stack: StackSpec, wanted: list[str], no_deps: bool,
                  wait_s: float | None) -> int:
    result = client.call(paths.socket, "start", names=wanted, no_deps=no_deps)
    started = result.get("started") or []
    click.echo(f"devstack is already running this stack; started: {', '.join(started) or 'nothing new'}.",
               err=True)
    return _wait_and_report(paths, _started_names(stack, wanted, no_deps), wait_s)


def _up_detached(paths: StatePaths, stack: StackSpec, wanted: list[str], no_deps: bool,
                 wait_s: float | None) -> int:
    from devstack.app import detached_main
    from devstack.background import fork_supervisor

    paths.make_private_dirs()
    pid = fork_supervisor(lambda: detached_main(stack, wanted, no_deps), stack.root, paths.supervisor_out)
    deadline = time.monotonic() + 30
    code: int | None = None  # our child's exit code, once it has ended
    while (answering := client.ping(paths.socket, timeout=1.0)) is None:
        # Ours may lose the race to another `up` (EXIT_LOST_RACE): then wait for the winner's socket.
        code = _exit_code(pid) if code is None else code
        if code is not None and code != EXIT_LOST_RACE:
            said = "".join(paths.supervisor_out.read_text(errors="replace").strip().splitlines()[-1:])
            raise DevstackError(f"the background supervisor exited at start (code {code}): "
                                f"{said.removeprefix('Error: ') or 'it said nothing'}; its output is in "
                                f"{paths.supervisor_out}")
        if time.monotonic() > deadline:
            raise DevstackError(f"the background supervisor did not open its control socket "
                                f"{paths.socket} within 30 s; see {paths.supervisor_out}")
        time.sleep(0.01)
    if answering != pid:
        # Another `up` won the race to supervise this stack: ours is about to find the lock
        # taken and exit (EXIT_LOST_RACE). Reap it first, so that no second supervisor process
        # outlives this command even briefly, then ask the winner to start what we wanted.
        if code is None:
            _reap(pid, timeout=10.0)
        return _join_running(paths, stack, wanted, no_deps, wait_s)
    return _wait_and_report(paths, _started_names(stack, wanted, no_deps), wait_s)


def _reap(pid: int, timeout: float) -> int | None:
    """Our child's exit code once it has ended (waiting up to `timeout`), else None."""
    deadline = time.monotonic() + timeout
    while (code := _exit_code(pid)) is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return code


def _exit_code(pid: int) -> int | None:
    """The exit code of our child `pid` once it has ended, else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


@cli.command()
@pass_options
def down(opts: Options) -> None:
    """Stop every service and the supervisor."""
    stack = opts.stack()
    paths = opts.paths()
    try:
        result = client.call(paths.socket, "down", io_timeout=None)
        _wait_gone(int(result["pid"]), 15.0)
        click.echo(f"stack {stack.name} is down.")
    except NotRunning:
        click.echo(f"no supervisor is running for {stack.name}.")
    # devstack.spawn, not devstack.app: the sweep needs psutil, not the whole supervisor.
    from devstack.paths import stack_id
    from devstack.spawn import stop_leftovers

    stop_leftovers(f"{stack_id(stack.root)}/", lambda text: click.echo(text, err=True))


def _wait_gone(pid: int, timeout: float) -> None:
    """Until the supervisor has exited; its zombie counts as gone (a lazy init may reap it late)."""
    import psutil

    from devstack.spawn import wait_gone

    with contextlib.suppress(psutil.Error):
        wait_gone([psutil.Process(pid)], timeout)


# --------------------------------------------------------------------------- status


def _offline_status(stack: StackSpec) -> dict[str, Any]:
    """Status without a supervisor: every service stopped; a declared port held by someone is named."""
    from devstack.ports import port_holder

    services = []
    for name, spec in stack.services.items():
        note = None
        if spec.port:
            holder = port_holder(spec.port)
            if holder:
                note = f"port {spec.port} is held by {holder}"
        services.append({"name": name, "state": "stopped", "optional": spec.optional, "pid": None,
                         "port": spec.port, "restarts": 0, "started_at": None, "uptime_s": None,
                         "exit_code": None, "cpu_percent": 0.0, "memory_rss": 0,
                         "health": {"status": None, "last_checked": None, "response_time_ms": None,
                                    "error": note, "address": None}})
    return {"stack": stack.name, "supervisor": {"pid": None, "started_at": None, "running": False},
            "state": "down", "services": services}


def _status_once(opts: Options, as_json: bool) -> int:
    stack = opts.stack()
    try:
        data = client.call(opts.paths().socket, "status", io_timeout=10)
        code = status_code(data)
    except NotRunning:
        data = _offline_status(stack)
        code = 3
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(status_table(data))
    return code


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--watch", is_flag=True, help="Redraw every second until Ctrl-C.")
@pass_options
def status(opts: Options, as_json: bool, watch: bool) -> None:
    """Show every service's state, health and resources."""
    if not watch:
        _exit(_status_once(opts, as_json))
    code = 0
    try:
        while True:
            click.clear()
            code = _status_once(opts, as_json)
            time.sleep(1.0)
    except KeyboardInterrupt:
        _exit(code)


# --------------------------------------------------------------------------- logs


@cli.command()
@click.argument("names", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "lines", type=click.IntRange(min=0), default=100, show_default=True,
              help="How many lines to print first.")
@click.option("--since", metavar="DURATION|TIME", help="Only lines newer than this (10m, 2026-11-26T05:00).")
@click.option("--timestamps", is_flag=True, help="Show each line's time.")
@click.option("--no-color", is_flag=True, help="No colours.")
@pass_options
def logs(opts: Options, names: tuple[str, ...], follow: bool, lines: int, since: str | None,
         timestamps: bool, no_color: bool) -> None:
    """Print the kept logs of the named services (default: all), merged in time order."""
    from datetime import UTC, datetime

    from devstack import ansi
    from devstack.logfile import Follower, parse_since, tail
    from devstack.terminal import COLOURS

    stack = opts.stack()
    known = [*stack.services, "devstack"]
    for name in names:
        if name not in known:
            raise UsageError(unknown_service_message(name, list(stack.services)))
    wanted = list(names) or list(stack.services)
    try:
        since_at = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    colour = not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()
    width = max(len(n) for n in wanted)
    colours = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(stack.services)}
    log_dir = opts.paths().log_dir

    def show(record: Any) -> None:
        name = record.service.ljust(width)
        prefix = f"\x1b[{colours.get(record.service, '37')}m{name} |\x1b[0m " if colour else f"{name} | "
        if timestamps:
            prefix = record.ts.astimezone().isoformat(timespec="milliseconds") + " " + prefix
        text = record.text
        if ansi.needs_cleaning(text.encode()):  # older files, or bytes a service wrote itself
            text = ansi.for_terminal(text.encode(), colour).decode("utf-8", "replace")
        click.echo(prefix + text)

    if not follow:
        for record in tail(log_dir, wanted, lines, since_at):
            show(record)
        return
    # backlog-then-poll from one Follower: no line missed or repeated between the two.
    follower = Follower(log_dir, wanted)
    try:
        for record in follower.backlog(lines, since_at):
            show(record)
        while True:
            for record in follower.poll():
                show(record)
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------- single services


def _service_command(verb: str, help_text: str) -> Callable[..., None]:
    @cli.command(name=verb, help=help_text)
    @click.argument("names", nargs=-1, required=True)
    @click.option("--timeout", metavar="DURATION", help="restart: stop waiting after this long.")
    @pass_options
    def command(opts: Options, names: tuple[str, ...], timeout: str | None) -> None:
        from devstack.durations import parse_duration

        wanted = opts.names(names)
        socket = opts.paths().socket
        if verb == "restart":
            wait_s = parse_duration(timeout) if timeout else None
            result = client.call(socket, "restart", io_timeout=None, names=wanted, timeout=wait_s)
            data = result["status"]
            _print_services(data, wanted)
            _exit(0 if result["ok"] else 1)
        if verb == "start":
            client.call(socket, "start", names=wanted)
            result = client.call(socket, "wait", io_timeout=None, names=wanted)
            _print_services(result["status"], wanted)
            _exit(0 if stack_ok(result["status"], wanted) else 1)
        data = client.call(socket, "stop", io_timeout=None, names=wanted)
        _print_services(data, wanted)

    return command


def _print_services(data: dict[str, Any], names: list[str]) -> None:
    subset = dict(data, services=[s for s in data["services"] if s["name"] in names])
    click.echo(status_table(subset))


_service_command("restart", "Restart services and wait until they are healthy again.")
_service_command("stop", "Stop services (the supervisor keeps running).")
_service_command("start", "Start stopped services.")


# --------------------------------------------------------------------------- doctor


@cli.command()
@click.argument("names", nargs=-1)
@pass_options
def doctor(opts: Options, names: tuple[str, ...]) -> None:
    """Every pre-flight check, without starting anything: what is wrong and the fix to type."""
    from devstack.preflight import Severity, check_stack, render_findings

    stack = opts.stack()
    wanted = opts.names(names) or None
    findings = check_stack(stack, _os_env(), names=wanted)
    click.echo(render_findings(stack, findings, wanted))
    _exit(1 if any(f.severity is Severity.ERROR for f in findings) else 0)


# --------------------------------------------------------------------------- a service's environment


def _os_env() -> dict[str, str]:
    from devstack.spawn import TAG_VAR

    env = dict(os.environ)
    env.pop(TAG_VAR, None)  # a devstack child running devstack must not tag as its parent
    return env


@cli.command(name="env")
@click.argument("name")
@click.option("--show-values", is_flag=True, help="Show values from .env files and secret-looking names.")
@pass_options
def env_command(opts: Options, name: str, show_values: bool) -> None:
    """Every variable a service gets, with the layer that set it."""
    from devstack.env import EnvVar, build_env, masked

    stack = opts.stack()
    opts.names((name,))
    built = build_env(stack, stack.services[name], _os_env())
    def source(var: EnvVar) -> str:
        if not var.source:
            return str(var.layer)
        path = Path(var.source)
        shown = path.relative_to(stack.root) if path.is_relative_to(stack.root) else path
        return f"{var.layer} ({shown})"

    rows = [(var.name, masked(var, show_values), source(var))
            for var in sorted(built.variables.values(), key=lambda v: v.name)]
    width = max((len(r[0]) for r in rows), default=4)
    for var_name, value, layer in rows:
        click.echo(f"{var_name.ljust(width)}  {layer:<14}  {value}")
    for warning in built.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_options
def run(opts: Options, name: str, command: tuple[str, ...]) -> None:
    """Run a one-off command in a service's folder, venv and env: devstack run api -- alembic upgrade head."""
    from devstack.env import build_env

    stack = opts.stack()
    opts.names((name,))
    spec = stack.services[name]
    argv = list(command[1:] if command[:1] == ("--",) else command)
    if not argv:
        raise UsageError("name the command to run after `--`, e.g. devstack run api -- python -V")
    env = build_env(stack, spec, _os_env()).as_dict()
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
@click.argument("names", nargs=-1)
@pass_options
def setup(opts: Options, names: tuple[str, ...]) -> None:
    """Run each service's `setup` command (e.g. npm ci) in its folder, venv and env."""
    from devstack.env import build_env
    from devstack.spawn import shell_argv

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
        env = build_env(stack, spec, _os_env()).as_dict()
        proc = subprocess.Popen(shell_argv(spec.setup), cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        prefix = f"{name.ljust(width)} | "
        for raw in proc.stdout:
            click.echo(prefix + raw.decode("utf-8", "replace").rstrip("\r\n"))
        code = proc.wait()
        if code != 0:
            click.echo(f"{'devstack'.ljust(width)} | setup of {name} failed with exit code {code}", err=True)
            _exit(code)
    _exit(0)


from devstack.cli_init import init  # noqa: E402  (its own module: `devstack init` and its flags)

cli.add_command(init)


# --------------------------------------------------------------------------- entry point


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="devstack", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DevstackError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as exc:
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"devstack hit an internal error ({type(exc).__name__}: {exc}); "
                       "run again with --debug for the details.", err=True)
        sys.exit(1)
    sys.exit(0)
