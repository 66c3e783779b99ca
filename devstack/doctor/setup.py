"""The `setup` check: what the service's setup builds (node_modules, the jar its command runs)
is there, and newer than what it is built from (builds.py). A missing build is an error: the
service would fail at once, the same way at every restart. An old one is a warning: it runs, but
not the code on disk. Where setup builds nothing devstack can look at, the record of the last
setup (setups.py) tells one that never ran, or whose command changed since (a warning).

`setup_reason` is the question `up` asks before a service's first start: why its setup should
run first (these findings, a missing venv, unmet requirements), or None.
"""

from __future__ import annotations

from devstack.doctor.builds import Staleness, builds_of, stale_builds
from devstack.doctor.findings import Context, Finding, Severity
from devstack.doctor.packages import check_requirements
from devstack.doctor.setups import read_record, setup_text
from devstack.doctor.venv import check_venv


def check_setup(ctx: Context) -> list[Finding]:
    findings = [_finding(ctx, stale) for stale in stale_builds(ctx.service)]
    if findings or ctx.service.setup is None or builds_of(ctx.service) or ctx.env.venv is not None:
        return findings  # what setup makes speaks for itself (the venv's checks are venv.py's)
    record = read_record(ctx.stack, ctx.service)
    if record is None:
        said = "its setup has not run yet (no record of it)"
    elif record.command != setup_text(ctx.service):
        said = "its setup command has changed since it last ran"
    else:
        return []
    return [ctx.finding(Severity.WARNING, "setup", said, f"devstack setup {ctx.service.name}")]


def setup_reason(ctx: Context) -> str | None:
    """Why the service's setup should run before it starts (None: it need not, or it has none)."""
    if ctx.service.setup is None:
        return None
    for finding in check_setup(ctx):
        return finding.message
    venv = [f for f in check_venv(ctx) if f.severity is Severity.ERROR]
    if venv:
        return venv[0].message
    for finding in check_requirements(ctx):
        if finding.severity is Severity.ERROR:
            return finding.message
    return None


def _finding(ctx: Context, stale: Staleness) -> Finding:
    build, name = stale.build, ctx.service.name
    fix = f"devstack setup {name}" if ctx.service.setup is not None else _tool_fix(stale)
    if build.kind == "npm":
        what = "node_modules"
        never = f"{ctx.show(ctx.service.cwd / 'node_modules')} has not been installed (npm ci never ran)"
    else:
        what = ctx.show(build.output)
        never = f"{what} does not exist: the project has not been built"
    if stale.missing:
        return ctx.finding(Severity.ERROR, "setup", never, fix)
    assert stale.newer is not None
    return ctx.finding(Severity.WARNING, "setup",
                       f"{what} is older than {ctx.show(stale.newer)}, which changed since the last setup",
                       fix)


def _tool_fix(stale: Staleness) -> str:
    if stale.build.kind == "npm":
        return "npm ci, or set `setup` in stack.toml and run devstack setup"
    names = {path.name for path in stale.build.inputs}
    if "pom.xml" in names:
        return "mvn -B package -DskipTests, or set `setup` in stack.toml and run devstack setup"
    return "gradle build, or set `setup` in stack.toml and run devstack setup"
