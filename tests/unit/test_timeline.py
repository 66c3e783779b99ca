"""The startup timeline: the recorder fed by the service lifecycle (fake clock, scripted children),
the run files (kept, rotated), and the pure functions behind `devstack analyze` as tables:
readiness, the critical chain, the chart's bars, the phases --compare measures.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from devstack.cli import chart
from devstack.config.specs import Condition
from devstack.engine import runs
from devstack.engine.states import State
from devstack.engine.timeline import Recorder, port_delay
from tests.support.fakes import Script
from tests.unit.test_service import World, http_probe, svc


def rec(name: str, *, deps: dict[str, str] | None = None, optional: bool = False, state: str = "healthy",
        wait: float | None = 0.0, spawn: float | None = 0.1, output: float | None = None,
        port: float | None = None, healthy: float | None = None, failed: float | None = None,
        error: str | None = None) -> dict[str, Any]:
    start = {"spawn_s": spawn, "first_output_s": output, "port_s": port, "healthy_s": healthy, "end_s": None}
    record = {"name": name, "optional": optional, "depends_on": deps or {}, "wait_s": wait,
              "preflight_s": wait, "starts": [start] if spawn is not None else [], "state": state,
              "error": error}
    if failed is not None:
        record["failed_s"] = failed
    return record


# ----------------------------------------------------------------------------- readiness and chain

CHAIN_CASES = [
    # (records, ready_s, critical chain)
    ([rec("db", healthy=0.4), rec("api", deps={"db": "healthy"}, spawn=0.4, healthy=2.0),
      rec("web", deps={"api": "healthy"}, spawn=2.0, healthy=3.0)], 3.0, ["db", "api", "web"]),
    # the dependency waited for longest decides, not the first listed
    ([rec("db", healthy=0.4), rec("cache", healthy=1.5),
      rec("api", deps={"db": "healthy", "cache": "healthy"}, spawn=1.5, healthy=2.5)], 2.5,
     ["cache", "api"]),
    # an optional service slower than everything does not decide readiness
    ([rec("db", healthy=0.4), rec("ai", optional=True, healthy=9.0)], 0.4, ["db"]),
    # a failed required service: not ready; the chain leads to the failure
    ([rec("db", healthy=0.4), rec("api", deps={"db": "healthy"}, spawn=0.4, state="failed", failed=1.2,
                                  error="exited with code 3")], None, ["db", "api"]),
    # a "started" dependency is met at its spawn
    ([rec("db", spawn=0.2, healthy=5.0), rec("api", deps={"db": "started"}, spawn=0.2, healthy=6.0)], 6.0,
     ["db", "api"]),
    # nothing settled yet
    ([rec("db", state="starting")], None, []),
]


@pytest.mark.parametrize(("records", "ready", "chain"), CHAIN_CASES)
def test_ready_and_critical_chain(records: list[dict[str, Any]], ready: float | None,
                                  chain: list[str]) -> None:
    assert runs.ready_s(records) == ready
    assert runs.critical_chain(records) == chain


def test_the_document_is_spec_s_shape_with_restarts_counted() -> None:
    record = rec("api", spawn=0.1, output=0.2, port=0.3, healthy=None)
    record["starts"].append({"spawn_s": 1.0, "first_output_s": 1.1, "port_s": 1.2, "healthy_s": 1.5,
                             "end_s": None})
    doc = runs.document({"stack": "s", "started_at": 1_700_000_000.5, "services": [record]})
    assert doc == {"stack": "s", "started_at": "2023-11-14T22:13:20.500Z", "ready_s": 1.5,
                   "services": [{"name": "api", "state": "healthy", "restarts": 1, "wait_s": 0.0,
                                 "preflight_s": 0.0, "spawn_s": 0.1, "first_output_s": 0.2, "port_s": 0.3,
                                 "healthy_s": 1.5, "error": None}],
                   "critical_chain": ["api"]}


def test_the_last_ten_runs_are_kept_and_read_newest_first(tmp_path: Path) -> None:
    folder = runs.runs_dir(tmp_path)
    folder.mkdir()
    (folder / "run-9999999999999-1.json").write_text("{not json")  # damaged (and newest): skipped
    for i in range(12):
        run = {"stack": "s", "started_at": i, "services": []}
        runs.save(runs.run_file(folder, 1_700_000_000 + i, 42), run)
    kept = runs.run_files(folder)
    assert len(kept) == runs.RUNS_KEPT
    assert [r["started_at"] for r in runs.load_runs(folder, 2)] == [11, 10]


# ----------------------------------------------------------------------------- the chart


BAR_CASES = [
    # (service, scale, bar)
    ({"wait_s": 0.0, "spawn_s": 2.0, "first_output_s": 4.0, "port_s": 6.0, "healthy_s": 8.0}, 1.0,
     "..--==##"),
    ({"wait_s": 0.0, "spawn_s": 0.0, "first_output_s": None, "port_s": 2.0, "healthy_s": 4.0}, 1.0, "--##"),
    ({"wait_s": 2.0, "spawn_s": 3.0, "first_output_s": None, "port_s": None, "healthy_s": None}, 1.0,
     "  ."),  # still starting: the bar ends at the last phase reached
    ({"wait_s": 0.0, "spawn_s": 1.0, "first_output_s": 2.0, "port_s": None, "healthy_s": 4.0}, 0.5,
     "..--===="),
]


@pytest.mark.parametrize(("svc_doc", "scale", "expected"), BAR_CASES)
def test_bar(svc_doc: dict[str, Any], scale: float, expected: str) -> None:
    assert chart.bar(svc_doc, scale, width=10) == expected


PIECE_CASES = [
    ({"wait_s": 0.0, "spawn_s": 1.0, "first_output_s": 3.0, "port_s": 3.5, "healthy_s": 4.0},
     {"waiting": 1.0, "to output": 2.0, "to port": 0.5, "to healthy": 0.5}),
    # no port declared: healthy counts from the first output
    ({"wait_s": 0.0, "spawn_s": 1.0, "first_output_s": 3.0, "port_s": None, "healthy_s": 4.0},
     {"waiting": 1.0, "to output": 2.0, "to port": None, "to healthy": 1.0}),
    # silent service: the port counts from the spawn
    ({"wait_s": 0.0, "spawn_s": 1.0, "first_output_s": None, "port_s": 2.0, "healthy_s": None},
     {"waiting": 1.0, "to output": None, "to port": 1.0, "to healthy": None}),
]


@pytest.mark.parametrize(("svc_doc", "expected"), PIECE_CASES)
def test_pieces(svc_doc: dict[str, Any], expected: dict[str, float | None]) -> None:
    assert chart.pieces(svc_doc) == pytest.approx(expected)


def _doc(**healthy: float) -> dict[str, Any]:
    records = [rec("db", output=0.2, healthy=healthy["db"]),
               rec("api", deps={"db": "healthy"}, spawn=healthy["db"], output=healthy["db"] + 0.1,
                   healthy=healthy["api"])]
    return runs.document({"stack": "s", "started_at": 1_700_000_000.0, "services": records})


def test_chart_marks_the_chain_and_chain_lines_read_like_systemd() -> None:
    doc = _doc(db=1.0, api=3.0)
    text = chart.chart(doc, width=30)
    assert "* db " in text and "* api " in text and "ready after 3.00s" in text
    assert chart.chain_lines(doc).splitlines()[2:] == ["api @3.00s +2.00s", "└─db @1.00s +0.90s"]


def test_compare_shows_the_change_of_each_phase() -> None:
    text = chart.compare(_doc(db=3.0, api=5.0), _doc(db=1.0, api=3.0))
    assert "ready 3.00s → 5.00s (+2.00s)" in text
    db_row = next(line for line in text.splitlines() if line.startswith("db "))
    assert "2.80s (+2.00)" in db_row  # "to healthy" of db: 2 s slower
    assert db_row.count("(+0.00)") == 2


def test_port_cadence_backs_off_as_a_start_drags_on() -> None:
    assert [port_delay(t) for t in (0.0, 4.9, 5.0, 29.0, 30.0, 600.0)] == [0.05, 0.05, 0.25, 0.25, 1.0, 1.0]


# ----------------------------------------------------------------------------- the recorder


class Timers:
    """The event loop's call_later, run by hand."""

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def __call__(self, delay: float, callback: Any) -> Any:
        self.pending.append(callback)
        return self

    def cancel(self) -> None:
        pass


