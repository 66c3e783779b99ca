"""The `setup` check: what the service's setup builds (node_modules, the jar its command runs)
is there, and newer than what it is built from (builds.py). A missing build is an error: the
service would fail at once, the same way at every restart. An old one is a warning: it runs, but
not the code on disk.
"""

from __future__ import annotations

from devstack.doctor.builds import Staleness, stale_builds
from devstack.doctor.findings import Context, Finding, Severity


def check_setup(ctx: Context) -> list[Finding]:
    return [_finding(ctx, stale) for stale in stale_builds(ctx.service)]


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
