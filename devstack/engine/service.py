"""One service's lifecycle as a linear coroutine: wait for dependencies → pre-flight → spawn →
watch (probe / liveness) → decide (policy.py) → back off → again. Stopping is cancellation:
whatever the run was doing, the child's whole tree is stopped on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.config.durations import format_duration
from devstack.config.specs import Condition, HealthSpec, ProbeKind, ServiceSpec, StackSpec
from devstack.doctor.peers import Peer
from devstack.doctor.setups import setup_text, write_record
from devstack.engine import policy
from devstack.engine.clock import Clock
from devstack.engine.diagnosis import Diagnostics
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
from devstack.errors import SpawnError
from devstack.logs.hub import ServiceLog
from devstack.probes.log import LogProbe
from devstack.probes.result import ProbeResult
from devstack.process.exits import exit_text
from devstack.process.spawn import TAG_VAR, Child, Spawner, UsageMeter, shell_argv
from devstack.text.stamps import SecondText

# One polled probe: (health, cwd, env) → its result. probes.run.run_probe, or a test's fake network.
Prober = Callable[[HealthSpec, Path, Mapping[str, str]], Awaitable[ProbeResult]]


class Notifier:
    """Wakes every waiter when anything changed; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.wait()


@dataclass
class Context:
    """What every service shares: the seams to the outside world, and the stack's notifier."""

    stack: StackSpec
    clock: Clock
    spawner: Spawner
    probe: Prober
    notifier: Notifier
    event: Callable[[str], None]  # devstack's own event lines
    build_env: Callable[[ServiceSpec], Mapping[str, str]]
    doctor: Diagnostics  # pre-flight checks, and why a service is not up (diagnosis.py)
    tag_prefix: str  # "<stack id>/": the env tag of every child of this stack


@dataclass
class Run:
    """One incarnation of the service: its child and what devstack measures of it."""

    child: Child
    started_wall: float  # for status' started_at
    started_mono: float  # for uptime and the start period
    up_since: float | None = None  # monotonic, when it last became healthy/running
    probe_failures: int = 0  # consecutive failed probes
    explanation: str | None = None  # why the last failing probe failed, as devstack sees it
    next_look: float = 0.0  # since start: when a failing probe may be explained again


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    ran_for: float
    up_for: float | None  # how long it had been healthy/running before the exit
    start_failed: bool = False  # devstack ended it: probe never passed, or unhealthy
    reason: tuple[str, str | None] | None = None  # (what devstack saw, the probe's last error)


_utc_seconds = SecondText("%Y-%m-%dT%H:%M:%SZ", utc=True)  # every probe's result is stamped


def _iso(ts: float) -> str:
    return _utc_seconds(int(ts))


_MEANINGFUL = re.compile(r"[A-Za-z0-9]")


