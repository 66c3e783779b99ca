"""The `venv` check: the service's venv (declared or found) exists, is a venv, and its python
runs as the service would run it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devstack.doctor.findings import Context, Finding, Severity
from devstack.env.venv import venv_python
from devstack.text.places import shown

VENV_PYTHON_TIMEOUT = 10.0  # s; a python that needs longer to start is as good as broken


def check_venv(ctx: Context) -> list[Finding]:
    """The venv (declared or found) exists, is a venv, and its python runs."""
    venv = ctx.env.venv
    if venv is None:
        return []
    found: list[Finding] = []
    if ctx.env.venv_auto:
        found.append(ctx.finding(Severity.INFO, "venv", f"using venv {ctx.show(venv)} (found automatically)"))
    problem = _venv_problem(ctx, venv)
    if problem is not None:
        message, clear = problem
        found.append(ctx.finding(Severity.ERROR, "venv", message, ctx.venv_fix(venv, clear)))
    return found


def _venv_problem(ctx: Context, venv: Path) -> tuple[str, bool] | None:
    """(what is wrong, whether the fix must recreate the venv with --clear), or None."""
    if not venv.exists():
        return f"venv {ctx.show(venv)} does not exist", False
    if not (venv / "pyvenv.cfg").is_file():
        return f"{ctx.show(venv)} is not a venv (it has no pyvenv.cfg)", False
    python = venv_python(venv, ctx.env.windows)
    if not python.exists():
        if python.is_symlink():
            # The classic: the python the venv was made from was upgraded or removed.
            # realpath follows the whole chain (python -> python3.11 -> /usr/bin/python3.11).
            target = os.path.realpath(python)
            return f"the venv's python {ctx.show(python)} links to {target}, which does not exist", True
        return f"venv {ctx.show(venv)} has no {shown(python, venv)}", True
    failure = _python_failure(ctx, python)
    return None if failure is None else (failure, True)


def _python_failure(ctx: Context, python: Path) -> str | None:
    """Why `python -c ''` fails, run as the service would run it; None when it works."""
    shown = ctx.show(python)
    try:
        done = subprocess.run([str(python), "-c", ""], cwd=ctx.service.cwd, env=ctx.env.as_dict(),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=VENV_PYTHON_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"the venv's python {shown} did not start within {VENV_PYTHON_TIMEOUT:g} s"
    except OSError as exc:
        return f"the venv's python {shown} does not run ({exc.strerror or type(exc).__name__})"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
    detail = f": {ctx.redact(lines[-1])}" if lines else ""
    return f"the venv's python {shown} does not run (exit code {done.returncode}{detail})"


def venv_ok(findings: list[Finding]) -> bool:
    return not any(f.severity is Severity.ERROR for f in findings)
