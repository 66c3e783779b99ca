"""The `executable` check: the command's first word is found as the child will look for it
(venv first), and when it is not, the fix that will make it so.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from devstack.doctor.findings import Context, Finding, Severity
from devstack.env.executables import first_word, resolve_executable
from devstack.env.venv import venv_bin_dir

_PATH_SHOWN = 4  # PATH entries named in "not found" before "…"


def check_executable(ctx: Context) -> list[Finding]:
    """The command's first word is found as the child will look for it (venv first)."""
    command, windows = ctx.service.command, ctx.env.windows
    word, _unchecked = first_word(command, windows)
    if not word:
        return [ctx.finding(Severity.ERROR, "executable", "the command is empty",
                            "set `command` in stack.toml")]
    if resolve_executable(command, ctx.env.as_dict(), ctx.service.cwd, windows=windows) is not None:
        return []
    if "/" in word or (windows and "\\" in word):
        return [_missing_file_word(ctx, word)]
    message = f"command not found: '{word}' is not on the service's PATH ({_short_path(ctx)})"
    return [ctx.finding(Severity.ERROR, "executable", message, _executable_fix(ctx, word))]


def _missing_file_word(ctx: Context, word: str) -> Finding:
    """`./mvnw`, `bin/start`, `/opt/x/run`: a file, not a PATH lookup."""
    target = ctx.service.cwd / Path(word).expanduser()
    where = f" in {ctx.show(ctx.service.cwd)}" if not Path(word).is_absolute() else ""
    if target.is_file() and not ctx.env.windows:
        # A checkout from Windows or a zip download loses the x bit (./mvnw, ./gradlew).
        return ctx.finding(Severity.ERROR, "executable", f"'{word}'{where} is not executable",
                           f"chmod +x {ctx.arg(target)}")
    return ctx.finding(Severity.ERROR, "executable", f"'{word}' does not exist{where}",
                       "fix `command` in stack.toml")


def _short_path(ctx: Context) -> str:
    var = ctx.env.get("PATH")
    if var is None:
        return "PATH is not set"
    sep = ";" if ctx.env.windows else ":"
    entries = [ctx.show(Path(entry)) if entry else "." for entry in var.value.split(sep)]
    more = [f"{sep}…"] if len(entries) > _PATH_SHOWN else []
    return "searched " + sep.join(entries[:_PATH_SHOWN]) + "".join(more)


def _executable_fix(ctx: Context, word: str) -> str:
    disabled = _disabled_venv_with(ctx, word)
    if disabled is not None:
        return (f"remove `venv = false` from [services.{ctx.service.name}] in stack.toml "
                f"({word} is in {ctx.show(disabled)})")
    wanted = _requirement_for(ctx, word)
    if wanted is not None and not ctx.service.venv_disabled:
        if ctx.env.venv is None:
            return ctx.venv_fix(ctx.service.cwd / "venv", clear=False)
        return f"{ctx.pip()} install {shlex.quote(wanted)}"
    return f"install {word}, or fix `command` in stack.toml"


def _disabled_venv_with(ctx: Context, word: str) -> Path | None:
    """The bin folder of a venv in cwd that `venv = false` turned off and that holds `word`."""
    if not ctx.service.venv_disabled:
        return None
    for name in ("venv", ".venv"):
        venv = ctx.service.cwd / name
        bin_dir = venv_bin_dir(venv, ctx.env.windows)
        path = {"PATH": str(bin_dir)}
        if (venv / "pyvenv.cfg").is_file() and resolve_executable(
            (word,), path, ctx.service.cwd, windows=ctx.env.windows
        ) is not None:
            return bin_dir
    return None


def _requirement_for(ctx: Context, word: str) -> str | None:
    """requirements.txt's requirement for a distribution named like `word` (uvicorn, gunicorn)."""
    path = ctx.service.cwd / "requirements.txt"
    if not path.is_file():
        return None
    from devstack.doctor.reqfile import (
        read_requirements,  # packaging: only for services with requirements.txt
    )

    try:
        found = read_requirements(path).find(word)
    except OSError:
        return None
    if found is None:
        return None
    requirement = found[1]
    requirement.marker = None  # the marker held (or pip would skip it); keep the command short
    return str(requirement)
