"""The `requirements` check: requirements.txt in the service's folder is satisfied in its venv,
each missing or mismatched package named with the pip command of that venv (reqfile.py reads
the file, requirements.py compares it with the venv).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from devstack.doctor.findings import Context, Finding, Severity
from devstack.text.places import shown

if TYPE_CHECKING:
    from devstack.doctor.reqfile import Issue


def check_requirements(ctx: Context, venv_ok: bool = True) -> list[Finding]:
    """requirements.txt in cwd is satisfied in the venv: each missing or mismatched package
    named, with the pip command of that venv."""
    path = ctx.service.cwd / "requirements.txt"
    if not path.is_file():
        return []
    venv = ctx.env.venv
    if venv is None:
        return [_no_venv_note(ctx, path)]
    if not venv_ok:
        return []  # the venv finding's fix recreates it and installs requirements.txt
    from devstack.doctor import requirements as reqs  # packaging: only for services with requirements.txt

    try:
        report = reqs.check_requirements(path, venv)
    except OSError as exc:
        return [ctx.finding(Severity.WARNING, "requirements",
                            f"cannot read {ctx.show(path)} ({exc.strerror or type(exc).__name__})")]
    fix = f"{ctx.pip()} install -r {ctx.arg(path)}"
    return [_requirement_finding(ctx, issue, fix) for issue in report.issues]


def _no_venv_note(ctx: Context, path: Path) -> Finding:
    if ctx.service.venv_disabled:
        return ctx.finding(Severity.INFO, "requirements", f"{ctx.show(path)} not checked: `venv = false`")
    return ctx.finding(Severity.INFO, "requirements",
                       f"{ctx.show(path)} not checked: no venv/ or .venv/ in {ctx.show(ctx.service.cwd)}",
                       ctx.venv_fix(ctx.service.cwd / "venv", clear=False))


def _requirement_finding(ctx: Context, issue: Issue, fix: str) -> Finding:
    # "requirements.txt line 3" reads best relative to the service's folder.
    from devstack.doctor.reqfile import Verdict

    message = issue.message(lambda p: shown(p, ctx.service.cwd, ctx.stack.root))
    if issue.verdict in (Verdict.MISSING, Verdict.MISMATCH):
        return ctx.finding(Severity.ERROR, "requirements", message, fix)
    if issue.verdict is Verdict.UNREADABLE:
        return ctx.finding(Severity.WARNING, "requirements", message)
    return ctx.finding(Severity.INFO, "requirements", message)
