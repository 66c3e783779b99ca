"""One service's lifecycle as a linear coroutine: wait for dependencies → pre-flight → spawn →
watch (probe / liveness: watch.py) → decide (policy.py) → back off → again. Stopping is
cancellation: whatever the run was doing, the child's whole tree is stopped on the way out.
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devstack.config.durations import format_duration
from devstack.config.specs import ProbeKind, ServiceSpec
from devstack.doctor.daemons import left_behind_reason
from devstack.doctor.peers import Peer
from devstack.doctor.setups import setup_text, write_record
from devstack.engine import policy
from devstack.engine.context import Context
from devstack.engine.setup import run_setup
from devstack.engine.states import (
    LIVE_STATES,
    UP_STATES,
    HealthSnapshot,
    HealthStatus,
    ServiceStatus,
    State,
    is_legal,
)
from devstack.engine.watch import Reason, Run, Watch, iso_seconds, listen_for_ready_line
from devstack.errors import SpawnError
from devstack.logs.hub import ServiceLog
from devstack.process.exits import exit_text
from devstack.process.spawn import shell_argv
from devstack.process.tree import TAG_VAR
from devstack.process.usage import UsageMeter
from devstack.text.lines import last_meaningful_line


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    ran_for: float
    up_for: float | None  # how long it had been healthy/running before the exit
    start_failed: bool = False  # devstack ended it: probe never passed, or unhealthy
    reason: Reason | None = None  # (what devstack saw, the probe's last error)
    left_behind: bool = False  # its main process exited while a process it started ran on


# How long past its stop_timeout a service's run may take to end once cancelled, before stop()
# kills its tree regardless (the child's SIGKILL, drain and reap take milliseconds).
STOP_MARGIN = 5.0


async def _finished(task: asyncio.Future[Any]) -> None:
    """Wait for a task this one cancelled to end, without swallowing a cancellation of our own:
    `contextlib.suppress(CancelledError)` here would eat a `down` that arrives meanwhile, and the
    service would restart instead of stopping, with `down` waiting for it for ever."""
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


class Service:
    def __init__(self, spec: ServiceSpec, ctx: Context, log: ServiceLog,
                 peers: Mapping[str, Service]) -> None:
        self.spec = spec
        self.ctx = ctx
        self.log = log
        self.peers = peers
        self.state = State.STOPPED
        self.task: asyncio.Task[None] | None = None
        self.current: Run | None = None  # the child that runs (or ran last: kept until the next spawn)
        self.restarts = 0
        self.failures = 0  # consecutive failed starts
        self.exit_code: int | None = None
        self.ever_started = False
        self.grace: float | None = None  # `devstack stop --timeout`: instead of stop_timeout, once
        self.setup_first = True  # run a setup that never ran before the first start (`up --no-setup`: no)
        self.health = HealthSnapshot()
        self._meter = UsageMeter()
        self.tag = f"{ctx.tag_prefix}{spec.name}"

    # ------------------------------------------------------------------ state

    def set_state(self, state: State, *, status: HealthStatus | None = None, error: str | None = None,
                  keep_probe: bool = False) -> None:
        if not is_legal(self.state, state):
            raise AssertionError(f"{self.spec.name}: illegal transition {self.state} → {state}")
        run = self.current
        if run is not None:
            if state in UP_STATES and self.state not in UP_STATES:
                run.up_since = self.ctx.clock.monotonic()
            elif state not in UP_STATES and state != State.UNHEALTHY:
                run.up_since = None
        self.state = state
        self.ctx.timeline.state(self.spec.name, state, error)
        if keep_probe:
            self.health = HealthSnapshot(status, self.health.last_checked, self.health.response_time_ms,
                                         error, self.health.address)
        else:
            self.health = HealthSnapshot(status, None, None, error, None)
        self.ctx.notifier.notify()

    def status(self) -> ServiceStatus:
        run = self.current if self.state in LIVE_STATES else None
        usage = self._meter.measure(run.child.pids() if run else None)
        uptime = self.ctx.clock.monotonic() - run.started_mono if run else None
        return ServiceStatus(
            name=self.spec.name, state=self.state, optional=self.spec.optional,
            pid=run.child.pid if run else None, port=self.spec.port, restarts=self.restarts,
            started_at=iso_seconds(int(run.started_wall)) if run else None,
            uptime_s=round(uptime, 1) if uptime is not None else None, exit_code=self.exit_code,
            cpu_percent=usage.cpu_percent, memory_rss=usage.memory_rss, health=self.health)

    def as_peer(self) -> Peer:
        """This service as another one's diagnosis sees it."""
        setup = self.spec.setup if isinstance(self.spec.setup, str) or self.spec.setup is None \
            else " ".join(self.spec.setup)
        return Peer(self.spec.name, self.spec.port, str(self.state), self.health.error, setup)

    def as_dependency(self) -> policy.Dependency:
        return policy.Dependency(self.state, self.spec.optional, self.ever_started)

    def peer_view(self) -> dict[str, Peer]:
        return {name: service.as_peer() for name, service in self.peers.items()}

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    # ------------------------------------------------------------------ control

    def start(self, wait_for_deps: bool = True, setup: bool | None = None) -> None:
        """Start the service's lifecycle; `setup`: whether a setup that never ran (or whose build
        is out of date) runs first (None: as at its last start)."""
        if self.running:
            return
        self.setup_first = self.setup_first if setup is None else setup
        self.failures = 0
        # Pending at once, so that anyone waiting for the service to settle sees it is on its way.
        self.set_state(State.PENDING, status=HealthStatus.WARN)
        # A task of its own, not one in a TaskGroup: each service is started and cancelled on its
        # own (start/stop/restart requests) while the supervisor lives, and a TaskGroup cancels
        # every sibling when one task fails, the opposite of keeping one service's failure from
        # touching the others (run() turns its own errors into state). The supervisor awaits
        # every task it started: stop() awaits it, and shutdown() stops every service.
        self.task = asyncio.create_task(self.run(wait_for_deps), name=f"service:{self.spec.name}")

    async def stop(self, grace: float | None = None) -> None:
        """Stop the service: stop_signal, then SIGKILL after `grace` (default: its stop_timeout)."""
        task = self.task
        if task is None or task.done():
            if self.state != State.STOPPED and is_legal(self.state, State.STOPPED):
                self.set_state(State.STOPPED, error=self.health.error if self.state == State.FAILED else None)
            return
        # One cancellation per stop: a second one (a concurrent restart, `down`) would land inside
        # the first one's cleanup and abandon the old child, alive, next to the next spawn.
        if not task.cancelling():
            self.grace = grace
            task.cancel()
        # The cleanup is bounded: stop_timeout for the tree, then SIGKILL. Past that with a margin,
        # something in the run kept it from ending (a bug): kill the tree and cancel again, so
        # that `down` always returns and leaves nothing running.
        budget = self.spec.stop_timeout if grace is None else grace
        await asyncio.wait({task}, timeout=budget + STOP_MARGIN)
        if not task.done():
            self.ctx.event(f"{self.spec.name} did not stop within {format_duration(budget)}"
                           " of being asked to: killing it")
            self.kill_now()
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_MARGIN)
            if not task.done():
                self.ctx.event(f"{self.spec.name}: devstack could not end this service's run "
                               "(an internal error); its processes were killed")
                if is_legal(self.state, State.STOPPED):
                    self.set_state(State.STOPPED)
                return
        await _finished(task)

    def redefine(self, spec: ServiceSpec) -> None:
        """Take a new definition from an edited stack.toml (`up` again); the service is stopped."""
        assert not self.running, "stop a service before it is redefined"
        self.spec = spec
        self.restarts = 0

    def kill_now(self) -> None:
        """SIGKILL the current child's tree at once (a second Ctrl-C)."""
        if self.current is not None:
            self.current.child.kill()

    # ------------------------------------------------------------------ the lifecycle

    async def run(self, wait_for_deps: bool) -> None:
        name = self.spec.name
        checks: asyncio.Future[str | None] | None = None
        try:
            problem = await self._set_up() if self.setup_first and self.spec.setup is not None else None
            if problem:
                self._fail(problem)
                return
            # The checks run while the dependencies start, so a ready dependency is not kept waiting.
            checks = asyncio.ensure_future(self.ctx.doctor.preflight(self.spec))
            checks.add_done_callback(functools.partial(self.ctx.timeline.preflight_done, name))
            if wait_for_deps and self.spec.depends_on:
                problem = await self._wait_for_dependencies()
                if problem:
                    checks.cancel()
                    self._fail(problem)
                    return
            problem = await checks
            if problem:
                self._fail(problem)
                return
            while True:
                try:
                    outcome = await self._run_once()
                except SpawnError as exc:
                    self._fail(str(exc))
                    return
                decision = policy.after_exit(self.spec, outcome.exit_code, self.failures, outcome.up_for,
                                             outcome.start_failed, outcome.left_behind)
                self.failures = decision.failures
                what, detail = await self._explain(outcome)
                # status error: the why, in one line; the event line adds how long it ran
                reason = f"{what}: {detail}" if outcome.start_failed and detail else detail or what
                said = f"{name} {what} after {format_duration(outcome.ran_for)}"
                if detail:
                    said += f": {detail}"
                if decision.state == State.EXITED:
                    self.ctx.event(said)
                    self.set_state(State.EXITED, status=HealthStatus.OK)
                    return
                if decision.state == State.FAILED:
                    starts = decision.failures
                    self.ctx.event(f"{said}; not restarted: it would daemonize again"
                                   if outcome.left_behind and outcome.exit_code == 0 else
                                   f"{said}; not restarting: a restart would fail the same way"
                                   if decision.hopeless else
                                   f"{said}; giving up after {starts} failed start{'s' * (starts != 1)}")
                    self.set_state(State.FAILED, status=HealthStatus.ERROR, error=reason)
                    return
                self.ctx.event(f"{said}; restarting in {format_duration(decision.delay)} "
                               f"(attempt {decision.attempt} of {max(1, self.spec.max_restarts)})")
                self.set_state(State.BACKOFF, status=HealthStatus.ERROR, error=reason)
                await self.ctx.clock.sleep(decision.delay)
                self.restarts += 1
        except asyncio.CancelledError:
            if checks is not None:
                checks.cancel()
            await self._stop_child()
            self.set_state(State.STOPPED)
            self.ctx.event(f"{name} stopped")
            raise
        except Exception as exc:  # a bug in devstack must not leave a service in limbo or a child behind
            # The traceback too (in devstack.log and on the terminal): it is the bug report.
            trace = "".join(traceback.format_exception(exc)).rstrip()
            self.ctx.event(f"{name}: internal error ({type(exc).__name__}: {exc}); stopping it\n{trace}")
            if self.current is not None:
                self.current.child.kill()
                self.current = None
            self.state = State.FAILED
            self.health = HealthSnapshot(HealthStatus.ERROR, None, None, f"devstack internal error: {exc}")
            self.ctx.notifier.notify()

    async def _set_up(self) -> str | None:
        """Run the service's setup first when it never ran or what it built is out of date
        (diagnosis.py asks doctor/setup.py); why it failed, or None."""
        spec, ctx = self.spec, self.ctx
        reason = await ctx.doctor.setup_needed(spec)
        if reason is None:
            return None
        text = setup_text(spec)
        ctx.event(f"{spec.name}: {reason}; running its setup first: {text}")
        self.set_state(State.PENDING, status=HealthStatus.WARN, error=f"running its setup: {text}")
        began = ctx.clock.monotonic()
        self.log.new_run()
        code = await run_setup(ctx.spawner, ctx.clock, spec, {**ctx.build_env(spec), TAG_VAR: self.tag},
                               self.log.output)
        if code == 0:
            ctx.event(f"{spec.name}: setup done in {format_duration(ctx.clock.monotonic() - began)}")
            write_record(ctx.stack, spec)
            return None
        why = await ctx.doctor.crashed(spec, list(self.log.recent), self.peer_view())
        return (f"its setup ({text}) {exit_text(code)}: "
                + (why or f"{last_meaningful_line(list(self.log.recent)) or 'no output'}; "
                           f"its output is in `devstack logs {spec.name}`"))

    def _fail(self, reason: str) -> None:
        self.ctx.event(f"{self.spec.name} failed: {reason}")
        self.set_state(State.FAILED, status=HealthStatus.ERROR, error=reason)

    async def _explain(self, outcome: Outcome) -> tuple[str, str | None]:
        """(what happened, why) for a run that ended: the why is a known failure signature in
        its output, else the probe's complaint or the last meaningful line it printed."""
        if outcome.left_behind and outcome.reason:
            return outcome.reason  # what it left running says more than its last words
        lines = list(self.log.recent)
        known = await self.ctx.doctor.crashed(self.spec, lines, self.peer_view())
        if outcome.reason:
            what, probe_error = outcome.reason
            return what, known or probe_error
        return exit_text(outcome.exit_code), known or last_meaningful_line(lines)

    async def _wait_for_dependencies(self) -> str | None:
        deps = self.spec.depends_on
        waiting = ", ".join(f"{d} ({c})" for d, c in deps.items())
        self.set_state(State.PENDING, status=HealthStatus.WARN, error=f"waiting for {waiting}")
        verdict: tuple[bool, str | None] = (False, None)

        def met() -> bool:
            nonlocal verdict
            verdict = policy.dependencies_met(deps, {d: self.peers[d].as_dependency() for d in deps})
            return verdict[0]

        await self.ctx.notifier.wait_for(met)
        return verdict[1]

    async def _run_once(self) -> Outcome:
        spec, ctx = self.spec, self.ctx
        env = dict(ctx.build_env(spec))
        env[TAG_VAR] = self.tag
        self.log.new_run()
        ready_line = listen_for_ready_line(spec.health, self.log) \
            if spec.health and spec.health.kind == ProbeKind.LOG else None
        child = await ctx.spawner.spawn(shell_argv(spec.command), spec.cwd, env, self.log.output)
        run = self.current = Run(child, ctx.clock.wall(), ctx.clock.monotonic())
        ctx.timeline.spawned(spec.name, spec.port, self.log)
        self.exit_code = None
        self.ever_started = True
        self.set_state(State.STARTING, status=HealthStatus.WARN)
        ctx.event(f"{spec.name} started (pid {child.pid})")
        exit_task = asyncio.ensure_future(child.wait())
        watch_task = asyncio.ensure_future(Watch(self, run, env, ready_line).until_ended())
        try:
            await asyncio.wait({exit_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            watch_task.cancel()
            exit_task.cancel()
            raise
        up_for = (ctx.clock.monotonic() - run.up_since) if run.up_since is not None else None
        exit_task_first = exit_task.done()
        if exit_task_first:
            watch_task.cancel()
            await _finished(watch_task)
            code = exit_task.result()
            # What it left running (a daemon, a server sent to the background) is named, then
            # stopped with it before the drain: it may hold the pipes and the port for as long
            # as it lives.
            left = await child.left_behind(policy.LEFT_BEHIND_GRACE, ctx.clock.sleep, spec.port)
            await child.stop(int(spec.stop_signal), spec.stop_timeout, ctx.clock.sleep)
            await child.drained(1.0)
            reason: Reason | None = None
            if left:
                what = "daemonized" if code == 0 else exit_text(code)
                reason = (what, left_behind_reason(spec.name, code, left, spec.port, spec.command))
        else:
            reason = watch_task.result()
            await self._stop_child(keep=True)
            code = await exit_task
            await child.stop(int(spec.stop_signal), spec.stop_timeout, ctx.clock.sleep)
        self.exit_code = 128 - code if code < 0 else code
        self.current = None
        ran_for = ctx.clock.monotonic() - run.started_mono
        if exit_task_first:
            return Outcome(code, ran_for, up_for, reason=reason, left_behind=reason is not None)
        return Outcome(code, ran_for, up_for, start_failed=reason is not None, reason=reason)

    async def _stop_child(self, keep: bool = False) -> None:
        """Stop the current child's tree: stop_signal, then SIGKILL after stop_timeout."""
        if self.current is None:
            return
        child = self.current.child
        spec = self.spec
        grace = spec.stop_timeout if self.grace is None else self.grace
        self.grace = None
        killed = await child.stop(int(spec.stop_signal), grace, self.ctx.clock.sleep)
        if killed:
            self.ctx.event(f"{spec.name} did not stop within {format_duration(grace)} "
                           f"of {spec.stop_signal.name}; killed it")
        try:
            await child.drained(0.5)
        except asyncio.CancelledError:
            # Mid-run (keep: ended for being unhealthy), a `down` now must still stop the service;
            # on the way out of a cancelled run, a second cancellation must not skip the cleanup.
            if keep:
                raise
        if not keep:
            self.current = None

