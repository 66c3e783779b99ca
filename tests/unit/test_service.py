"""The supervisor's state machine as scripted histories: fake clock, fake children, fake probe
answers, real decisions.

Each test runs minutes of fake time in milliseconds; real processes and real probes prove the same
promises in tests/integration (the probes themselves, against real servers, in its test_health.py).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack.config.specs import Condition, HealthSpec, ProbeKind, Restart, ServiceSpec, StackSpec
from devstack.doctor.peers import Peer
from devstack.engine import service as service_module
from devstack.engine.states import State
from devstack.engine.supervisor import Supervisor
from devstack.logs.hub import LogHub
from devstack.probes.result import ProbeResult
from devstack.process.tree import Leftover
from tests.support.fakes import FakeClock, FakeSpawner, Script


class World:
    def __init__(self, tmp: Path, specs: list[ServiceSpec], scripts: dict[str, list[Script]],
                 healthy: Callable[[str], bool] | None = None) -> None:
        self.clock = FakeClock()
        self.spawner = FakeSpawner(self.clock, scripts)
        self.events: list[str] = []
        self.healthy = healthy or (lambda host: True)
        stack = StackSpec(name="t", root=tmp, source=tmp / "stack.toml",
                          services={s.name: s for s in specs})
        self.hub = LogHub(tmp / "logs", list(stack.services), None)
        original = self.hub.event
        self.hub.event = lambda text: (self.events.append(text), original(text))[-1]  # type: ignore[method-assign,func-returns-value]

        self.sup = Supervisor(stack, clock=self.clock, spawner=self.spawner, hub=self.hub, probe=self.probe,
                              build_env=lambda spec: {}, doctor=self, tag_prefix="id/")
        self.impostor_text: str | None = None
        self.setup_text: str | None = None  # why a service's setup must run first
        self.mismatch_text: str | None = None
        self.peers_seen: Mapping[str, Peer] = {}

    async def probe(self, health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
        """The network, as an HTTP probe would find it: `healthy(host)` says 200 or 503, at once."""
        parts = urlsplit(health.target)
        address = f"{parts.hostname}:{parts.port}"
        if self.healthy(parts.hostname or ""):
            return ProbeResult(ok=True, error=None, response_time_ms=1.0, address=address)
        return ProbeResult(ok=False, error=f"HTTP 503 from {address} (expected 200–399)",
                           response_time_ms=1.0, address=address)

    # The Diagnostics the supervisor asks: scripted answers.

    async def setup_needed(self, spec: ServiceSpec) -> str | None:
        return self.setup_text

    async def preflight(self, spec: ServiceSpec) -> str | None:
        return None

    async def crashed(self, spec: ServiceSpec, lines: list[str], peers: Mapping[str, Peer]) -> str | None:
        return None

    async def impostor(self, spec: ServiceSpec, pid: int, started: float) -> str | None:
        return self.impostor_text

    async def probe_failed(self, spec: ServiceSpec, pid: int, lines: list[str], error: str | None,
                           peers: Mapping[str, Peer]) -> str | None:
        self.peers_seen = peers
        return self.mismatch_text

    def state(self, name: str) -> State:
        return self.sup.services[name].state

    async def until(self, name: str, state: State, limit: float = 3600.0) -> None:
        await self.clock.run_until(lambda: self.state(name) == state, limit)

    def t(self) -> float:
        return self.clock.now - 1000.0


def svc(name: str, **kw: Any) -> ServiceSpec:
    return ServiceSpec(name=name, command="x", cwd=Path("/"), **kw)


def http_probe(host: str = "127.0.0.1", **kw: Any) -> HealthSpec:
    return HealthSpec(kind=ProbeKind.HTTP, target=f"http://{host}:9/", **kw)


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def test_crash_loop_backs_off_doubling_then_fails(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("api", max_restarts=4, backoff=0.5)],
                  {"api": [Script(lines=["boom: no config"], exit_code=1, run_for=0.1)]})
        w.sup.start()
        await w.until("api", State.FAILED)
        starts = w.spawner.spawn_times["api"]
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(starts)]
        assert gaps == [0.6, 1.1, 2.1]  # 0.1 s run + 0.5, 1, 2 s backoff
        status = w.sup.services["api"].status()
        assert status.restarts == 3 and status.exit_code == 1
        assert status.health.error == "boom: no config"
        assert w.events[-1] == ("api exited with code 1 after 0.1 s: boom: no config; "
                                "giving up after 4 failed starts")
        assert "api exited with code 1 after 0.1 s: boom: no config; restarting in 0.5 s (attempt 2 of 4)" \
            in w.events
        await w.clock.advance(600)
        assert len(w.spawner.spawn_times["api"]) == 4  # left alone

    run(main)


def test_no_probe_is_running_after_one_second_alive(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("worker")], {"worker": [Script(exit_code=None)]})
        w.sup.start()
        await w.until("worker", State.STARTING)
        await w.clock.advance(0.99)
        assert w.state("worker") == State.STARTING
        await w.clock.advance(0.02)
        assert w.state("worker") == State.RUNNING
        await w.sup.shutdown()
        assert w.state("worker") == State.STOPPED

    run(main)


def test_dependent_waits_for_healthy_then_starts(tmp_path: Path) -> None:
    async def main() -> None:
        up_at = {"t": 3.0}
        specs = [svc("db", health=http_probe("db")), svc("api", depends_on={"db": Condition.HEALTHY})]
        w = World(tmp_path, specs, {"db": [Script(exit_code=None)], "api": [Script(exit_code=None)]},
                  healthy=lambda host: w.t() >= up_at["t"])
        w.sup.start()
        await w.clock.advance(2.9)
        assert w.state("api") == State.PENDING and w.spawner.spawn_times["api"] == []
        await w.until("db", State.HEALTHY)
        assert 3.0 <= w.t() < 3.02  # seen within one fast probe interval
        await w.until("api", State.RUNNING)
        assert w.spawner.spawn_times["api"][0] >= w.spawner.spawn_times["db"][0] + 3.0
        await w.sup.shutdown()

    run(main)


def test_started_and_completed_conditions(tmp_path: Path) -> None:
    async def main() -> None:
        specs = [svc("migrate", restart=Restart.NO), svc("slow"),
                 svc("app", depends_on={"migrate": Condition.COMPLETED, "slow": Condition.STARTED})]
        w = World(tmp_path, specs, {"migrate": [Script(exit_code=0, run_for=5.0)],
                                     "slow": [Script(exit_code=None)], "app": [Script(exit_code=None)]})
        w.sup.start()
        await w.until("app", State.STARTING)
        assert w.t() == pytest.approx(5.0)
        assert w.state("migrate") == State.EXITED
        await w.sup.shutdown()

    run(main)


def test_failed_dependency_fails_the_dependent(tmp_path: Path) -> None:
    async def main() -> None:
        specs = [svc("db", restart=Restart.NO), svc("api", depends_on={"db": Condition.HEALTHY})]
        w = World(tmp_path, specs, {"db": [Script(exit_code=1)], "api": [Script(exit_code=None)]})
        w.sup.start()
        await w.until("api", State.FAILED)
        assert w.sup.services["api"].status().health.error == "dependency db failed"
        assert w.spawner.spawn_times["api"] == []

    run(main)


def test_unhealthy_after_retries_and_restart_on_unhealthy(tmp_path: Path) -> None:
    async def main() -> None:
        sick = {"from": 10.0}
        spec = svc("api", health=http_probe(interval=2.0, retries=3), restart_on_unhealthy=True)
        w = World(tmp_path, [spec], {"api": [Script(exit_code=None)]},
                  healthy=lambda host: w.t() < sick["from"] or w.t() > 30.0)
        w.sup.start()
        await w.until("api", State.HEALTHY)
        await w.clock.run_until(lambda: any(e.startswith("api is unhealthy") for e in w.events))
        assert 13.9 < w.t() < 16.1  # three failed probes, 2 s apart, after t=10
        await w.clock.run_until(lambda: len(w.spawner.spawn_times["api"]) == 2)
        first = w.spawner.children["api"][0]
        assert not first.alive and first.signals[0] == 15
        await w.until("api", State.HEALTHY)
        assert any(e.startswith("api unhealthy after ") and ": HTTP 503 from" in e
                   for e in w.events), w.events
        assert w.sup.services["api"].restarts == 1
        await w.sup.shutdown()

    run(main)


def test_start_period_exceeded_counts_as_failed_start(tmp_path: Path) -> None:
    async def main() -> None:
        spec = svc("api", health=http_probe(start_period=20.0), max_restarts=2)
        w = World(tmp_path, [spec], {"api": [Script(exit_code=None)]}, healthy=lambda host: False)
        w.sup.start()
        await w.until("api", State.FAILED)
        assert len(w.spawner.spawn_times["api"]) == 2
        error = w.sup.services["api"].status().health.error or ""
        assert error.startswith("health probe did not pass within 20 s: HTTP 503"), error

    run(main)


DAEMON = Leftover(4242, "python3 -m http.server 18555", (18555,))


def test_an_exit_0_that_leaves_a_server_running_is_daemonizing_and_not_restarted(tmp_path: Path) -> None:
    """SPEC Containment: exited 0, but a process it started still holds its port: not `exited`
    and OK, but failed, with the leftover named and the fix; never restarted (it would only
    daemonize again), and the stack is not up."""
    async def main() -> None:
        spec = svc("web", port=18555, restart=Restart.ALWAYS)
        w = World(tmp_path, [spec], {"web": [Script(exit_code=0, run_for=0.2, leaves=[DAEMON])]})
        w.sup.start()
        await w.until("web", State.FAILED)
        status = w.sup.services["web"].status()
        assert status.exit_code == 0 and status.health.status == "ERROR"
        assert status.health.error == (
            "web's process exited 0 but left pid 4242 (`python3 -m http.server 18555`) listening on 18555: "
            "it daemonized; run it in the foreground, e.g. `postgres -D …` instead of `pg_ctl start`, "
            "`redis-server --daemonize no`, `nginx -g 'daemon off;'`")
        said = f"web daemonized after 0.2 s: {status.health.error}; not restarted: it would daemonize again"
        assert w.events[-1] == said
        assert w.sup.status()["state"] == "failed"
        await w.clock.advance(600)
        assert len(w.spawner.spawn_times["web"]) == 1

    run(main)


def test_a_crash_that_leaves_a_server_running_is_restarted_and_named(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("web", port=18555, backoff=1.0)],
                  {"web": [Script(lines=["boom"], exit_code=1, run_for=0.05, leaves=[DAEMON]),
                           Script(exit_code=None)]})
        w.sup.start()
        await w.until("web", State.BACKOFF)
        error = w.sup.services["web"].status().health.error or ""
        assert error.startswith("web's process exited 1 but left pid 4242 (`python3 -m http.server 18555`) "
                                "listening on 18555; devstack stopped it: run it in the foreground"), error
        await w.until("web", State.RUNNING)

    run(main)


def test_pg_ctl_is_not_up_while_it_waits_for_its_server(tmp_path: Path) -> None:
    """`pg_ctl start` exits once its server is ready; while it waits, its server already answers
    the probe. Calling the service up then would make the stack `up` for the moment before
    pg_ctl exits and leaves a daemon: it stays starting, saying why, and then fails as daemonized."""
    async def main() -> None:
        postmaster = Leftover(4300, "postgres -D /srv/pg", (5433,))
        spec = ServiceSpec(name="db", command="pg_ctl start -D /srv/pg", cwd=Path("/"), port=5433,
                           health=http_probe())
        w = World(tmp_path, [spec], {"db": [Script(exit_code=0, run_for=3.0, leaves=[postmaster])]})
        w.sup.start()
        await w.clock.advance(2.0)
        assert w.state("db") == State.STARTING
        assert (w.sup.services["db"].status().health.error or "").startswith(
            "its server answers, but `pg_ctl start` is still running")
        await w.until("db", State.FAILED)
        assert "instead of `pg_ctl start`" in (w.sup.services["db"].status().health.error or "")
        assert "`postgres -D /srv/pg`" in (w.sup.services["db"].status().health.error or "")

    run(main)


def test_stop_during_backoff_cancels_the_restart(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("api", backoff=5.0)], {"api": [Script(exit_code=1)]})
        w.sup.start()
        await w.until("api", State.BACKOFF)
        await w.sup.stop(["api"])
        assert w.state("api") == State.STOPPED
        await w.clock.advance(3600)
        assert len(w.spawner.spawn_times["api"]) == 1

    run(main)


def test_stop_escalates_to_kill_after_stop_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("api", stop_timeout=3.0)],
                  {"api": [Script(exit_code=None, ignore_term=True)]})
        w.sup.start()
        await w.until("api", State.RUNNING)
        began = w.t()
        stopping = asyncio.ensure_future(w.sup.shutdown())
        await w.clock.run_until(stopping.done)
        assert w.t() - began == pytest.approx(3.0, abs=0.11)
        assert w.spawner.children["api"][0].signals == [15, 9]
        assert "api did not stop within 3.0 s of SIGTERM; killed it" in w.events

    run(main)


def test_shutdown_stops_dependents_first(tmp_path: Path) -> None:
    async def main() -> None:
        specs = [svc("db"), svc("api", depends_on={"db": Condition.HEALTHY}),
                 svc("web", depends_on={"api": Condition.HEALTHY})]
        w = World(tmp_path, specs, {n: [Script(exit_code=None)] for n in ("db", "api", "web")})
        w.sup.start()
        await w.until("web", State.RUNNING)
        await w.sup.shutdown()
        stops = [e for e in w.events if e.endswith(" stopped") and not e.startswith("all ")]
        assert stops == ["web stopped", "api stopped", "db stopped"]
        with pytest.raises(Exception, match="shutting down"):
            w.sup.start(["db"])

    run(main)


def test_healthy_for_30s_forgets_the_failure_streak(tmp_path: Path) -> None:
    async def main() -> None:
        scripts = [Script(exit_code=1), Script(exit_code=1), Script(exit_code=1, run_for=40.0),
                   Script(exit_code=None)]
        w = World(tmp_path, [svc("api", max_restarts=3, backoff=0.1)], {"api": scripts})
        w.sup.start()
        await w.clock.run_until(lambda: len(w.spawner.spawn_times["api"]) == 4)
        await w.until("api", State.RUNNING)  # not failed: the 40 s run reset the streak
        await w.sup.shutdown()

    run(main)


def test_a_probe_answered_by_an_impostor_is_not_trusted(tmp_path: Path) -> None:
    async def main() -> None:
        spec = svc("api", health=http_probe(start_period=10.0), max_restarts=1)
        w = World(tmp_path, [spec], {"api": [Script(exit_code=None)]})
        w.impostor_text = "port 9 is answered by pid 1 (other), not by api"
        w.sup.start()
        await w.until("api", State.FAILED)
        assert w.sup.services["api"].status().health.error == (
            "health probe did not pass within 10 s: port 9 is answered by pid 1 (other), not by api")

    run(main)


def test_a_failing_probe_is_explained_by_where_the_service_listens(tmp_path: Path) -> None:
    async def main() -> None:
        spec = svc("api", health=http_probe(start_period=5.0))
        w = World(tmp_path, [spec], {"api": [Script(exit_code=None)]}, healthy=lambda host: False)
        w.mismatch_text = "api listens on 127.0.0.1:8002, not on port 9 that the probe dials"
        w.sup.start()
        await w.clock.advance(1.0)
        health = w.sup.services["api"].status().health
        assert health.status == "WARN" and health.error == w.mismatch_text
        await w.sup.stop(["api"])

    run(main)


def test_a_failed_optional_dependency_does_not_stop_its_dependents(tmp_path: Path) -> None:
    async def main() -> None:
        specs = [svc("ai", restart=Restart.NO, optional=True),
                 svc("web", depends_on={"ai": Condition.STARTED})]
        w = World(tmp_path, specs, {"ai": [Script(exit_code=1)], "web": [Script(exit_code=None)]})
        w.sup.start()
        await w.until("web", State.RUNNING)
        assert w.state("ai") == State.FAILED
        await w.sup.shutdown()

    run(main)


def test_a_failing_probe_is_explained_with_the_other_services_states(tmp_path: Path) -> None:
    """The diagnosis of a failing probe sees a snapshot of every service, so that "api cannot reach
    db" can name db's state."""
    async def main() -> None:
        specs = [svc("db", restart=Restart.NO, max_restarts=1),
                 svc("api", health=http_probe(start_period=5.0))]
        w = World(tmp_path, specs, {"db": [Script(exit_code=1)], "api": [Script(exit_code=None)]},
                  healthy=lambda host: False)
        w.sup.start()
        await w.until("db", State.FAILED)
        await w.clock.advance(1.5)
        peers = w.peers_seen
        assert peers["db"].state == "failed" and peers["api"].state == "starting"
        await w.sup.shutdown()

    run(main)


