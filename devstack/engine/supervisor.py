"""The supervisor: owns the services of one stack and offers the narrow API that every front end
(foreground `up`, the control socket) uses: start, stop, restart, wait, status, shutdown, and
apply (the stack file as it now is, after an edit).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from devstack.config.diff import StackChanges, diff_stacks
from devstack.config.specs import ServiceSpec, StackSpec
from devstack.engine.clock import Clock
from devstack.engine.coalesce import Coalescer
from devstack.engine.context import Context, Notifier, Prober
from devstack.engine.diagnosis import Diagnostics
from devstack.engine.edits import SourceFile, change_lines
from devstack.engine.service import Service
from devstack.engine.states import SETTLED_STATES, UP_STATES, stack_state
from devstack.engine.timeline import NoTimeline, Timeline
from devstack.errors import UsageError
from devstack.logs.hub import LogHub, LogTap
from devstack.process.spawn import Spawner
from devstack.text.suggest import unknown_service_message

SHUTTING_DOWN = "the stack is shutting down; nothing can be restarted now"


class Supervisor:
    def __init__(self, stack: StackSpec, *, clock: Clock, spawner: Spawner, hub: LogHub,
                 probe: Prober,
                 build_env: Callable[[ServiceSpec], Mapping[str, str]], doctor: Diagnostics,
                 tag_prefix: str, on_stack: Callable[[StackSpec], None] | None = None,
                 timeline: Timeline | None = None) -> None:
        self.stack = stack
        self.on_stack = on_stack  # told of each new definition `apply` takes (the app's env and checks)
        self.hub = hub
        self.notifier = Notifier()
        self.started_at = clock.wall()
        self.shutting_down = False
        self.restarts = Coalescer(on_change=self.notifier.notify)
        self.ctx = Context(stack=stack, clock=clock, spawner=spawner, probe=probe, notifier=self.notifier,
                           event=hub.event, build_env=build_env, doctor=doctor, tag_prefix=tag_prefix,
                           timeline=timeline or NoTimeline())
        self.services: dict[str, Service] = {}
        for name, spec in stack.services.items():
            self.services[name] = Service(spec, self.ctx, hub.add(name), self.services)
        self.done = asyncio.Event()  # set when the supervisor should exit (shutdown finished)
        self._applying = asyncio.Lock()
        self._source = SourceFile(stack.source)

    # ------------------------------------------------------------------ names

    def check_names(self, names: list[str]) -> list[str]:
        for name in names:
            if name not in self.services:
                raise UsageError(unknown_service_message(name, list(self.services)))
        return names

    # ------------------------------------------------------------------ API

    def start(self, names: list[str] | None = None, no_deps: bool = False,
              setup: bool | None = None) -> list[str]:
        """Start the named services (default all) and, unless no_deps, their dependencies;
        `setup`: whether a setup that never ran runs first (None: as at their last start)."""
        if self.shutting_down:
            raise UsageError("the stack is shutting down; run `devstack up` again once it has stopped")
        wanted = self.check_names(names) if names else list(self.services)
        order = wanted if no_deps else self.stack.with_dependencies(wanted)
        started = []
        for name in self.stack.start_order():
            if name in order and not self.services[name].running:
                self.services[name].start(wait_for_deps=not no_deps, setup=setup)
                started.append(name)
        return started

    async def stop(self, names: list[str], timeout: float | None = None) -> None:
        """Stop the named services; `timeout`: how long each gets before SIGKILL (default: its
        stop_timeout)."""
        self.check_names(names)
        await asyncio.gather(*(self.services[n].stop(timeout) for n in names))

    async def restart(self, names: list[str], timeout: float | None = None) -> bool:
        """Stop and start the named services; wait until each is up or failed. True when all are up."""
        self.check_names(names)
        if self.shutting_down:
            raise UsageError(SHUTTING_DOWN)
        # Racing restarts of one service merge (coalesce.py): the caller waits for the restart
        # that began after it asked, then until no other restart of these services is under way.
        await asyncio.shield(asyncio.gather(
            *(self.restarts.run(n, functools.partial(self._restart_one, n)) for n in names)))
        await self.wait(names, timeout, quiet=True)
        return all(self.services[n].state in UP_STATES for n in names)

    async def _restart_one(self, name: str, commit: Callable[[], None]) -> None:
        if self.shutting_down:
            raise UsageError(SHUTTING_DOWN)
        await self.services[name].stop()
        if self.shutting_down:  # `down` came while we were stopping: starting now would outlive it
            raise UsageError(SHUTTING_DOWN)
        commit()
        self.services[name].start(wait_for_deps=True)

    async def wait(self, names: list[str] | None, timeout: float | None, quiet: bool = False) -> bool:
        """Wait until every named (default: every started) service has settled, and with `quiet`
        no restart of them is under way either. False on timeout."""
        targets = [self.services[n] for n in (names or self.services)]

        def settled() -> bool:
            return all(s.state in SETTLED_STATES and not (quiet and self.restarts.busy(s.spec.name))
                       for s in targets)

        try:
            await asyncio.wait_for(self.notifier.wait_for(settled), timeout)
        except TimeoutError:
            return False
        return True

    async def apply(self, stack: StackSpec, names: list[str] | None = None,
                    no_deps: bool = False, setup: bool | None = None) -> dict[str, Any]:
        """Run the stack as `stack` (a new reading of its file) describes it: changed services
        restarted with their new definition, new ones started, removed ones stopped, the others
        untouched; then start what `names` asks for, as `start` does. Returns one line per
        change and the names started."""
        if self.shutting_down:
            raise UsageError("the stack is shutting down; run `devstack up` again once it has stopped")
        if stack.root != self.stack.root:
            raise UsageError(f"{stack.source} is not this supervisor's stack (it runs {self.stack.source})")
        async with self._applying:
            changes = diff_stacks(self.stack, stack)
            going = [n for n in reversed(self.stack.start_order())
                     if n in changes.removed or n in changes.changed]
            was_running = {n for n in going if self.services[n].running}
            for name in going:  # dependents first, as `down` does
                await self.services[name].stop()
            self._adopt(stack, changes)
            again = [n for n in stack.start_order() if n in was_running]
            for name in again:
                self.services[name].start(wait_for_deps=True, setup=setup)
            started = self.start(names, no_deps, setup)
            return {"changes": change_lines(stack, changes, was_running, set(again) | set(started)),
                    "started": [*again, *started]}

    def _adopt(self, stack: StackSpec, changes: StackChanges) -> None:
        """Take `stack` as the definition (every service of `changes` is stopped): the services in
        its file order, changed ones redefined, new ones made, removed ones forgotten."""
        services: dict[str, Service] = {}
        for name, spec in stack.services.items():
            service = self.services.get(name)
            if service is None:
                service = Service(spec, self.ctx, self.hub.add(name), self.services)
            elif name in changes.changed:
                service.redefine(spec)
            services[name] = service
        self.services.clear()  # the same dict: every service's peers are read from it
        self.services.update(services)
        self.stack = self.ctx.stack = stack
        self._source = SourceFile(stack.source)
        if self.on_stack is not None:
            self.on_stack(stack)

    async def changed(self) -> None:
        """Until any service changes state (a subscriber's wake-up; status() says what changed)."""
        await self.notifier.wait()

    def add_tap(self, tap: LogTap) -> Callable[[], None]:
        """Every output line (and event line) from now on, until the returned remover is called."""
        return self.hub.add_tap(tap)

    def redact(self, text: str) -> str:
        return self.hub.redactor.text(text)

    def status(self) -> dict[str, Any]:
        services = [s.status() for s in self.services.values()]
        status = {
            "stack": self.stack.name,
            "supervisor": {"pid": os.getpid(),
                           "started_at": datetime.fromtimestamp(self.started_at, UTC)
                           .strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "running": True,
                           # the stack file on disk is not what runs: `up` applies it
                           "stack_file_changed": self._source.changed()},
            "state": str(stack_state(services, running=True)),
            "services": [s.to_json() for s in services],
        }
        # A crash line or probe output may quote a secret the service was given: never repeat it.
        return self.hub.redactor.data(status)  # type: ignore[return-value]

    async def shutdown(self) -> None:
        """Stop every service in reverse dependency order (dependents first), then signal done."""
        if self.shutting_down:
            await self.done.wait()
            return
        self.shutting_down = True
        self.hub.event("stopping the stack")
        stopped = {name: asyncio.Event() for name in self.services}
        dependents: dict[str, list[str]] = {name: [] for name in self.services}
        for name, spec in self.stack.services.items():
            for dep in spec.depends_on:
                dependents[dep].append(name)

        async def stop_one(name: str) -> None:
            for dependent in dependents[name]:
                await stopped[dependent].wait()
            try:
                await self.services[name].stop()
            finally:
                stopped[name].set()

        await asyncio.gather(*(stop_one(n) for n in self.services))
        self.hub.event("all services stopped")
        self.done.set()

    def kill_now(self) -> None:
        """A second interrupt: SIGKILL every service's tree at once; the shutdown then ends quickly."""
        self.hub.event("killing every service now")
        for service in self.services.values():
            service.kill_now()

