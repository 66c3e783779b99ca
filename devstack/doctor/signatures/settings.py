"""Settings that were missing at start: the variables a Python service read from its environment
and did not find, told by name with the file that would carry them.

Two ways people hit it: pydantic(-settings) refusing to build a Settings object ("2 validation
errors for Settings / database_url / Field required"), in pydantic 2's words or 1's, and a bare
`os.environ["DATABASE_URL"]` raising `KeyError: 'DATABASE_URL'`. The reason names the variables
(pydantic's field names upper-cased, as pydantic-settings matches them without regard to case, or
the name `.env.example` spells with a prefix), says which layer of the service would carry them
(its env file, or `env` in stack.toml) and whether `.env.example` beside that file names them.
Names only: no value is read from any file but the example's keys.
"""

from __future__ import annotations

import re
from typing import Final

from devstack.doctor.envfiles import example_beside, file_keys
from devstack.doctor.signatures.base import Context, index_of, stack_path

_FIELD: Final = re.compile(r"^(?P<field>[A-Za-z_][\w.]*)$")
_MISSING: Final = re.compile(
    r"^\s+(?:Field required \[type=missing|field required \(type=value_error\.missing\))")
_PROBLEM: Final = re.compile(r"^\s+(?P<text>[^\[(]+?)\s*(?:\[type=|\(type=)")
# A Settings class of pydantic-settings (or pydantic 1's BaseSettings), not any model: its
# fields come from the environment.
_SETTINGS_MODEL: Final = re.compile(r"(?:Settings|Config|Env)$")
_ENV_READ: Final = re.compile(r"os\.environ\[|environ\[|<frozen os>|os/__init__\.py|in __getitem__")


def pydantic_missing(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    header = match.group(0)
    model = match.group("model")
    if not (_SETTINGS_MODEL.search(model) or any("pydantic_settings" in line or "env_settings" in line
                                                  for line in lines)):
        return header
    missing: list[str] = []
    invalid: list[str] = []
    field: str | None = None
    for line in lines[index_of(match, lines) + 1 :]:
        name = _FIELD.match(line)
        if name:
            field = name.group("field")
            continue
        if field is None:
            continue
        if _MISSING.match(line):
            missing.append(field)
        else:
            problem = _PROBLEM.match(line)
            if problem:
                invalid.append(f"{field} ({problem.group('text')})")
        field = None
    if not missing:
        return f"{header}: {', '.join(invalid)}" if invalid else header
    names = [_variable(field, ctx) for field in missing]
    reason = missing_variables(names, ctx, f"{model} needs")
    return f"{reason}; also invalid: {', '.join(invalid)}" if invalid else reason


def environ_key_error(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    at = index_of(match, lines)
    # The frames just above say whether the dictionary was the environment.
    if not any(_ENV_READ.search(line) for line in lines[max(0, at - 4) : at]):
        return match.group(0)
    return missing_variables([match.group("name")], ctx, f"{ctx.name} reads")


def _variable(field: str, ctx: Context) -> str:
    """The variable pydantic-settings reads for `field`: any case; with an env_prefix, the name the
    example spells (APP_DATABASE_URL for database_url)."""
    upper = field.replace(".", "__").upper()
    keys = _example_keys(ctx) or []
    for key in keys:
        if key.upper() == upper:
            return key
    prefixed = [key for key in keys if key.upper().endswith("_" + upper)]
    return prefixed[0] if len(prefixed) == 1 else upper


def _example_keys(ctx: Context) -> list[str] | None:
    if ctx.env_file is None:
        return None
    example = example_beside(ctx.env_file)
    return None if example is None else file_keys(example, with_value_only=False)


def missing_variables(names: list[str], ctx: Context, who: str) -> str:
    """"X needs A, B, which … lacks: add them to …" — names, layers and the example; no value."""
    listed = ", ".join(names)
    them = "it" if len(names) == 1 else "them"
    set_elsewhere = [f"{name} is set in {ctx.env[name]}" for name in names if name in ctx.env]
    if set_elsewhere:
        # Set, and still missing: the program reads another name (a prefix, a typo) or ran
        # without devstack's environment.
        return (f"{who} {listed}, but {'; '.join(set_elsewhere)}: check the name the code reads "
                "(an env_prefix?)")
    target = ctx.env_file or ctx.cwd / ".env"
    shown = stack_path(target, ctx.root)
    example = example_beside(target)
    keys = (file_keys(example, with_value_only=False) or []) if example is not None else []
    if example is None:
        note = ""
    else:
        named = [name for name in names if name in keys]
        example_shown = stack_path(example, ctx.root)
        if len(named) == len(names):
            note = f" ({example_shown} names {'it' if len(names) == 1 else 'all of them'}: copy from there)"
        elif named:
            note = f" ({example_shown} names {', '.join(named)} only)"
        else:
            note = f" ({example_shown} does not name {them} either)"
    exists = "" if target.exists() else ", which does not exist yet"
    variable = "a variable" if len(names) == 1 else "variables"
    return (f"{who} {variable} its environment lacks: {listed}; add {them} to {shown}{exists}{note}, "
            f"or to [services.{ctx.name}.env] in stack.toml")