def test_output_while_starting_brings_the_next_probe_forward(tmp_path: Path) -> None:
    """Past its first seconds a starting service is probed every 50 ms, but a line of its output
    (Spring's "Started …") is followed by a probe within OUTPUT_FLOOR: readiness is seen at once."""
    async def main() -> None:
        ready = {"at": None}

        def healthy(host: str) -> bool:
            return ready["at"] is not None

        w = World(tmp_path, [svc("api", health=http_probe(start_period=60.0))],
                  {"api": [Script(exit_code=None)]}, healthy=healthy)
        w.sup.start()
        await w.clock.run_until(lambda: w.t() >= 12.017)
        assert w.state("api") == State.STARTING
        ready["at"] = w.t()  # type: ignore[assignment]
        w.sup.services["api"].log.output("stdout", b"Started CoreApiApplication in 12.0 seconds\n")
        await w.until("api", State.HEALTHY)
        assert w.t() - ready["at"] <= 0.0101  # type: ignore[operator]
        await w.sup.shutdown()

    run(main)


def test_down_while_the_probe_unwinds_after_an_exit_still_stops_the_service(tmp_path: Path) -> None:
    """The child exits; while its probe unwinds (a real one closes its sockets: a few loop turns),
    `down` arrives. That cancellation must stop the service: swallowed with the probe's own, the
    service went to backoff and respawned, and `down` waited for it for ever (CI, the fault
    suite's leader-exits-first shape)."""
    async def main() -> None:
        spec = svc("svc", health=http_probe(), backoff=0.1, backoff_max=0.1, max_restarts=100000)
        w = World(tmp_path, [spec], {"svc": [Script(exit_code=1, run_for=0.5)]})
        unwinding, gate = asyncio.Event(), asyncio.Event()

        async def slow_to_unwind(health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                unwinding.set()
                await gate.wait()
                raise
            raise AssertionError("unreachable")

        w.sup.services["svc"].ctx.probe = slow_to_unwind
        w.sup.start()
        await w.clock.run_until(unwinding.is_set)
        down = asyncio.ensure_future(w.sup.shutdown())
        await w.clock.settle()
        gate.set()
        await w.clock.run_until(down.done, limit=60)
        assert w.state("svc") == State.STOPPED
        assert len(w.spawner.spawn_times["svc"]) == 1  # no respawn after `down`

    run(main)


def test_a_setup_that_never_ran_runs_first_then_the_service(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("web", setup="npm ci")],
                  {"web": [Script(lines=["added 120 packages"], exit_code=0, run_for=2.0),
                           Script(exit_code=None)]})
        w.setup_text = "node_modules has not been installed (npm ci never ran)"
        w.sup.start()
        await w.clock.advance(1.0)
        service = w.sup.services["web"]
        assert service.state == State.PENDING and service.health.error == "running its setup: npm ci"
        await w.until("web", State.RUNNING)
        assert w.spawner.spawn_times["web"] == [1000.0, 1002.0]  # the setup, then the service
        assert w.events[:2] == ["web: node_modules has not been installed (npm ci never ran); "
                                "running its setup first: npm ci", "web: setup done in 2.0 s"]
        assert (tmp_path / ".devstack" / "setup" / "web.json").exists()
        await w.sup.shutdown()

    run(main)


