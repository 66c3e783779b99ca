"""What the engine asks about a service that is not up, behind one small protocol.

A `Service` asks five questions, each answered with one line for its status `error` (or None):
must its setup run first (it never ran), may it start (the pre-flight checks), why did its
process die (its last output lines), who answers its probe when that is not the service (an
impostor), and why does its probe fail while it runs. `StackDiagnostics` is the real answer,
built by the app: it runs the checks off the event loop, reads sockets and /proc, and knows the
stack's other services through the snapshot each question carries, so that "core-api cannot
reach postgres" names postgres' state. Unit tests of the state machine hand `Service` a fake
instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.doctor import checks, listeners
from devstack.doctor.findings import Context
from devstack.doctor.peers import Peer
from devstack.doctor.setup import setup_reason
from devstack.env.layers import build_env
from devstack.probes.target import probe_target
from devstack.process import spawn


class Diagnostics(Protocol):
    async def setup_needed(self, spec: ServiceSpec) -> str | None:
        """Before a service's first start: why its setup should run first (it never ran, or what
        it builds is missing or out of date), or None."""

    async def preflight(self, spec: ServiceSpec) -> str | None:
        """Before a service's first start (not before restarts): an error that keeps it from
        starting."""

    async def crashed(self, spec: ServiceSpec, lines: list[str], peers: Mapping[str, Peer]) -> str | None:
        """Why its process died, from its last output lines: a known cause with its fix, else the
        message of the stack trace the output ends with."""

    async def impostor(self, spec: ServiceSpec, pid: int, started_at: float) -> str | None:
        """After a passing probe: "port 8001 is answered by pid N …, not by api" when another
        process answered it."""

    async def probe_failed(self, spec: ServiceSpec, pid: int, lines: list[str], error: str | None,
                           peers: Mapping[str, Peer]) -> str | None:
        """Why its probe fails while its process runs: it listens elsewhere, or it cannot reach
        another service of the stack."""


class StackDiagnostics:
    """The real answers, for one supervisor run."""

    def __init__(self, stack: StackSpec, os_env: Mapping[str, str], tag_prefix: str) -> None:
        self.stack = stack
        self.os_env = os_env
        self.tag_prefix = tag_prefix
        # per service: (the run's root pid, its sockets that served the probe; see impostor())
        self._own_sockets: dict[str, tuple[int | None, listeners.KnownSockets]] = {}
        # The checks read files, run the venv's python and scan sockets: off the event loop, on
        # one thread, in the order services ask (dependencies first). They hold the GIL most of
        # the time, so running them side by side only makes the first service's check wait for
        # a dependent's slow one (a venv's requirements) before its first start.
        self._checks = ThreadPoolExecutor(1, thread_name_prefix="devstack-checks")

    async def setup_needed(self, spec: ServiceSpec) -> str | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._checks, self._setup_reason, spec)

    def _setup_reason(self, spec: ServiceSpec) -> str | None:
        return setup_reason(Context(self.stack, spec, build_env(self.stack, spec, self.os_env)))

    async def preflight(self, spec: ServiceSpec) -> str | None:
        loop = asyncio.get_running_loop()
        findings = await loop.run_in_executor(self._checks, checks.check_service, self.stack, spec,
                                              self.os_env)
        return checks.blocking_error(findings)

    async def crashed(self, spec: ServiceSpec, lines: list[str], peers: Mapping[str, Peer]) -> str | None:
        return await asyncio.to_thread(self._explain_output, spec, lines, peers, False, None)

    async def impostor(self, spec: ServiceSpec, pid: int, started_at: float) -> str | None:
        target = probe_target(spec.health) if spec.health else None
        if target is None:
            return None
        # Remembered per run (its root pid): a leftover of an earlier run still holding the socket
        # it held then is exactly the impostor this check is for.
        run, known = self._own_sockets.get(spec.name, (None, {}))
        if run != pid:
            known = {}
            self._own_sockets[spec.name] = (pid, known)
        if listeners.still_holds(known):
            return None  # the usual answer, without a tree walk or a thread hop: this runs at every probe
        return await asyncio.to_thread(listeners.find_impostor, spec.name, target, spawn.tree_pids(pid),
                                       started_at, known, self.tag_prefix + spec.name)

    async def probe_failed(self, spec: ServiceSpec, pid: int, lines: list[str], error: str | None,
                           peers: Mapping[str, Peer]) -> str | None:
        target = probe_target(spec.health) if spec.health else None
        if target is not None:
            listening = await asyncio.to_thread(listeners.tree_listeners, pid)
            mismatch = listeners.explain_mismatch(spec.name, target, listening)
            if mismatch:
                return mismatch
        return await asyncio.to_thread(self._explain_output, spec, lines, peers, True, error)

    def _explain_output(self, spec: ServiceSpec, lines: list[str], peers: Mapping[str, Peer], alive: bool,
                        probe_error: str | None) -> str | None:
        """The other services first (a database that is not up explains a refusal better than the
        refusal does), then the known signatures of the service's own output."""
        # ~10 ms of patterns to compile: loaded once something failed, not before the first start
        from devstack.doctor.reach import addresses_in, database_reason, reach_reason

        env = build_env(self.stack, spec, self.os_env)
        addresses = addresses_in(env, self.stack.root)
        depends = {name: str(condition) for name, condition in spec.depends_on.items()}
        reason = reach_reason(spec.name, lines, addresses, peers, depends, alive, probe_error) \
            or database_reason(lines, env, addresses, peers, self.stack.root)
        if reason or alive:
            return reason
        # ~4 ms of imports and patterns: only once something failed
        from devstack.doctor.signatures.diagnose import context_for, diagnose, last_words

        # No known signature: the message of the trace it died with, never a frame or a pointer.
        return diagnose(lines, context_for(self.stack, spec, env)) or last_words(lines)
