"""Fatal lines of no one ecosystem: a port in use as several servers word it, a shell that finds
no such command, and any other FATAL line, reported as it is (the catch-all: last of all).
"""

from __future__ import annotations

import re
from typing import Final

from devstack.doctor.signatures.base import Context, Signature, place, port_in_use, sig, stack_path
from devstack.env.venv import venv_bin_dir


def _fatal(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return f"FATAL: {match.group('text')}"


def command_not_found(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    line = match.group(0).strip()
    setup = f"run `devstack setup {ctx.name}`"
    if (ctx.cwd / "package.json").is_file():
        return f"{line} ({setup} or npm ci in {place(ctx.cwd, ctx.root)})"
    if ctx.venv is not None:
        pip = stack_path(venv_bin_dir(ctx.venv) / "pip", ctx.root)
        return f"{line} ({setup}, or install it in the venv: {pip} install {match.group('cmd')})"
    return f"{line} ({setup}, or install it: it is not on the service's PATH)"


SIGNATURES: Final[tuple[Signature, ...]] = (
    # Vite with strictPort, Spring Boot, Werkzeug (Flask).
    sig("port-already-in-use", r"Port (?P<port>\d+) (?:is already|was already|is) in use\b", port_in_use),
    sig("go-bind", r"listen tcp \S*:(?P<port>\d+): bind: address already in use", port_in_use),
    # dash: "sh: 1: vite: not found"; bash: "bash: line 1: vite: command not found";
    # macOS sh: "/bin/sh: vite: command not found".
    sig(
        "sh-command-not-found",
        r"(?:^|\s)(?:\S*/)?(?:sh|bash|dash|ksh)(?:: line \d+|: \d+)?: "
        r"(?P<cmd>[^\s:]+): (?:command )?not found$",
        command_not_found,
    ),
    sig(
        "zsh-command-not-found",
        r"(?:^|\s)(?:\S*/)?zsh:(?:\d+:)? command not found: (?P<cmd>\S+)$",
        command_not_found,
    ),
    sig(
        "cmd-not-recognized",
        r"^'(?P<cmd>[^']+)' is not recognized as an internal or external command",
        command_not_found,
    ),
    # The catch-all, last of every table: a FATAL line no specific row knows, as it is.
    sig("fatal", r"\bFATAL:\s+(?P<text>.+)", _fatal),
)
