"""`doctor`'s report: one block per service (errors first, each fix on the line after it; "ok"
when clean), the stack-wide findings, and a summary line.
"""

from __future__ import annotations

from collections.abc import Sequence

from devstack.config.specs import StackSpec
from devstack.doctor.findings import RANK, Finding, Severity
from devstack.text.lines import plural


def _render_group(findings: list[Finding]) -> list[str]:
    ordered = sorted(findings, key=lambda f: RANK[f.severity])
    lines: list[str] = []
    for index, finding in enumerate(ordered):
        lines.append(f"  {finding.severity}: {finding.message}")
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        # Five missing packages share one pip command: print it once, after the last.
        if finding.fix and (following is None or following.fix != finding.fix):
            lines.append(f"    fix: {finding.fix}")
    return lines


def _summary(findings: list[Finding], services: int) -> str:
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    parts = [plural(n, word) for n, word in ((errors, "error"), (warnings, "warning")) if n]
    return f"{', '.join(parts) or 'no problems'} in {plural(services, 'service')}"


def render_findings(stack: StackSpec, findings: list[Finding], services: Sequence[str] | None = None) -> str:
    """`doctor`'s report: one block per service (errors first, each fix on the line after
    it; "ok" when clean), the stack-wide findings, and a summary line. Plain text.
    `services`: the services that were checked (default: all of the stack)."""
    names = list(services) if services is not None else list(stack.services)
    names += [f.service for f in findings if f.service is not None and f.service not in names]
    names = list(dict.fromkeys(names))
    lines: list[str] = []
    for name in names:
        lines.append(name)
        lines += _render_group([f for f in findings if f.service == name]) or ["  ok"]
    stack_wide = [f for f in findings if f.service is None]
    if stack_wide:
        lines.append("stack-wide")
        lines += _render_group(stack_wide)
    lines += ["", _summary(findings, len(names))]
    return "\n".join(lines) + "\n"
