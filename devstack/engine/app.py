"""Composition root of a supervisor: lock, stale-state cleanup, the parts wired together, signal
handling, the control server, and the one `asyncio.run` of devstack.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.control.paths import EXIT_LOST_RACE, StatePaths, stack_id
from devstack.control.server import ControlServer
from devstack.engine.clock import SystemClock
from devstack.engine.diagnosis import StackDiagnostics
from devstack.engine.supervisor import Supervisor
from devstack.env.layers import build_env
from devstack.env.secrets import Redactor
from devstack.errors import AlreadyRunning
from devstack.logs.hub import LogHub
from devstack.logs.terminal import TerminalSink
from devstack.probes import run as probes
from devstack.process import spawn


class Lock:
    """One supervisor per stack: an exclusive flock, released by the OS however the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the supervisor's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            handle.close()
            raise AlreadyRunning(int(text) if text.isdigit() else None) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def stop_leftovers(root: Path, say: Callable[[str], None]) -> None:
    """Stop processes that a previous supervisor of this stack started and left behind."""
    spawn.stop_leftovers(f"{stack_id(root)}/", say)


class App:
    """One supervisor run: foreground (terminal output, Ctrl-C) or detached (logs only)."""

    def __init__(self, stack: StackSpec, names: list[str], no_deps: bool, foreground: bool,
                 colour: bool = False, setup: bool = True) -> None:
        self.stack = stack
        self.setup = setup  # run setups that never ran before the first starts (`--no-setup`: no)
        self.names = names
        self.no_deps = no_deps
        self.foreground = foreground
        self.colour = foreground and colour  # the terminal's, and so FORCE_COLOR for the children
        self.paths = StatePaths.of(stack.root)
        self.exit_code = 0
        self.os_env = dict(os.environ)
        self.os_env.pop(spawn.TAG_VAR, None)
        self.redactor = Redactor()
        self._signals = 0
        self._shutdown_task: asyncio.Task[None] | None = None
        self._tag_prefix = f"{stack_id(stack.root)}/"  # "<stack id>/": each child's tag is this + name

    def run(self) -> int:
        self.paths.make_private_dirs()
        lock = Lock(self.paths.lock)
        lock.acquire()  # AlreadyRunning goes to the caller
        try:
            return asyncio.run(self._main())
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.paths.info.unlink()
            lock.release()

    def _learn_secrets(self, stack: StackSpec) -> None:
        for spec in stack.services.values():
            self.redactor.learn(build_env(stack, spec, self.os_env).secrets())

    def _env_builder(self, colour: bool) -> Callable[[ServiceSpec], Mapping[str, str]]:
        def build(spec: ServiceSpec) -> Mapping[str, str]:
            built = build_env(self.stack, spec, self.os_env, color=colour)
            self.redactor.learn(built.secrets())  # .env files may have changed since the last start
            return built.as_dict()

        return build

    async def _main(self) -> int:
        spawn.install_child_watcher()
        colour = self.colour
        terminal = TerminalSink(sys.stdout.buffer, list(self.stack.services), colour) \
            if self.foreground else None
        self._learn_secrets(self.stack)
        hub = LogHub(self.paths.log_dir, list(self.stack.services), terminal, self.redactor,
                     schedule=asyncio.get_running_loop().call_later)
        stop_leftovers(self.stack.root, hub.event)
        diagnostics = StackDiagnostics(self.stack, self.os_env, self._tag_prefix)

        def adopt(stack: StackSpec) -> None:  # `up` after an edit: the new definition everywhere
            self.stack = diagnostics.stack = stack
            self._learn_secrets(stack)

        supervisor = Supervisor(self.stack, clock=SystemClock(), spawner=spawn.AsyncioSpawner(), hub=hub,
                                probe=probes.run_probe, build_env=self._env_builder(colour),
                                doctor=diagnostics, tag_prefix=self._tag_prefix, on_stack=adopt)
        server = ControlServer(supervisor, self.paths.socket, on_down=supervisor.shutdown, event=hub.event)
        await server.start()
        self._write_info(supervisor)
        self._install_signals(supervisor)
        source = self.stack.source.name
        hub.event(f"supervisor {os.getpid()} running {self.stack.name} from {source}; "
                  f"control socket {self.paths.socket}")
        try:
            supervisor.start(self.names or None, self.no_deps, setup=self.setup)
            await supervisor.done.wait()
        finally:
            await server.close()
            hub.close()
        return self.exit_code

    def _write_info(self, supervisor: Supervisor) -> None:
        info = {"pid": os.getpid(), "started_at": supervisor.started_at, "socket": str(self.paths.socket),
                "stack": self.stack.name, "source": str(self.stack.source)}
        self.paths.info.write_text(json.dumps(info))

    def _install_signals(self, supervisor: Supervisor) -> None:
        loop = asyncio.get_running_loop()
        codes = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}

        def on_signal(sig: signal.Signals) -> None:
            self._signals += 1
            if self._signals == 1:
                self.exit_code = codes[sig]
                supervisor.hub.event(f"{sig.name} received: stopping the stack "
                                     "(press Ctrl-C again to kill everything at once)")
                self._shutdown_task = loop.create_task(supervisor.shutdown())
            else:
                self.exit_code = 130
                supervisor.kill_now()

        for sig in codes:
            if sig == signal.SIGHUP and not self.foreground:
                # Detached: outlive the terminal. A handler that does nothing, not SIG_IGN: an
                # ignored signal would stay ignored in every service across exec.
                loop.add_signal_handler(sig, lambda: None)
                continue
            loop.add_signal_handler(sig, on_signal, sig)


def detached_main(stack: StackSpec, names: list[str], no_deps: bool, setup: bool = True) -> int:
    """Entry point of the background supervisor process started by `up -d`."""
    with contextlib.suppress(OSError):
        os.setsid()
    try:
        return App(stack, names, no_deps, foreground=False, setup=setup).run()
    except AlreadyRunning:
        return EXIT_LOST_RACE