def last_meaningful_line(lines: list[str]) -> str | None:
    for line in reversed(lines):
        text = line.strip()
        if _MEANINGFUL.search(text) and not text.startswith("^"):
            return text[:300]
    return None


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

    def _set(self, state: State, *, status: HealthStatus | None = None, error: str | None = None,
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
        if keep_probe:
            self.health = HealthSnapshot(status, self.health.last_checked, self.health.response_time_ms,
                                         error, self.health.address)
        else:
            self.health = HealthSnapshot(status, None, None, error, None)
        self.ctx.notifier.notify()

    def status(self) -> ServiceStatus:
        run = self.current if self.state in LIVE_STATES else None
        usage = self._meter.measure(run.child.pid if run else None)
        uptime = self.ctx.clock.monotonic() - run.started_mono if run else None
        return ServiceStatus(
            name=self.spec.name, state=self.state, optional=self.spec.optional,
            pid=run.child.pid if run else None, port=self.spec.port, restarts=self.restarts,
            started_at=_iso(run.started_wall) if run else None,
            uptime_s=round(uptime, 1) if uptime is not None else None, exit_code=self.exit_code,
            cpu_percent=usage.cpu_percent, memory_rss=usage.memory_rss, health=self.health)

    def as_peer(self) -> Peer:
        """This service as another one's diagnosis sees it."""
        setup = self.spec.setup if isinstance(self.spec.setup, str) or self.spec.setup is None \
            else " ".join(self.spec.setup)
        return Peer(self.spec.name, self.spec.port, str(self.state), self.health.error, setup)

    def _peer_view(self) -> dict[str, Peer]:
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
        self._set(State.PENDING, status=HealthStatus.WARN)
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
                self._set(State.STOPPED, error=self.health.error if self.state == State.FAILED else None)
            return
        # One cancellation per stop: a second one (a concurrent restart, `down`) would land inside
        # the first one's cleanup and abandon the old child, alive, next to the next spawn.
        if not task.cancelling():
            self.grace = grace
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

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
                                             outcome.start_failed)
                self.failures = decision.failures
                what, detail = await self._explain(outcome)
                # status error: the why, in one line; the event line adds how long it ran
                reason = f"{what}: {detail}" if outcome.start_failed and detail else detail or what
                said = f"{name} {what} after {format_duration(outcome.ran_for)}"
                if detail:
                    said += f": {detail}"
                if decision.state == State.EXITED:
                    self.ctx.event(said)
                    self._set(State.EXITED, status=HealthStatus.OK)
                    return
                if decision.state == State.FAILED:
                    starts = decision.failures
                    self.ctx.event(f"{said}; not restarting: a restart would fail the same way"
                                   if decision.hopeless else
                                   f"{said}; giving up after {starts} failed start{'s' * (starts != 1)}")
                    self._set(State.FAILED, status=HealthStatus.ERROR, error=reason)
                    return
                self.ctx.event(f"{said}; restarting in {format_duration(decision.delay)} "
                               f"(attempt {decision.attempt} of {max(1, self.spec.max_restarts)})")
                self._set(State.BACKOFF, status=HealthStatus.ERROR, error=reason)
                await self.ctx.clock.sleep(decision.delay)
                self.restarts += 1
        except asyncio.CancelledError:
            if checks is not None:
                checks.cancel()
            await self._stop_child()
            self._set(State.STOPPED)
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
        self._set(State.PENDING, status=HealthStatus.WARN, error=f"running its setup: {text}")
        began = ctx.clock.monotonic()
        self.log.new_run()
        code = await run_setup(ctx.spawner, ctx.clock, spec, {**ctx.build_env(spec), TAG_VAR: self.tag},
                               self.log.output)
        if code == 0:
            ctx.event(f"{spec.name}: setup done in {format_duration(ctx.clock.monotonic() - began)}")
            write_record(ctx.stack, spec)
            return None
        why = await ctx.doctor.crashed(spec, list(self.log.recent), self._peer_view())
        return (f"its setup ({text}) {exit_text(code)}: "
                + (why or f"{last_meaningful_line(list(self.log.recent)) or 'no output'}; "
                           f"its output is in `devstack logs {spec.name}`"))

    def _fail(self, reason: str) -> None:
        self.ctx.event(f"{self.spec.name} failed: {reason}")
        self._set(State.FAILED, status=HealthStatus.ERROR, error=reason)

    async def _explain(self, outcome: Outcome) -> tuple[str, str | None]:
        """(what happened, why) for a run that ended: the why is a known failure signature in
        its output, else the probe's complaint or the last meaningful line it printed."""
        lines = list(self.log.recent)
        known = await self.ctx.doctor.crashed(self.spec, lines, self._peer_view())
        if outcome.reason:
            what, probe_error = outcome.reason
            return what, known or probe_error
        return exit_text(outcome.exit_code), known or last_meaningful_line(lines)

    async def _wait_for_dependencies(self) -> str | None:
        deps = self.spec.depends_on
        waiting = ", ".join(f"{d} ({c})" for d, c in deps.items())
        self._set(State.PENDING, status=HealthStatus.WARN, error=f"waiting for {waiting}")

        def check() -> tuple[bool, str | None]:
            met = True
            for dep, condition in deps.items():
                peer = self.peers[dep]
                if peer.state == State.FAILED:
                    if peer.spec.optional:
                        continue  # an optional service's failure never stops the others
                    return True, f"dependency {dep} failed"
                if condition == Condition.COMPLETED:
                    met &= peer.state == State.EXITED
                elif condition == Condition.STARTED:
                    met &= peer.ever_started
                else:
                    met &= peer.state in UP_STATES
            return met, None

        result: tuple[bool, str | None] = (False, None)

        def done() -> bool:
            nonlocal result
            result = check()
            return result[0]

        await self.ctx.notifier.wait_for(done)
        return result[1]

    async def _run_once(self) -> Outcome:
        spec, ctx = self.spec, self.ctx
        env = dict(ctx.build_env(spec))
        env[TAG_VAR] = self.tag
        self.log.new_run()
        log_probe = self._watch_log() if spec.health and spec.health.kind == ProbeKind.LOG else None
        child = await ctx.spawner.spawn(shell_argv(spec.command), spec.cwd, env, self.log.output)
        run = self.current = Run(child, ctx.clock.wall(), ctx.clock.monotonic())
        self.exit_code = None
        self.ever_started = True
        self._set(State.STARTING, status=HealthStatus.WARN)
        ctx.event(f"{spec.name} started (pid {child.pid})")
        exit_task = asyncio.ensure_future(child.wait())
        watch_task = asyncio.ensure_future(self._watch(env, log_probe))
        try:
            await asyncio.wait({exit_task, watch_task}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            watch_task.cancel()
            exit_task.cancel()
            raise
        up_for = (ctx.clock.monotonic() - run.up_since) if run.up_since is not None else None
        if exit_task.done():
            watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch_task
            code = exit_task.result()
            # Anything the leader left behind (children in its group, escaped ones) goes with it,
            # before the drain: they may hold the pipes (and the port) for as long as they live.
            await child.stop(int(spec.stop_signal), spec.stop_timeout, ctx.clock.sleep)
            await child.drained(1.0)
            reason = None
        else:
            reason = watch_task.result()
            await self._stop_child(keep=True)
            code = await exit_task
            await child.stop(int(spec.stop_signal), spec.stop_timeout, ctx.clock.sleep)
        self.exit_code = 128 - code if code < 0 else code
        self.current = None
        ran_for = ctx.clock.monotonic() - run.started_mono
        return Outcome(code, ran_for, up_for, start_failed=reason is not None, reason=reason)

    def _watch_log(self) -> asyncio.Event:
        assert self.spec.health is not None
        probe = LogProbe(self.spec.health.target)
        matched = asyncio.Event()

        def listener(stream: str, lines: list[str]) -> None:
            if not matched.is_set() and any(probe.matches(line) for line in lines):
                matched.set()
                remove()

        remove = self.log.add_listener(listener)
        return matched

    async def _watch(self, env: Mapping[str, str],
                     log_probe: asyncio.Event | None) -> tuple[str, str | None] | None:
        """Watch a started child until it is up, then keep probing. Returns a reason when devstack
        must end this run (never came up within start_period; unhealthy with restart_on_unhealthy);
        otherwise runs until cancelled (the child exited)."""
        spec, ctx = self.spec, self.ctx
        health = spec.health
        if health is None:
            await ctx.clock.sleep(policy.ALIVE_WINDOW)
            self._set(State.RUNNING, status=HealthStatus.OK)
            await asyncio.Event().wait()
            return None
        if log_probe is not None:
            # The start period is waited through the clock, like every wait whose length comes
            # from the config: a test's clock moves it by hand.
            matched = asyncio.ensure_future(log_probe.wait())
            deadline = asyncio.ensure_future(ctx.clock.sleep(health.start_period))
            try:
                await asyncio.wait({matched, deadline}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                matched.cancel()
                deadline.cancel()
            if not log_probe.is_set():
                return (f"printed no line matching {health.target!r} within "
                        f"{format_duration(health.start_period)}", None)
            self._set(State.RUNNING, status=HealthStatus.OK)
            await asyncio.Event().wait()
            return None
        return await self._probe_loop(health.start_period, env)

    async def _probe_loop(self, start_period: float,
                          env: Mapping[str, str]) -> tuple[str, str | None] | None:
        """Probe until devstack must end the run (see `_watch`): each result is checked against
        who answers it (`_checked`), judged by policy (pure), and the verdict applied here."""
        spec, ctx, run = self.spec, self.ctx, self.current
        assert spec.health is not None and run is not None
        health = spec.health
        # While it starts, a line of output (Spring's "Started …", uvicorn's "Application startup
        # complete") brings the next probe forward: readiness is seen at once, not a poll later.
        output = asyncio.Event()
        stop_listening: Callable[[], None] | None = self.log.add_listener(lambda _s, _l: output.set())
        try:
            while True:
                output.clear()
                result = await ctx.probe(health, spec.cwd, env)
                since_start = ctx.clock.monotonic() - run.started_mono
                result, taken = await self._checked(result, run, since_start)
                self._record(result)
                verdict = policy.judge_probe(self.state, result.ok, run.probe_failures, health.retries,
                                             since_start, start_period, spec.restart_on_unhealthy)
                run.probe_failures = verdict.failures
                ended = self._apply(verdict, result, since_start)
                if ended is not None:
                    return ended
                delay = policy.probe_delay(self.state, since_start, health.interval)
                if taken:
                    await ctx.clock.sleep(max(delay, 0.25))  # the port is taken: no point in probing fast
                elif self.state == State.STARTING:
                    await self._sleep_or_output(delay, output)
                else:
                    if stop_listening is not None:  # up: the log relay's fast path again
                        stop_listening()
                        stop_listening = None
                    if result.ok:
                        # Up and passing: on the tick shared by every service of this interval. After
                        # a failure the next probe waits a whole interval, so `retries` keep their timing.
                        delay = policy.next_tick(ctx.clock.monotonic(), delay)
                    await ctx.clock.sleep(delay)
        finally:
            if stop_listening is not None:
                stop_listening()

    async def _checked(self, result: ProbeResult, run: Run,
                       since_start: float) -> tuple[ProbeResult, bool]:
        """The probe's result, corrected by who answers it, and whether another process holds the
        service's port. A passing probe is never trusted
        without looking at who answered, also once up: a service that stops listening must not
        stay healthy on the strength of another process answering the same port on the other
        family (cheap: the service's own socket is remembered). A failing one is explained (where
        the service listens, which other service it cannot reach) at most once a second: that
        scans every socket of the machine."""
        spec, doctor = self.spec, self.ctx.doctor
        if self.state not in (State.STARTING, State.HEALTHY, State.UNHEALTHY):
            return result, False
        if result.ok:
            impostor = await doctor.impostor(spec, run.child.pid, run.started_wall)
            if impostor:
                return ProbeResult(False, impostor, result.response_time_ms, result.address), True
            return result, False
        if since_start >= run.next_look:
            run.next_look = since_start + 1.0
            run.explanation = await doctor.probe_failed(spec, run.child.pid, list(self.log.recent),
                                                        result.error, self._peer_view())
        if run.explanation:
            return ProbeResult(False, run.explanation, result.response_time_ms, result.address), False
        return result, False

    def _apply(self, verdict: policy.ProbeVerdict, result: ProbeResult,
               since_start: float) -> tuple[str, str | None] | None:
        """Carry out a probe verdict: the state change and its event line. Returns why the run
        must end, or None."""
        spec = self.spec
        if verdict.gave_up:
            return (f"health probe did not pass within {format_duration(spec.health.start_period)}"
                    if spec.health else "health probe did not pass", result.error)
        if verdict.state != self.state:
            if verdict.state == State.HEALTHY:
                self.ctx.event(f"{spec.name} is healthy after {format_duration(since_start)}"
                               if self.state == State.STARTING else f"{spec.name} is healthy again")
                self._set(State.HEALTHY, status=HealthStatus.OK, keep_probe=True)
            elif verdict.state == State.UNHEALTHY:
                self.ctx.event(f"{spec.name} is unhealthy: {result.error}")
                self._set(State.UNHEALTHY, status=HealthStatus.ERROR, error=result.error, keep_probe=True)
        if verdict.restart:
            return "unhealthy", result.error
        return None

    async def _sleep_or_output(self, delay: float, output: asyncio.Event) -> None:
        """Wait `delay`, or less once the service printed something: but at least OUTPUT_FLOOR,
        so a service that floods its output while it starts is not probed back to back."""
        clock = self.ctx.clock
        floor = min(delay, policy.OUTPUT_FLOOR)
        await clock.sleep(floor)
        if output.is_set() or delay <= floor:
            return
        printed = asyncio.ensure_future(output.wait())
        rest = asyncio.ensure_future(clock.sleep(delay - floor))
        try:
            await asyncio.wait({printed, rest}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            printed.cancel()
            rest.cancel()

    def _record(self, result: ProbeResult) -> None:
        if result.ok:
            status = HealthStatus.OK if self.state in UP_STATES else HealthStatus.WARN
        else:
            status = HealthStatus.ERROR if self.state == State.UNHEALTHY else HealthStatus.WARN
        self.health = HealthSnapshot(status, _iso(self.ctx.clock.wall()), result.response_time_ms,
                                     None if result.ok else result.error, result.address)

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
        with contextlib.suppress(asyncio.CancelledError):
            await child.drained(0.5)
        if not keep:
            self.current = None

