"""The `cwd` check: the service's folder exists (everything else is relative to it); a missing
one is usually a renamed one, and the sibling it resembles is named.
"""

from __future__ import annotations

from pathlib import Path

from devstack.doctor.findings import Context, Finding, Severity
from devstack.text.suggest import closest


def check_cwd(ctx: Context) -> list[Finding]:
    """The service's folder exists (everything else is relative to it)."""
    cwd = ctx.service.cwd
    if cwd.is_dir():
        return []
    if cwd.exists():
        return [ctx.finding(Severity.ERROR, "cwd", f"cwd {ctx.show(cwd)} is not a folder",
                            "fix `cwd` in stack.toml")]
    mkdir = f"mkdir -p {ctx.arg(cwd)}"
    guess = _sibling_like(cwd)
    if guess is not None:
        # The usual cause is a renamed folder (apps/ai-api → apps/ai-api-fastapi), not a missing one.
        fix = f'set cwd = "{ctx.show(guess)}" in stack.toml (or {mkdir})'
    else:
        fix = f"{mkdir} (or fix `cwd` in stack.toml)"
    return [ctx.finding(Severity.ERROR, "cwd", f"cwd {ctx.show(cwd)} does not exist", fix)]


def _sibling_like(path: Path) -> Path | None:
    try:
        siblings = [p.name for p in path.parent.iterdir() if p.is_dir()]
    except OSError:
        return None
    guess = closest(path.name, siblings)
    return None if guess is None else path.parent / guess
