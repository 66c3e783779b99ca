"""The `containment` check: whether this machine lets devstack keep every process a service
starts (a child subreaper, process/reaper.py). Without one, a process that leaves its service
(a double fork, `setsid`) is still found by its environment tag, but one that also clears its
environment (`env -i`) can outlive `down`: said once per stack, as a warning.
"""

from __future__ import annotations

from collections.abc import Callable

from devstack.doctor.findings import Finding, Severity, make_finding
from devstack.process.watcher import unavailable


def check_containment(why_not: Callable[[], str | None] = unavailable) -> list[Finding]:
    reason = why_not()
    if reason is None:
        return []
    return [make_finding(None, Severity.WARNING, "containment",
                         f"no child subreaper here ({reason}): a process a service leaves behind is "
                         "found by its environment tag only, and one that clears its environment "
                         "(`env -i`) can outlive `devstack down`",
                         "run each program in the foreground (no `&`, `setsid`, `--daemonize`)")]