def test_a_run_that_will_not_end_is_killed_and_down_returns(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever keeps a run from ending once cancelled (here a probe that swallows cancellations,
    as the bug above did), `stop` kills the tree past stop_timeout + STOP_MARGIN, cancels again,
    and returns: `down` is bounded."""
    monkeypatch.setattr(service_module, "STOP_MARGIN", 0.05)

    async def main() -> None:
        spec = svc("svc", health=http_probe(), stop_timeout=0.05)
        w = World(tmp_path, [spec], {"svc": [Script(exit_code=1, run_for=0.5)]})
        cancels = 0

        async def stubborn(health: HealthSpec, cwd: Path, env: Mapping[str, str]) -> ProbeResult:
            nonlocal cancels
            while True:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    cancels += 1
                    if cancels >= 3:  # its own run's and `down`'s are eaten; the watchdog's ends it
                        raise

        w.sup.services["svc"].ctx.probe = stubborn
        w.sup.start()
        await w.clock.run_until(lambda: cancels == 1)  # it exited; its run waits for the probe
        child = w.spawner.children["svc"][-1]
        await asyncio.wait_for(w.sup.shutdown(), 5.0)
        assert w.state("svc") == State.STOPPED
        assert len(w.spawner.spawn_times["svc"]) == 1 and signal.SIGKILL in child.signals
        assert any("did not stop within" in e and "killing it" in e for e in w.events), w.events

    run(main)


def test_a_failed_setup_fails_the_service_and_nothing_else_starts(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("web", setup="npm ci")],
                  {"web": [Script(lines=["npm ERR! 404 Not Found"], exit_code=1, run_for=0.5)]})
        w.setup_text = "node_modules has not been installed (npm ci never ran)"
        w.sup.start()
        await w.until("web", State.FAILED)
        assert len(w.spawner.spawn_times["web"]) == 1
        assert w.sup.services["web"].health.error == ("its setup (npm ci) exited with code 1: npm ERR! 404 "
                                                      "Not Found; its output is in `devstack logs web`")

    run(main)


def test_no_setup_starts_the_service_as_it_is(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("web", setup="npm ci")], {"web": [Script(exit_code=None)]})
        w.setup_text = "node_modules has not been installed (npm ci never ran)"
        w.sup.start(setup=False)
        await w.until("web", State.RUNNING)
        assert len(w.spawner.spawn_times["web"]) == 1 and not any("setup" in e for e in w.events)
        await w.sup.shutdown()

    run(main)


def test_command_not_found_fails_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("api", max_restarts=5)],
                  {"api": [Script(lines=["sh: 1: uvicorn: not found"], exit_code=127, run_for=0.01)]})
        w.sup.start()
        await w.until("api", State.FAILED)
        await w.clock.advance(60)
        assert len(w.spawner.spawn_times["api"]) == 1
        assert w.events[-1] == ("api exited with code 127 after 0.0 s: sh: 1: uvicorn: not found; "
                                "not restarting: a restart would fail the same way")

    run(main)