def test_recorder_follows_a_start_with_a_crash_and_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        specs = [svc("db", health=http_probe("db")),
                 svc("api", depends_on={"db": Condition.HEALTHY}, backoff=0.5)]
        w = World(tmp_path, specs, {"db": [Script(lines=["db ready"], exit_code=None)],
                                     "api": [Script(lines=["boom"], exit_code=1, run_for=0.2),
                                             Script(lines=["api up"], exit_code=None)]},
                  healthy=lambda host: w.t() >= 2.0)
        recorder = Recorder(w.sup.stack, tmp_path / "timeline", w.clock.wall(), w.clock, str.upper, Timers())
        w.sup.ctx.timeline = recorder
        w.sup.start()
        await w.until("api", State.RUNNING)
        await w.sup.shutdown()
        recorder.close()
        doc = runs.document(json.loads(recorder.path.read_text()))
        db, api = doc["services"]
        assert (db["state"], db["restarts"], db["wait_s"], db["spawn_s"]) == ("healthy", 0, 0.0, 0.0)
        assert db["healthy_s"] == pytest.approx(2.0, abs=0.02)
        assert db["first_output_s"] == 0.0 and db["port_s"] is None
        assert api["spawn_s"] == db["healthy_s"]  # waited for db
        assert (api["state"], api["restarts"], api["error"]) == ("running", 1, None)
        assert api["healthy_s"] == pytest.approx(api["spawn_s"] + 0.2 + 0.5 + 1.0, abs=0.02)
        assert doc["ready_s"] == api["healthy_s"] and doc["critical_chain"] == ["db", "api"]

    asyncio.run(main())


def test_recorder_keeps_the_failure_and_its_error_masked(tmp_path: Path) -> None:
    async def main() -> None:
        w = World(tmp_path, [svc("api", max_restarts=1)],
                  {"api": [Script(lines=["token s3cr3t rejected"], exit_code=1, run_for=0.1)]})
        recorder = Recorder(w.sup.stack, tmp_path / "timeline", w.clock.wall(), w.clock,
                            lambda text: text.replace("s3cr3t", "****"), Timers())
        w.sup.ctx.timeline = recorder
        w.sup.start()
        await w.until("api", State.FAILED)
        # Written at once: the last service has settled (no timer needed).
        doc = runs.document(json.loads(recorder.path.read_text()))
        assert doc["services"][0]["healthy_s"] is None and doc["ready_s"] is None
        assert doc["services"][0]["error"] == "token **** rejected"
        await w.sup.shutdown()
        recorder.close()
        assert runs.document(json.loads(recorder.path.read_text()))["services"][0]["state"] == "failed"

    asyncio.run(main())
