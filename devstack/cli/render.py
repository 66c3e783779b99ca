"""Status as people read it: the table printed by `status` and `up -d`."""

from __future__ import annotations

from typing import Any

from devstack.config.durations import format_duration

UP = {"healthy", "running"}


def _mem(rss: int) -> str:
    if not rss:
        return "-"
    return f"{rss / (1024 * 1024):.1f} MB"


def _health(svc: dict[str, Any]) -> str:
    health = svc.get("health") or {}
    status = health.get("status")
    if not status:
        return "-"
    ms = health.get("response_time_ms")
    return f"{status} {ms:.0f}ms" if isinstance(ms, int | float) and status == "OK" else str(status)


def status_table(data: dict[str, Any]) -> str:
    sup = data.get("supervisor") or {}
    if sup.get("running"):
        head = f"stack {data.get('stack')}: {data.get('state')} (supervisor pid {sup.get('pid')})"
    else:
        head = f"stack {data.get('stack')}: {data.get('state')} (no supervisor running)"
    rows = [["NAME", "STATE", "HEALTH", "PID", "PORT", "UPTIME", "RESTARTS", "CPU", "MEM"]]
    notes: dict[int, str] = {}
    for svc in data.get("services", []):
        uptime = svc.get("uptime_s")
        name = svc["name"] + (" (optional)" if svc.get("optional") else "")
        rows.append([
            name, str(svc.get("state")), _health(svc),
            str(svc.get("pid") or "-"), str(svc.get("port") or "-"),
            format_duration(uptime) if isinstance(uptime, int | float) else "-",
            str(svc.get("restarts", 0)),
            f"{svc.get('cpu_percent', 0.0):.1f}%" if svc.get("pid") else "-",
            _mem(int(svc.get("memory_rss") or 0)),
        ])
        error = (svc.get("health") or {}).get("error") or svc.get("note")
        if error and svc.get("state") not in UP:
            notes[len(rows) - 1] = str(error)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head]
    if sup.get("stack_file_changed"):
        lines.append("the stack file has changed since the supervisor read it: `devstack up` applies it")
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index in notes:
            lines.append(" " * 2 + "└ " + notes[index])
    return "\n".join(lines)


def stack_ok(data: dict[str, Any], names: list[str] | None = None) -> bool:
    """The exit-0 rule of docs/status.md: every non-optional (named) service is healthy, running,
    or exited cleanly."""
    for svc in data.get("services", []):
        if names and svc["name"] not in names:
            continue
        if svc.get("optional"):
            continue
        state = svc.get("state")
        if state in UP:
            continue
        if state == "exited" and svc.get("exit_code") == 0:
            continue
        return False
    return True


def status_code(data: dict[str, Any]) -> int:
    """`status`'s exit code with a supervisor running: 0 when every started service is fine."""
    started = [s for s in data.get("services", []) if s.get("state") != "stopped"]
    return 0 if stack_ok({"services": started}) else 1
