"""The startup timelines kept under `.devstack/timeline/`: one JSON file per `up` (the last
RUNS_KEPT, surviving `down`), read back as the `devstack analyze --json` document (docs/analyze.md), with the
critical chain: the dependency path that decided when the stack was ready.

A run file holds more than the document shows: every start of every service (restarts included),
its dependencies and whether it is optional. `document()` is that document's projection. Plain
synchronous code and pure functions: `analyze` and the dashboard read these without a supervisor.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUNS_KEPT = 10
PHASES = ("wait_s", "preflight_s", "spawn_s", "first_output_s", "port_s", "healthy_s")
START_PHASES = ("spawn_s", "first_output_s", "port_s", "healthy_s")

Record = dict[str, Any]  # one service of a run file: name, optional, depends_on, wait_s, starts…


def runs_dir(state_dir: Path) -> Path:
    return state_dir / "timeline"


def run_file(folder: Path, started_at: float, pid: int) -> Path:
    """Named so that names sort as the runs began: run-<ms since the epoch>-<pid>.json."""
    return folder / f"run-{int(started_at * 1000):013d}-{pid}.json"


def save(path: Path, run: Mapping[str, Any]) -> None:
    """Write a run file whole (a reader never sees half of one), then keep the newest RUNS_KEPT."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(run, separators=(",", ":")))
    os.replace(temp, path)
    for old in run_files(path.parent)[:-RUNS_KEPT]:
        with contextlib.suppress(OSError):
            old.unlink()


def run_files(folder: Path) -> list[Path]:
    """The kept run files, oldest first."""
    try:
        return sorted(p for p in folder.iterdir() if p.name.startswith("run-") and p.suffix == ".json")
    except OSError:
        return []


def load_runs(folder: Path, count: int) -> list[dict[str, Any]]:
    """The newest `count` runs that can be read, newest first (a damaged file is skipped)."""
    found: list[dict[str, Any]] = []
    for path in reversed(run_files(folder)):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(run, dict) and isinstance(run.get("services"), list):
            found.append(run)
            if len(found) == count:
                break
    return found


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ----------------------------------------------------------------------------- the document


def first(starts: list[Record], phase: str) -> float | None:
    """The first time any start of a service reached `phase`."""
    return next((s[phase] for s in starts if s.get(phase) is not None), None)


def service_phases(record: Record) -> dict[str, float | None]:
    """Each phase of the analyze document for one service: the first time it was reached in the run."""
    starts = record.get("starts") or []
    phases: dict[str, float | None] = {"wait_s": record.get("wait_s"),
                                       "preflight_s": record.get("preflight_s")}
    for phase in START_PHASES:
        phases[phase] = first(starts, phase)
    return phases


def settled_at(record: Record) -> float | None:
    """When a service settled: became healthy (or completed), or else failed for good."""
    phases = service_phases(record)
    if phases["healthy_s"] is not None:
        return phases["healthy_s"]
    return record.get("failed_s") if record.get("state") == "failed" else None


def ready_s(records: list[Record]) -> float | None:
    """When the last non-optional service became healthy; None if one of them never did."""
    required = [r for r in records if not r.get("optional")]
    times = [service_phases(r)["healthy_s"] for r in required]
    if not required or any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def _met_at(record: Record, condition: str) -> float | None:
    """When a dependency met the condition its dependent waited for."""
    phases = service_phases(record)
    return phases["spawn_s"] if condition == "started" else phases["healthy_s"]


def critical_chain(records: list[Record]) -> list[str]:
    """The dependency path that decided `ready_s`: from the last non-optional service to settle
    (healthy, or failed when the stack never was ready), back through the dependency each one
    waited for longest, to one that waited for none. Listed root first."""
    by_name = {r["name"]: r for r in records}
    last: tuple[float, str] | None = None
    for record in records:
        at = settled_at(record)
        if not record.get("optional") and at is not None and (last is None or at > last[0]):
            last = (at, record["name"])
    if last is None:
        return []
    chain = [last[1]]
    while True:
        deps = by_name[chain[-1]].get("depends_on") or {}
        waited = [(met, dep) for dep, condition in deps.items()
                  if dep in by_name and dep not in chain
                  and (met := _met_at(by_name[dep], condition)) is not None]
        if not waited:
            return chain[::-1]
        chain.append(max(waited)[1])


def document(run: Mapping[str, Any]) -> dict[str, Any]:
    """The `devstack analyze --json` document of one run file."""
    records: list[Record] = list(run.get("services") or [])
    services = []
    for record in records:
        starts = record.get("starts") or []
        services.append({"name": record["name"], "state": record.get("state"),
                         "restarts": max(0, len(starts) - 1) + int(record.get("starts_dropped", 0)),
                         **service_phases(record), "error": record.get("error")})
    return {"stack": run.get("stack"), "started_at": iso_ms(float(run.get("started_at", 0.0))),
            "ready_s": ready_s(records), "services": services, "critical_chain": critical_chain(records)}
