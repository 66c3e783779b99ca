"""A Vite config that fails to load: the config file, its first real error, and for a plugin that
is not installed the command that installs it.

Vite says "failed to load config from /app/vite.config.js", then "error when starting dev
server:", then the error: a package the config imports that is not in node_modules (ESM's
ERR_MODULE_NOT_FOUND, "imported from …/.vite-temp/vite.config.js.timestamp-….mjs", the bundled
copy of the config), "config must export or return an object", or a parse error with its
location in a box drawn under it.
"""

from __future__ import annotations

import re
from typing import Final

from devstack.doctor.signatures.base import Context, index_of, place, read_json, stack_path

_STARTING: Final = re.compile(r"^error when starting (?:dev server|preview server|build):?$")
_CONFIG_IMPORT: Final = re.compile(
    r"Cannot find (?:module|package) '(?P<package>[^']+)'(?: imported from \S*vite\.config\.\S+|\s*$)")
_BUILD_FAILED: Final = re.compile(r"^Error: Build failed with \d+ errors?:$")
_LOCATION: Final = re.compile(r"[─-]\[\s*(?P<where>[^\]\s]+:\d+:\d+)\s*\]")
_FRAME: Final = re.compile(r"^\s+at ")
# lockfile -> (install what the lockfile says, add a package); each takes -D for a dev dependency.
INSTALLERS: Final = (
    ("pnpm-lock.yaml", "pnpm install --frozen-lockfile", "pnpm add"),
    ("yarn.lock", "yarn install --frozen-lockfile", "yarn add"),
    ("bun.lockb", "bun install --frozen-lockfile", "bun add"),
    ("bun.lock", "bun install --frozen-lockfile", "bun add"),
    ("package-lock.json", "npm ci", "npm install"),
)


def install_command(ctx: Context) -> tuple[str, str]:
    """(what installs the lockfile's packages, what adds one) for the service's package manager."""
    for folder in (ctx.cwd, *ctx.cwd.parents):
        for lockfile, install, add in INSTALLERS:
            if (folder / lockfile).is_file():
                return install, add
        if folder == ctx.root or ctx.root not in folder.parents:
            break
    return "npm install", "npm install"


def declared(ctx: Context, package: str) -> bool:
    """`package` is among package.json's dependencies (then an install, not an add, fixes it)."""
    manifest = read_json(ctx.cwd / "package.json") or {}
    return any(isinstance(deps, dict) and package in deps
               for deps in (manifest.get(section) for section in
                            ("dependencies", "devDependencies", "optionalDependencies")))


def vite_config(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    config = stack_path(match.group("file"), ctx.root)
    error = _first_error(lines[index_of(match, lines) + 1 :])
    head = f"vite could not load {config}"
    if error is None:
        return head
    missing = _CONFIG_IMPORT.search(error)
    if missing:
        package = _package_name(missing.group("package"))
        install, add = install_command(ctx)
        if declared(ctx, package):
            where = place(ctx.cwd, ctx.root)
            fix = f"devstack setup {ctx.name}" if ctx.has_setup else f"{install} in {where}"
            return f"{head}: it imports {package}, which package.json lists but is not installed: {fix}"
        return (f"{head}: it imports {package}, which is not installed: {add} -D {package} "
                f"in {place(ctx.cwd, ctx.root)}")
    return f"{head}: {error}"


def _first_error(after: list[str]) -> str | None:
    """The error Vite printed under "error when starting dev server:", with its location."""
    for i, line in enumerate(after):
        if not _STARTING.match(line.strip()):
            continue
        rest = [text for text in after[i + 1 :] if text.strip()]
        if not rest:
            return None
        error = rest[0].strip()
        if _BUILD_FAILED.match(error) and len(rest) > 1:
            # Rolldown: "Build failed with 1 error:", then the error, then a box with its place.
            error = rest[1].strip()
            where = next((found.group("where") for text in rest[2:8] if (found := _LOCATION.search(text))),
                         None)
            if where:
                error += f" ({where})"
        return re.sub(r"\S*/node_modules/\.vite-temp/(vite\.config\.\w+)\.timestamp-\S+", r"\1", error)
    return None


def _package_name(module: str) -> str:
    """The package of an import: "@scope/name" or "name", without a subpath."""
    parts = module.split("/")
    return "/".join(parts[:2]) if module.startswith("@") else parts[0]
