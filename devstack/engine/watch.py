"""Watching one started child until it is up, then for as long as it runs: the log-line probe,
or the polled probe's loop (probe → check who answered → policy judges → the verdict applied),
with a ready line of output bringing the next probe forward while the service starts.

The service (service.py) owns the lifecycle and its state; a watch only reads the service
through `Watched` and reports back through `set_state`, so the two cannot tangle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from devstack.config.durations import format_duration
from devstack.config.specs import HealthSpec, ServiceSpec
from devstack.doctor.daemons import waits_for_its_server
from devstack.doctor.peers import Peer
from devstack.engine import policy
from devstack.engine.context import Context
from devstack.engine.states import UP_STATES, HealthSnapshot, HealthStatus, State
from devstack.logs.hub import ServiceLog
from devstack.probes.log import LogProbe
from devstack.probes.result import ProbeResult
from devstack.process.spawn import Child
from devstack.text.stamps import SecondText

iso_seconds = SecondText("%Y-%m-%dT%H:%M:%SZ", utc=True)  # every probe's result is stamped

# Why devstack ends a run: (what it saw, the probe's last error).
Reason = tuple[str, str | None]


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


class Watched(Protocol):
    """What a watch reads of its service, and how it reports."""

    spec: ServiceSpec
    ctx: Context
    log: ServiceLog
    state: State
    health: HealthSnapshot

    def set_state(self, state: State, *, status: HealthStatus | None = None, error: str | None = None,
                  keep_probe: bool = False) -> None: ...

    def peer_view(self) -> dict[str, Peer]: ...


def listen_for_ready_line(health: HealthSpec, log: ServiceLog) -> asyncio.Event:
    """Set once the service prints a line matching its log probe. Listening starts before the
    spawn, so a line printed at once is not missed."""
    probe = LogProbe(health.target)
    matched = asyncio.Event()

    def listener(stream: str, lines: list[str]) -> None:
        if not matched.is_set() and any(probe.matches(line) for line in lines):
            matched.set()
            remove()

    remove = log.add_listener(listener)
    return matched


class Watch:
    def __init__(self, service: Watched, run: Run, env: Mapping[str, str],
                 ready_line: asyncio.Event | None) -> None:
        self.service = service
        self.spec = service.spec
        self.ctx = service.ctx
        self.run = run
        self.env = env
        self.ready_line = ready_line
        self._launcher = waits_for_its_server(self.spec.command)  # pg_ctl start: see _checked

    async def until_ended(self) -> Reason | None:
        """Watch until the service is up, then keep watching. Returns a reason when devstack must
        end this run (never came up within start_period; unhealthy with restart_on_unhealthy);
        otherwise runs until cancelled (the child exited)."""
        health, clock = self.spec.health, self.ctx.clock
        if health is None:
            await clock.sleep(policy.ALIVE_WINDOW)
            self.service.set_state(State.RUNNING, status=HealthStatus.OK)
            await asyncio.Event().wait()
            return None
        if self.ready_line is not None:
            # The start period is waited through the clock, like every wait whose length comes
            # from the config: a test's clock moves it by hand.
            matched = asyncio.ensure_future(self.ready_line.wait())
            deadline = asyncio.ensure_future(clock.sleep(health.start_period))
            try:
                await asyncio.wait({matched, deadline}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                matched.cancel()
                deadline.cancel()
            if not self.ready_line.is_set():
                return (f"printed no line matching {health.target!r} within "
                        f"{format_duration(health.start_period)}", None)
            self.service.set_state(State.RUNNING, status=HealthStatus.OK)
            await asyncio.Event().wait()
            return None
        return await self._probe_loop(health)

    async def _probe_loop(self, health: HealthSpec) -> Reason | None:
        """Probe until devstack must end the run: each result is checked against who answers it
        (`_checked`), judged by policy (pure), and the verdict applied here."""
        service, spec, ctx, run = self.service, self.spec, self.ctx, self.run
        # While it starts, a line of output (Spring's "Started …", uvicorn's "Application startup
        # complete") brings the next probe forward: readiness is seen at once, not a poll later.
        output = asyncio.Event()
        stop_listening: Callable[[], None] | None = service.log.add_listener(lambda _s, _l: output.set())
        try:
            while True:
                output.clear()
                result = await ctx.probe(health, spec.cwd, self.env)
                since_start = ctx.clock.monotonic() - run.started_mono
                result, taken = await self._checked(result, since_start)
                self._record(result)
                verdict = policy.judge_probe(service.state, result.ok, run.probe_failures, health.retries,
                                             since_start, health.start_period, spec.restart_on_unhealthy)
                run.probe_failures = verdict.failures
                ended = self._apply(verdict, result, since_start)
                if ended is not None:
                    return ended
                delay = policy.probe_delay(service.state, since_start, health.interval)
                if taken:
                    await ctx.clock.sleep(max(delay, 0.25))  # the port is taken: no point in probing fast
                elif service.state == State.STARTING:
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

    async def _checked(self, result: ProbeResult, since_start: float) -> tuple[ProbeResult, bool]:
        """The probe's result, corrected by who answers it, and whether another process holds the
        service's port. A passing probe is never trusted without looking at who answered, also
        once up: a service that stops listening must not stay healthy on the strength of another
        process answering the same port on the other family (cheap: the service's own socket is
        remembered). A failing one is explained (where the service listens, which other service
        it cannot reach) at most once a second: that scans every socket of the machine."""
        service, spec, doctor, run = self.service, self.spec, self.ctx.doctor, self.run
        if service.state not in (State.STARTING, State.HEALTHY, State.UNHEALTHY):
            return result, False
        if result.ok:
            impostor = await doctor.impostor(spec, run.child.pid, run.started_wall)
            if impostor:
                return ProbeResult(False, impostor, result.response_time_ms, result.address), True
            if self._launcher is not None:
                # It answers, but the process devstack started is `pg_ctl start`, which exits once
                # its server is ready: that server would be a daemon, not the service.
                waiting = (f"its server answers, but `{self._launcher.name}` is still running: it "
                           "starts the server in the background and exits")
                return ProbeResult(False, waiting, result.response_time_ms, result.address), False
            return result, False
        if since_start >= run.next_look:
            run.next_look = since_start + 1.0
            run.explanation = await doctor.probe_failed(spec, run.child.pid, list(service.log.recent),
                                                        result.error, service.peer_view())
        if run.explanation:
            return ProbeResult(False, run.explanation, result.response_time_ms, result.address), False
        return result, False

    def _apply(self, verdict: policy.ProbeVerdict, result: ProbeResult, since_start: float) -> Reason | None:
        """Carry out a probe verdict: the state change and its event line. Returns why the run
        must end, or None."""
        service, spec = self.service, self.spec
        if verdict.gave_up:
            return (f"health probe did not pass within {format_duration(spec.health.start_period)}"
                    if spec.health else "health probe did not pass", result.error)
        if verdict.state != service.state:
            if verdict.state == State.HEALTHY:
                self.ctx.event(f"{spec.name} is healthy after {format_duration(since_start)}"
                               if service.state == State.STARTING else f"{spec.name} is healthy again")
                service.set_state(State.HEALTHY, status=HealthStatus.OK, keep_probe=True)
            elif verdict.state == State.UNHEALTHY:
                self.ctx.event(f"{spec.name} is unhealthy: {result.error}")
                service.set_state(State.UNHEALTHY, status=HealthStatus.ERROR, error=result.error,
                                  keep_probe=True)
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
        service = self.service
        if result.ok:
            status = HealthStatus.OK if service.state in UP_STATES else HealthStatus.WARN
        else:
            status = HealthStatus.ERROR if service.state == State.UNHEALTHY else HealthStatus.WARN
        service.health = HealthSnapshot(status, iso_seconds(int(self.ctx.clock.wall())),
                                        result.response_time_ms, None if result.ok else result.error,
                                        result.address)
