"""`up` and `down`: start the stack in the foreground or as a background supervisor (or join
the one already running), and stop it with everything it started."""

from __future__ import annotations

import contextlib
import os
import time

import click

from devstack.cli.group import DURATION, Options, cli, complete_services, leave, pass_options
from devstack.cli.render import stack_ok, status_table
from devstack.config.specs import StackSpec
from devstack.control import client
from devstack.control.paths import EXIT_LOST_RACE, StatePaths
from devstack.errors import ConfigError, DevstackError, NotRunning, UsageError


@cli.command()
@click.argument("names", nargs=-1, shell_complete=complete_services)
@click.option("-d", "--detach", is_flag=True, help="Run the supervisor in the background.")
@click.option("--wait", is_flag=True,
              help="Wait until every service is up or failed (implies -d, which waits already).")
@click.option("--no-deps", is_flag=True, help="Do not start the dependencies of the named services.")
@click.option("--no-setup", is_flag=True,
              help="Never run a service's setup first (by default, one that never ran does).")
@click.option("--timeout", type=DURATION, metavar="DURATION", help="With -d: stop waiting after this long.")
@pass_options
def up(opts: Options, names: tuple[str, ...], detach: bool, wait: bool, no_deps: bool, no_setup: bool,
       timeout: float | None) -> None:
    """Start the stack (or the named services and their dependencies)."""
    from datetime import UTC, datetime

    click.get_current_context().meta["devstack.began"] = datetime.now(UTC)
    stack = opts.stack()
    wanted = opts.names(names)
    wait_s = timeout
    detach = detach or wait  # as docker compose: --wait means detached, waiting for health
    setup = not no_setup
    paths = opts.paths()
    if client.ping(paths.socket) is not None:
        leave(_join_running(paths, stack, wanted, no_deps, wait_s, setup))
    if detach:
        leave(_up_detached(paths, stack, wanted, no_deps, wait_s, setup))
    from devstack.engine.app import App
    from devstack.errors import AlreadyRunning

    try:
        code = App(stack, wanted, no_deps, foreground=True, colour=opts.colour(), setup=setup).run()
    except AlreadyRunning:
        code = _join_running(paths, stack, wanted, no_deps, wait_s, setup)
    leave(code)


def _started_names(stack: StackSpec, wanted: list[str], no_deps: bool) -> list[str]:
    if not wanted:
        return list(stack.services)
    return wanted if no_deps else stack.with_dependencies(wanted)


def _wait_and_report(paths: StatePaths, names: list[str], wait_s: float | None) -> int:
    result = client.call(paths.socket, "wait", io_timeout=None if wait_s is None else wait_s + 10,
                         names=names, timeout=wait_s)
    data = result["status"]
    _say_setups(paths)
    click.echo(status_table(data))
    if not result["settled"]:
        click.echo(f"Not every service was up after {wait_s:g} s; see `devstack logs` for why.", err=True)
        return 1
    return 0 if stack_ok(data, names) else 1


def _say_setups(paths: StatePaths) -> None:
    """The setups this `up` ran first, as the supervisor's event lines said them: `up -d` shows
    no events, and a first start that took a minute of `npm ci` should say why."""
    began = click.get_current_context().meta.get("devstack.began")
    if began is None:
        return
    from devstack.logs.reader import tail

    for record in tail(paths.log_dir, ["devstack"], 200, began):
        if "its setup" in record.text or "setup done in" in record.text:
            click.echo(record.text, err=True)


def _join_running(paths: StatePaths, stack: StackSpec, wanted: list[str], no_deps: bool,
                  wait_s: float | None, setup: bool = True) -> int:
    try:  # the stack file as it is now: changed services restarted, new ones started, …
        result = client.call(paths.socket, "apply", io_timeout=None, file=str(stack.source),
                             procfile=stack.from_procfile, names=wanted, no_deps=no_deps, setup=setup)
    except UsageError as exc:
        if "unknown verb" not in str(exc):
            raise
        # a supervisor of an older devstack, still running: it can only start what is not running
        result = client.call(paths.socket, "start", names=wanted, no_deps=no_deps)
    for line in result.get("changes") or []:
        click.echo(line, err=True)
    started = result.get("started") or []
    click.echo(f"devstack is already running this stack; started: {', '.join(started) or 'nothing new'}.",
               err=True)
    return _wait_and_report(paths, _started_names(stack, wanted, no_deps), wait_s)


def _up_detached(paths: StatePaths, stack: StackSpec, wanted: list[str], no_deps: bool,
                 wait_s: float | None, setup: bool = True) -> int:
    from devstack.engine.app import detached_main
    from devstack.engine.background import fork_supervisor

    paths.make_private_dirs()
    pid = fork_supervisor(lambda: detached_main(stack, wanted, no_deps, setup), stack.root,
                          paths.supervisor_out)
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
        return _join_running(paths, stack, wanted, no_deps, wait_s, setup)
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
    try:
        stack = opts.stack()
        root, name = stack.root, stack.name
    except ConfigError as exc:
        # An edit broke the file while the stack runs: what runs must still be stoppable.
        found = opts.root()
        if found is None:
            raise
        root, name = found, found.name
        click.echo(f"note: {exc.problems[0]}; stopping what runs anyway", err=True)
    paths = StatePaths.of(root)
    try:
        result = client.call(paths.socket, "down", io_timeout=None)
        _wait_gone(int(result["pid"]), 15.0)
        click.echo(f"stack {name} is down.")
    except NotRunning:
        click.echo(f"no supervisor is running for {name}.")
    # devstack.spawn, not devstack.app: the sweep needs psutil, not the whole supervisor.
    from devstack.control.paths import stack_id
    from devstack.process.spawn import stop_leftovers

    stop_leftovers(f"{stack_id(root)}/", lambda text: click.echo(text, err=True))


def _wait_gone(pid: int, timeout: float) -> None:
    """Until the supervisor has exited; its zombie counts as gone (a lazy init may reap it late)."""
    import psutil

    from devstack.process.spawn import wait_gone

    with contextlib.suppress(psutil.Error):
        wait_gone([psutil.Process(pid)], timeout)
