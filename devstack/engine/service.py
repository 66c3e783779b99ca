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
from devstack.engine import policy
from devstack.engine.clock import Clock
from devstack.engine.states import UP_STATES, HealthSnapshot, HealthStatus, ServiceStatus, State, is_legal
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
    # Before a service's first start (not before restarts): an error that keeps it from starting.
    preflight: Callable[[ServiceSpec], Awaitable[str | None]]
    # Why a process died, from its last output lines (signatures.py), or None.
    diagnose: Callable[[ServiceSpec, list[str]], Awaitable[str | None]]
    # (spec, child pid, its start wall time) → "port 8001 is answered by pid N …, not by api" or None
    find_impostor: Callable[[ServiceSpec, int, float], Awaitable[str | None]]
    # (spec, child pid) → "api listens on 127.0.0.1:8002, not on port 8001 …" or None
    explain_probe_failure: Callable[[ServiceSpec, int], Awaitable[str | None]]
    tag_prefix: str  # "<stack id>/": the env tag of every child of this stack


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
        self.child: Child | None = None
        self.restarts = 0
        self.failures = 0  # consecutive failed starts
        self.exit_code: int | None = None
        self.started_at: float | None = None  # wall time of the current child's start
        self._started_mono = 0.0
        self._up_since: float | None = None  # monotonic, when it last became healthy/running
        self.ever_started = False
        self.health = HealthSnapshot()
        self._probe_failures = 0
        self._meter = UsageMeter()
        self.tag = f"{ctx.tag_prefix}{spec.name}"

    # ------------------------------------------------------------------ state

    def _set(self, state: State, *, status: HealthStatus | None = None, error: str | None = None,
             keep_probe: bool = False) -> None:
        if not is_legal(self.state, state):
            raise AssertionError(f"{self.spec.name}: illegal transition {self.state} → {state}")
        if state in UP_STATES and self.state not in UP_STATES:
            self._up_since = self.ctx.clock.monotonic()
        elif state not in UP_STATES and state != State.UNHEALTHY:
            self._up_since = None
        self.state = state
        if keep_probe:
            self.health = HealthSnapshot(status, self.health.last_checked, self.health.response_time_ms,
                                         error, self.health.address)
        else:
            self.health = HealthSnapshot(status, None, None, error, None)
        self.ctx.notifier.notify()

    def status(self) -> ServiceStatus:
        live = self.child is not None and self.state in {State.STARTING, State.HEALTHY, State.RUNNING,
                                                         State.UNHEALTHY}
        pid = self.child.pid if live and self.child is not None else None
        usage = self._meter.measure(pid)
        uptime = self.ctx.clock.monotonic() - self._started_mono if live else None
        return ServiceStatus(
            name=self.spec.name, state=self.state, optional=self.spec.optional, pid=pid,
            port=self.spec.port, restarts=self.restarts,
            started_at=_iso(self.started_at) if live and self.started_at else None,
            uptime_s=round(uptime, 1) if uptime is not None else None, exit_code=self.exit_code,
            cpu_percent=usage.cpu_percent, memory_rss=usage.memory_rss, health=self.health)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    # ------------------------------------------------------------------ control

    def start(self, wait_for_deps: bool = True) -> None:
        if self.running:
            return
        self.failures = 0
        # Pending at once, so that anyone waiting for the service to settle sees it is on its way.
        self._set(State.PENDING, status=HealthStatus.WARN)
        # A task of its own, not one in a TaskGroup: each service is started and cancelled on its
        # own (start/stop/restart requests) while the supervisor lives, and a TaskGroup cancels
        # every sibling when one task fails, the opposite of keeping one service's failure from
        # touching the others (run() turns its own errors into state). The supervisor awaits
        # every task it started: stop() awaits it, and shutdown() stops every service.
        self.task = asyncio.create_task(self.run(wait_for_deps), name=f"service:{self.spec.name}")

    async def stop(self) -> None:
        task = self.task
        if task is None or task.done():
            if self.state != State.STOPPED and is_legal(self.state, State.STOPPED):
                self._set(State.STOPPED, error=self.health.error if self.state == State.FAILED else None)
            return
        # One cancellation per stop: a second one (a concurrent restart, `down`) would land inside
        # the first one's cleanup and abandon the old child, alive, next to the next spawn.
        if not task.cancelling():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def kill_now(self) -> None:
        """SIGKILL the current child's tree at once (a second Ctrl-C)."""
        if self.child is not None:
            self.child.kill()

    # ------------------------------------------------------------------ the lifecycle

    async def run(self, wait_for_deps: bool) -> None:
        name = self.spec.name
        # The checks run while the dependencies start, so a ready dependency is not kept waiting.
        checks = asyncio.ensure_future(self.ctx.preflight(self.spec))
        try:
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
                    self.ctx.event(f"{said}; giving up after {starts} failed start{'s' * (starts != 1)}")
                    self._set(State.FAILED, status=HealthStatus.ERROR, error=reason)
                    return
                self.ctx.event(f"{said}; restarting in {format_duration(decision.delay)} "
                               f"(attempt {decision.attempt} of {max(1, self.spec.max_restarts)})")
                self._set(State.BACKOFF, status=HealthStatus.ERROR, error=reason)
                await self.ctx.clock.sleep(decision.delay)
                self.restarts += 1
        except asyncio.CancelledError:
            checks.cancel()
            await self._stop_child()
            self._set(State.STOPPED)
            self.ctx.event(f"{name} stopped")
            raise
        except Exception as exc:  # a bug in devstack must not leave a service in limbo or a child behind
            # The traceback too (in devstack.log and on the terminal): it is the bug report.
            trace = "".join(traceback.format_exception(exc)).rstrip()
            self.ctx.event(f"{name}: internal error ({type(exc).__name__}: {exc}); stopping it\n{trace}")
            if self.child is not None:
                self.child.kill()
                self.child = None
            self.state = State.FAILED
            self.health = HealthSnapshot(HealthStatus.ERROR, None, None, f"devstack internal error: {exc}")
            self.ctx.notifier.notify()

    def _fail(self, reason: str) -> None:
        self.ctx.event(f"{self.spec.name} failed: {reason}")
        self._set(State.FAILED, status=HealthStatus.ERROR, error=reason)

    async def _explain(self, outcome: Outcome) -> tuple[str, str | None]:
        """(what happened, why) for a run that ended: the why is a known failure signature in
        its output, else the probe's complaint or the last meaningful line it printed."""
        lines = list(self.log.recent)
        known = await self.ctx.diagnose(self.spec, lines)
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
                        continue  # an optional service's failure never stops the others (SPEC)
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
        self._probe_failures = 0
        log_probe = self._watch_log() if spec.health and spec.health.kind == ProbeKind.LOG else None
        self.child = await ctx.spawner.spawn(shell_argv(spec.command), spec.cwd, env, self.log.output)
        child = self.child
        self.started_at = ctx.clock.wall()
        self._started_mono = ctx.clock.monotonic()
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
        up_for = (ctx.clock.monotonic() - self._up_since) if self._up_since is not None else None
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
        self.child = None
        ran_for = ctx.clock.monotonic() - self._started_mono
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
        spec, ctx = self.spec, self.ctx
        assert spec.health is not None and self.child is not None
        health, pid = spec.health, self.child.pid
        impostor: str | None = None  # who answers the probe, when it is not the service
        mismatch: str | None = None  # where the service listens, when the probe fails
        next_look = 0.0
        while True:
            result = await ctx.probe(health, spec.cwd, env)
            since_start = ctx.clock.monotonic() - self._started_mono
            delay = policy.probe_delay(self.state, since_start, health.interval)
            if self.state in (State.STARTING, State.HEALTHY, State.UNHEALTHY):
                # Never trust a passing probe without looking at who answers it, also once up: a
                # service that stops listening must not stay healthy on the strength of another
                # process answering the same port on the other family. (Cheap: the service's own
                # socket is remembered.) Explain a failing one by where the service listens, at
                # most once a second: that scans every socket of the machine.
                if result.ok:
                    impostor = await ctx.find_impostor(spec, pid, self.started_at or 0.0)
                elif since_start >= next_look:
                    next_look = since_start + 1.0
                    impostor, mismatch = None, await ctx.explain_probe_failure(spec, pid)
                if result.ok and impostor:
                    result = ProbeResult(False, impostor, result.response_time_ms, result.address)
                    delay = max(delay, 0.25)  # the port is taken: no point in probing fast
                elif not result.ok and mismatch:
                    result = ProbeResult(False, mismatch, result.response_time_ms, result.address)
            self._record(result)
            verdict = policy.after_probe(self.state, result.ok, self._probe_failures, health.retries)
            self._probe_failures = verdict.failures
            if self.state == State.STARTING and not result.ok and since_start >= start_period:
                return f"health probe did not pass within {format_duration(start_period)}", result.error
            if verdict.state != self.state:
                became = verdict.state
                if became == State.HEALTHY:
                    ctx.event(f"{spec.name} is healthy after {format_duration(since_start)}"
                              if self.state == State.STARTING else f"{spec.name} is healthy again")
                    self._set(State.HEALTHY, status=HealthStatus.OK, keep_probe=True)
                elif became == State.UNHEALTHY:
                    ctx.event(f"{spec.name} is unhealthy: {result.error}")
                    self._set(State.UNHEALTHY, status=HealthStatus.ERROR, error=result.error,
                              keep_probe=True)
                    if spec.restart_on_unhealthy:
                        return "unhealthy", result.error
            if self.state != State.STARTING and result.ok:
                # Up and passing: on the tick shared by every service of this interval. After a
                # failure the next probe waits a whole interval, so `retries` keep their timing.
                delay = policy.next_tick(ctx.clock.monotonic(), delay)
            await ctx.clock.sleep(delay)

    def _record(self, result: ProbeResult) -> None:
        if result.ok:
            status = HealthStatus.OK if self.state in UP_STATES else HealthStatus.WARN
        else:
            status = HealthStatus.ERROR if self.state == State.UNHEALTHY else HealthStatus.WARN
        self.health = HealthSnapshot(status, _iso(self.ctx.clock.wall()), result.response_time_ms,
                                     None if result.ok else result.error, result.address)

    async def _stop_child(self, keep: bool = False) -> None:
        """Stop the current child's tree: stop_signal, then SIGKILL after stop_timeout."""
        child = self.child
        if child is None:
            return
        spec = self.spec
        killed = await child.stop(int(spec.stop_signal), spec.stop_timeout, self.ctx.clock.sleep)
        if killed:
            self.ctx.event(f"{spec.name} did not stop within {format_duration(spec.stop_timeout)} "
                           f"of {spec.stop_signal.name}; killed it")
        with contextlib.suppress(asyncio.CancelledError):
            await child.drained(0.5)
        if not keep:
            self.child = None

