"""Daemonizing, named: a service whose main process exits while a process it started keeps
running (above all one holding the service's port) has daemonized. devstack never adopts such a
process as the service (docs/containment.md says why): it says so in one line, names the
leftover, and gives the command that runs the program in the foreground.

Known daemonizers get their own fix (the table below, also behind doctor's warning before a
start); anything else gets the general one with examples. `pg_ctl start` is special: it waits
until its server is ready and only then exits, so while it runs its server already answers the
probe; `waits_for_its_server` tells the engine not to call the service up meanwhile.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devstack.doctor.findings import Context, Finding, Severity
from devstack.process.tree import Leftover
from devstack.text.lines import one_line
from devstack.text.words import command_words

GENERAL_FIX = ("run it in the foreground, e.g. `postgres -D …` instead of `pg_ctl start`, "
               "`redis-server --daemonize no`, `nginx -g 'daemon off;'`")
_SHOWN = 100  # characters of another process's command quoted in a reason
_FIX_SHOWN = 240  # characters of the command to type instead: cut only when it is absurdly long


@dataclass(frozen=True)
class Daemonizer:
    """A command known to put its program in the background: what it does, and the fix."""

    name: str  # as the reason says it: "pg_ctl start"
    pattern: re.Pattern[str]  # on the command as one line of text
    fix: Callable[[str], str]  # the command text → the foreground command to run instead
    waits: bool = False  # exits only once its server is ready (pg_ctl): it answers the probe meanwhile


def _pg_ctl(text: str) -> str:
    words = command_words(text)
    data, options = "DATA", ""
    for i, word in enumerate(words[:-1]):
        if word in ("-D", "--pgdata"):
            data = shlex.quote(words[i + 1])
        elif word in ("-o", "--options"):
            options = " " + words[i + 1]
    for word in words:
        if word.startswith("--pgdata="):
            data = shlex.quote(word.split("=", 1)[1])
        elif word.startswith("-D") and len(word) > 2:
            data = shlex.quote(word[2:])
    return f"postgres -D {data}{options}"


def _replace(pattern: str, by: str) -> Callable[[str], str]:
    return lambda text: re.sub(pattern, by, _program_onward(text), count=1).strip()


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: f"{_program_onward(text)} {extra}"


DAEMONIZERS: tuple[Daemonizer, ...] = (
    Daemonizer("pg_ctl start", re.compile(r"\bpg_ctl\b.*\b(start|restart)\b"), _pg_ctl, waits=True),
    Daemonizer("redis-server --daemonize yes", re.compile(r"\bredis-server\b.*--daemonize[= ]+yes\b"),
               _replace(r"--daemonize[= ]+yes", "--daemonize no")),
    Daemonizer("nginx", re.compile(r"(^|[\s/])nginx(?![^;&|]*daemon off)(\s|$)"),
               _append("-g 'daemon off;'")),
    Daemonizer("memcached -d", re.compile(r"\bmemcached\b.*\s(-d|--daemon)\b"),
               _replace(r"\s(-d|--daemon)\b", "")),
    Daemonizer("mongod --fork", re.compile(r"\bmongod\b.*\s--fork\b"), _replace(r"\s--fork\b", "")),
    Daemonizer("apachectl start", re.compile(r"\b(apachectl|apache2ctl)\b.*\bstart\b"),
               lambda _text: "apachectl -D FOREGROUND"),
    Daemonizer("httpd -k start", re.compile(r"\bhttpd\b.*-k\s+start\b"), lambda _text: "httpd -DFOREGROUND"),
    Daemonizer("php-fpm", re.compile(r"\bphp-fpm[\d.]*\b(?!.*\s(-F|--nodaemonize)\b)"), _append("-F")),
)

# Shell ways to leave a process behind: `server &` (not `&&`), and setsid's --fork.
_BACKGROUND = re.compile(r"(?<![&>])&(?!&)(\s*(exit\b|;|$|\n)|\s+\S)")
_SETSID_FORK = re.compile(r"\bsetsid\s+(-\w*f\w*|--fork)\b")
# Shell syntax after which the command's own process is not the program the text names.
_COMPOUND = re.compile(r"[;|\n]|&&|\|\|")


def command_text(command: str | Sequence[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def _program_onward(text: str) -> str:
    """The command from its program on: wrappers that only change who runs it (setpriv, sudo, env)
    are not part of the fix."""
    words = command_words(text)
    for i, word in enumerate(words):
        if word == "--" and i + 1 < len(words):
            return shlex.join(words[i + 1:])
    return text


def daemonizer(command: str | Sequence[str]) -> Daemonizer | None:
    """The known daemonizer the command runs, if any."""
    text = command_text(command)
    return next((d for d in DAEMONIZERS if d.pattern.search(text)), None)


def waits_for_its_server(command: str | Sequence[str]) -> Daemonizer | None:
    """A known daemonizer that is the service's own process and exits only once its server is
    ready (pg_ctl start): until it exits, a passing probe is its server's, not yet a service."""
    text = command_text(command)
    found = daemonizer(text)
    if found is None or not found.waits or _COMPOUND.search(text) or re.search(r"\s(-W|--no-wait)\b", text):
        return None
    return found


def foreground_fix(command: str | Sequence[str], left: Leftover | None) -> str:
    """How to run the program in the foreground, as specific as the command lets it be."""
    text = command_text(command)
    known = daemonizer(text)
    if known is not None:
        instead = one_line(known.fix(text), _FIX_SHOWN)
        return f"run it in the foreground: `{instead}` instead of `{known.name}`"
    if left is not None and (_BACKGROUND.search(text) or _SETSID_FORK.search(text)):
        how = "`setsid -f`" if _SETSID_FORK.search(text) else "`&`"
        return (f"run it in the foreground: `{one_line(left.command, _FIX_SHOWN)}` as the command itself, "
                f"without {how}")
    return GENERAL_FIX


def left_behind_reason(name: str, code: int, left: Sequence[Leftover], port: int | None,
                       command: str | Sequence[str]) -> str:
    """The one line for a service whose main process exited while `left` ran on (the process
    holding a port first): exit 0 is daemonizing, any other code a crash that left a server."""
    first = left[0]
    where = "running"
    if port is not None and port in first.ports:
        where = f"listening on {port}"
    elif first.ports:
        where = f"listening on {', '.join(str(p) for p in first.ports[:3])}"
    more = f" and {len(left) - 1} more process{'es' * (len(left) > 2)}" if len(left) > 1 else ""
    ended = f"exited {code}" if code >= 0 else f"was killed by signal {-code}"
    said = f"{name}'s process {ended} but left pid {first.pid} (`{one_line(first.command, _SHOWN)}`)"
    fix = foreground_fix(command, first)
    if code == 0:
        return f"{said} {where}{more}: it daemonized; {fix}"
    return f"{said} {where}{more}; devstack stopped it: {fix}"


def check_daemonizer(ctx: Context) -> list[Finding]:
    """The `daemon` check: the command is known to put its program in the background. A warning,
    not an error: devstack runs it, and then names what it left behind."""
    known = daemonizer(ctx.service.command)
    if known is None:
        return []
    text = command_text(ctx.service.command)
    return [ctx.finding(Severity.WARNING, "daemon",
                        f"`{known.name}` puts its program in the background and exits: devstack would "
                        f"report {ctx.service.name} as daemonized, not up",
                        f"run it in the foreground: `{ctx.redact(known.fix(text))}`")]
