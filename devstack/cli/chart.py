"""The startup timeline as people read it (`devstack analyze`): a text chart with one bar per
service (each phase drawn with its own character, the critical chain marked), the critical chain
as `name @T +D` lines the way `systemd-analyze critical-chain` prints it, and `--compare`: each
phase's change against the previous run. Pure functions of the analyze documents (engine/runs.py).
"""

from __future__ import annotations

from typing import Any

WIDTH = 50  # columns of the time axis
WAITING, SILENT, TALKING, LISTENING, GAP = ".", "-", "=", "#", " "
LEGEND = (f"{WAITING} waiting for dependencies and checks   {SILENT} spawned, no output yet   "
          f"{TALKING} printing, port not open yet\n{LISTENING} port open, not healthy yet   "
          "* on the critical chain")
# The pieces --compare measures, each from the phase before it that was reached.
PIECES = (("waiting", "wait_s", "spawn_s"), ("to output", "spawn_s", "first_output_s"),
          ("to port", "first_output_s", "port_s"), ("to healthy", "port_s", "healthy_s"))
ORDER = ("wait_s", "spawn_s", "first_output_s", "port_s", "healthy_s")


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _end(svc: dict[str, Any]) -> float | None:
    if svc.get("healthy_s") is not None:
        return float(svc["healthy_s"])
    reached = [svc[p] for p in ORDER if svc.get(p) is not None]
    return max(reached) if reached else None


def _char(svc: dict[str, Any], t: float) -> str:
    """What the service was doing at `t` seconds (GAP outside its bar)."""
    wait, spawn, end = svc.get("wait_s"), svc.get("spawn_s"), _end(svc)
    if wait is None or end is None or t < wait or t > end:
        return GAP
    if spawn is None or t < spawn:
        return WAITING
    port, output = svc.get("port_s"), svc.get("first_output_s")
    if port is not None and t >= port:
        return LISTENING
    return TALKING if output is not None and t >= output else SILENT


def bar(svc: dict[str, Any], scale: float, width: int = WIDTH) -> str:
    """One service's bar: each column is `scale` seconds, drawn as what it did in its middle."""
    return "".join(_char(svc, (col + 0.5) * scale) for col in range(width)).rstrip()


def outcome(svc: dict[str, Any]) -> str:
    restarts = f", {svc['restarts']} restart{'s' * (svc['restarts'] != 1)}" if svc.get("restarts") else ""
    if svc.get("healthy_s") is not None:
        return f"{svc.get('state')} @{seconds(svc['healthy_s'])}{restarts}"
    error = f": {svc['error']}" if svc.get("error") else ""
    return f"{svc.get('state') or 'not started'}{restarts}{error}"


def chart(doc: dict[str, Any], width: int = WIDTH) -> str:
    services = doc["services"]
    ends = [e for s in services if (e := _end(s)) is not None]
    span = max([*ends, float(doc.get("ready_s") or 0.0), 0.001])
    scale = span / width
    chain = set(doc.get("critical_chain") or [])
    name_w = max([len(s["name"]) for s in services] + [7])
    ready = "not ready: a required service failed or is not up" if doc.get("ready_s") is None \
        else f"ready after {seconds(doc['ready_s'])}"
    lines = [f"startup of {doc['stack']} at {doc['started_at']}: {ready}", ""]
    ticks = [""] * (width + 8)
    for i in range(5):
        label = f"{span * i / 4:.1f}s"
        col = round(i * width / 4)
        ticks[col:col + len(label)] = list(label)
    lines.append(" " * (name_w + 3) + "".join(t or " " for t in ticks).rstrip())
    for svc in services:
        mark = "*" if svc["name"] in chain else " "
        lines.append(f"{mark} {svc['name']:<{name_w}} {bar(svc, scale, width):<{width}}  {outcome(svc)}")
    lines += ["", LEGEND]
    return "\n".join(lines)


def chain_lines(doc: dict[str, Any]) -> str:
    """The critical chain, last to settle first: `name @T +D` (T: healthy, or failed, since the
    start of the run; D: how long its own start took, from its spawn)."""
    by_name = {s["name"]: s for s in doc["services"]}
    lines = ['The time a service became healthy (or failed) is after "@", how long its start took after "+".',
             ""]
    for depth, name in enumerate(reversed(doc.get("critical_chain") or [])):
        svc = by_name[name]
        at = svc["healthy_s"] if svc.get("healthy_s") is not None else _end(svc)
        took = None if at is None or svc.get("spawn_s") is None else at - svc["spawn_s"]
        prefix = "" if depth == 0 else "  " * (depth - 1) + "└─"
        failed = "" if svc.get("healthy_s") is not None else f" ({svc.get('state')})"
        lines.append(f"{prefix}{name} @{seconds(at)} +{seconds(took)}{failed}")
    if len(lines) == 2:
        lines.append("(no service has settled yet)")
    return "\n".join(lines)


def pieces(svc: dict[str, Any]) -> dict[str, float | None]:
    """How long each phase took: from the phase before it that was reached, to this one."""
    found: dict[str, float | None] = {}
    for label, _, phase in PIECES:
        now = svc.get(phase)
        index = ORDER.index(phase)
        before = next((svc[p] for p in reversed(ORDER[:index]) if svc.get(p) is not None), None)
        found[label] = None if now is None or before is None else max(0.0, now - before)
    return found


def _delta(now: float | None, then: float | None) -> str:
    if now is None:
        return "-"
    if then is None:
        return f"{now:.2f}s (new)"
    return f"{now:.2f}s ({now - then:+.2f})"


def compare(doc: dict[str, Any], previous: dict[str, Any]) -> str:
    """Each service's phases in `doc` with their change since `previous`."""
    before = {s["name"]: s for s in previous["services"]}
    ready_now, ready_then = doc.get("ready_s"), previous.get("ready_s")
    lines = [f"compared with the run at {previous['started_at']}: ready {seconds(ready_then)} → "
             f"{seconds(ready_now)}" + (f" ({ready_now - ready_then:+.2f}s)"
                                        if ready_now is not None and ready_then is not None else ""), ""]
    columns = [label for label, _, _ in PIECES] + ["healthy at"]
    rows = [["service", *columns]]
    for svc in doc["services"]:
        old = before.get(svc["name"], {})
        now_p, old_p = pieces(svc), pieces(old) if old else {}
        cells = [_delta(now_p[c], old_p.get(c)) for c in now_p]
        cells.append(_delta(svc.get("healthy_s"), old.get("healthy_s")))
        rows.append([svc["name"], *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    gone = sorted(set(before) - {s["name"] for s in doc["services"]})
    if gone:
        lines.append(f"not started in this run: {', '.join(gone)}")
    return "\n".join(lines)
