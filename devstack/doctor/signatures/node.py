"""Node's fatal lines: EADDRINUSE, Vite moving to another port, a module or package that cannot
be found (a tool not installed: `devstack setup` or the lockfile's install; a file: where it is),
npm run where there is no package.json, a Vite config that fails to load (vite.py), and a Node
too old for what it runs (nodeversion.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from devstack.doctor.signatures.base import (
    Context,
    Signature,
    holder_of,
    index_of,
    place,
    port_in_use,
    sig,
    stack_path,
)
from devstack.doctor.signatures.nodeversion import (
    NEWER_GLOBALS,
    builtin_missing,
    global_missing,
    js_error,
    npm_engine,
    vite_requires,
)
from devstack.doctor.signatures.search import file_homes
from devstack.doctor.signatures.vite import declared, install_command, vite_config

VITE_MOVED = re.compile(r"Port (?P<port>\d+) is in use, trying another one")


_LOCAL_URL = re.compile(r"Local:\s+https?://\S*?:(?P<port>\d+)")


def _vite_moved(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    at = index_of(match, lines)
    # Vite prints one "is in use" line per busy port it tries (5173, 5174, ...): the
    # port the service asked for is the first of the run.
    first = at
    while first > 0 and VITE_MOVED.search(lines[first - 1]):
        first -= 1
    start = VITE_MOVED.search(lines[first]) or match
    wanted = int(start.group("port"))
    holder = holder_of(wanted, ctx)
    for line in lines[at + 1 :]:
        local = _LOCAL_URL.search(line)
        if local:
            return (
                f"vite moved to port {local.group('port')} because {wanted} is held by {holder}; "
                "set strictPort or free the port"
            )
    return (
        f"vite could not use port {wanted} (held by {holder}) and tried another; "
        "set strictPort or free the port"
    )


def _node_module(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    module = match.group("module")
    if module.startswith((".", "/")) or re.match(r"[A-Za-z]:[\\/]", module):
        return _missing_file(match, ctx, module)
    # A package: the tool or library is not installed (node_modules missing or stale).
    package = "/".join(module.split("/")[:2]) if module.startswith("@") else module.split("/")[0]
    install, add = install_command(ctx)
    where = place(ctx.cwd, ctx.root)
    if not declared(ctx, package) and (ctx.cwd / "package.json").is_file():
        return f"{match.group(0)} (package.json does not list {package}: {add} {package} in {where})"
    fix = f"devstack setup {ctx.name}" if ctx.has_setup else f"{install} in {where}"
    return f"{match.group(0)} (not installed: {fix})"


def _missing_file(match: re.Match[str], ctx: Context, module: str) -> str:
    """`node server.js` where there is no server.js: where it is, and the cwd that finds it."""
    path = Path(module)
    ran_in = path.parent if path.is_absolute() else ctx.cwd
    shown = match.group(0).replace(module, stack_path(module, ctx.root))
    try:
        name = str(path.relative_to(ctx.cwd)) if path.is_absolute() else module
    except ValueError:
        name = path.name
    homes = _nearest_first(ctx, [home for home in file_homes(ctx, name) if home != ran_in])
    if homes:
        rel = stack_path(homes[0], ctx.root)
        return (f"node found no {name} in {place(ran_in, ctx.root)}; it is in {place(homes[0], ctx.root)}: "
                f'set cwd = "{rel}"')
    # A file, not a package: npm ci will not create it.
    return f'{shown} (no such file: check the command and cwd = "{stack_path(ctx.cwd, ctx.root)}")'


def _npm_wrong_folder(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = Path(match.group("file")).parent
    head = f"npm ran in {place(folder, ctx.root)}, which has no package.json"
    homes = _nearest_first(ctx, [home for home in file_homes(ctx, "package.json") if home != folder])
    if not homes:
        return f"{head}, nor has any folder near it: check cwd and the command"
    rel = stack_path(homes[0], ctx.root)
    others = f" (and {len(homes) - 1} other place{'s' if len(homes) > 2 else ''})" if len(homes) > 1 else ""
    return f'{head}; package.json is in {place(homes[0], ctx.root)}{others}: set cwd = "{rel}"'


def _nearest_first(ctx: Context, homes: list[Path]) -> list[Path]:
    """A folder named like the service first (web's package.json is in web/), then as found."""
    return sorted(homes, key=lambda home: home.name != ctx.name)


def _js_error(match: re.Match[str], ctx: Context, lines: list[str]) -> str | None:
    # Under Vite's "failed to load config", an error is the config's (vite_config tells it).
    at = index_of(match, lines)
    for line in lines[max(0, at - 4) : at]:
        anchor = _VITE_CONFIG.search(line)
        if anchor:
            return vite_config(anchor, ctx, lines)
    return js_error(match, ctx, lines)


_VITE_CONFIG = re.compile(r"failed to load config from (?P<file>\S+)$")


SIGNATURES: Final[tuple[Signature, ...]] = (
    sig("node-eaddrinuse", r"EADDRINUSE: address already in use \S*:(?P<port>\d+)", port_in_use),
    # Before generic.py's "port-already-in-use", which matches Vite's line too.
    sig("vite-port-moved", VITE_MOVED.pattern, _vite_moved),
    sig(
        "node-cannot-find-module",
        # Not a package a Vite config imports: vite-config tells those, from the line before.
        r"Error(?: \[ERR_MODULE_NOT_FOUND\])?: Cannot find (?:module|package) '(?P<module>[^']+)'"
        r"(?! imported from \S*vite\.config\.)",
        _node_module,
    ),
    sig("npm-no-package-json", r"ENOENT: no such file or directory, open '(?P<file>[^']*package\.json)'",
        _npm_wrong_folder),
    Signature("vite-config", _VITE_CONFIG, vite_config),
    sig("vite-requires-node", r"You are using Node\.js (?P<have>[\d.]+)\. Vite requires Node\.js version "
        r"(?P<need>.+?)\. Please upgrade", vite_requires),
    sig("npm-ebadengine", r"^npm (?:error|ERR!) code EBADENGINE$", npm_engine),
    sig("node-builtin-missing", r"SyntaxError: The requested module 'node:(?P<module>\w+)' does not "
        r"provide an export named '(?P<name>\w+)'", builtin_missing),
    sig("node-global-missing", rf"ReferenceError: (?P<name>{'|'.join(NEWER_GLOBALS)}) is not defined",
        global_missing),
    # Any other JavaScript error with frames: a Node too old for the package that threw it.
    sig("js-error", r"^(?:TypeError|ReferenceError|SyntaxError|RangeError): .+$", _js_error),
)
