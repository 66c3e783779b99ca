"""Supervisor.apply on the fake clock and fake children: only what changed is stopped and started
again, in the right order, and each change is one line."""

from __future__ import annotations

from pathlib import Path

from devstack.config.specs import Condition, StackSpec
from devstack.engine.states import State
from tests.support.fakes import Script
from tests.unit.test_service import World, run, svc


def test_apply_restarts_changed_starts_new_stops_removed_and_leaves_the_rest(tmp_path: Path) -> None:
    async def main() -> None:
        forever = [Script(exit_code=None)]
        specs = [svc("db"), svc("api", depends_on={"db": Condition.STARTED}), svc("old")]
        w = World(tmp_path, specs, {"db": forever, "api": forever, "old": forever, "web": forever})
        w.sup.start()
        await w.clock.run_until(lambda: all(w.state(n) == State.RUNNING for n in ("db", "api", "old")))
        first = {n: w.spawner.children[n][0] for n in ("db", "api", "old")}
        new = StackSpec(name="t", root=tmp_path, source=tmp_path / "stack.toml", services={
            "db": svc("db"), "api": svc("api", depends_on={"db": Condition.STARTED}, port=8001),
            "web": svc("web")})
        result = await w.sup.apply(new)
        assert result["changes"] == ["api: changed (port); restarted with its new definition",
                                     "web: new in stack.toml; started",
                                     "old: removed from stack.toml; stopped"]
        await w.clock.run_until(lambda: w.state("api") == State.RUNNING and w.state("web") == State.RUNNING)
        assert list(w.sup.services) == ["db", "api", "web"]
        assert first["db"].alive and len(w.spawner.children["db"]) == 1  # untouched
        assert not first["api"].alive and len(w.spawner.children["api"]) == 2
        assert not first["old"].alive
        assert w.sup.services["api"].spec.port == 8001 and w.sup.stack is new
        assert "old stopped" in w.events and "db stopped" not in w.events
        again = await w.sup.apply(new)
        assert again == {"changes": [], "started": []}
        await w.sup.shutdown()

    run(main)
