"""Node's fatal lines: EADDRINUSE, Vite moving to another port, and a module or package that
cannot be found.
"""

from __future__ import annotations

import re
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
        # A file, not a package: npm ci will not create it.
        shown = match.group(0).replace(module, stack_path(module, ctx.root))
        return f'{shown} (no such file: check the command and cwd = "{stack_path(ctx.cwd, ctx.root)}")'
    return f"{match.group(0)} (run npm ci in {place(ctx.cwd, ctx.root)})"


SIGNATURES: Final[tuple[Signature, ...]] = (
    sig("node-eaddrinuse", r"EADDRINUSE: address already in use \S*:(?P<port>\d+)", port_in_use),
    # Before generic.py's "port-already-in-use", which matches Vite's line too.
    sig("vite-port-moved", VITE_MOVED.pattern, _vite_moved),
    sig(
        "node-cannot-find-module",
        r"Error(?: \[ERR_MODULE_NOT_FOUND\])?: Cannot find (?:module|package) '(?P<module>[^']+)'",
        _node_module,
    ),
)
