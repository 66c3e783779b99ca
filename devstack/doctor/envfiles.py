"""The env file checks: each env file exists and parses (`env_file`), has the keys of the
`.env.example` beside it (`env_keys`), and every `required_env` name is set (`required_env`).
Names only: a value from a .env file never enters a finding.
"""

from __future__ import annotations

import io
import shlex
from pathlib import Path

from dotenv.parser import parse_stream

from devstack.doctor.findings import Context, Finding, Severity, make_finding
from devstack.env.layers import Layer
from devstack.text.places import shown

_EXAMPLE_SUFFIXES = (".example", ".sample", ".template")


def example_beside(path: Path) -> Path | None:
    for suffix in _EXAMPLE_SUFFIXES:
        example = path.with_name(path.name + suffix)
        if example.is_file():
            return example
    return None


def _same_file(a: Path, b: Path | None) -> bool:
    return b is not None and a.resolve() == b.resolve()


def _missing_file(service: str | None, root: Path, path: Path) -> Finding:
    rel = shown(path, root)
    example = example_beside(path)
    if example is not None:
        fix = f"cp {shlex.quote(shown(example, root))} {shlex.quote(rel)}"
    else:
        fix = f"create {rel}, or remove it from `env_file` in stack.toml"
    return make_finding(service, Severity.ERROR, "env_file", f"env file {rel} does not exist", fix)


def check_env_files(ctx: Context) -> list[Finding]:
    """The service's env files exist (a default .env only when a .env.example says one is
    expected), and parse (python-dotenv's complaints, by line, never by value)."""
    stack_file = ctx.stack.env_file
    found = [_missing_file(ctx.service.name, ctx.stack.root, path)
             for path in ctx.env.missing_env_files if not _same_file(path, stack_file)]
    stack_prefix = None if stack_file is None else ctx.show(stack_file) + ":"
    for warning in ctx.env.warnings:
        if stack_prefix is None or not warning.startswith(stack_prefix):
            found.append(ctx.finding(Severity.WARNING, "env_file", warning))
    return found


def file_keys(path: Path, with_value_only: bool) -> list[str] | None:
    """The names a dotenv file sets, in order (None when unreadable). A bare `NAME` line
    names a key in an example, but sets nothing in a real .env."""
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError:
        return None
    keys: dict[str, None] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.key and not binding.error and (binding.value is not None or not with_value_only):
            keys[binding.key] = None
    return list(keys)


def _where_set(ctx: Context, name: str, os_only: bool) -> str | None:
    var = ctx.env.get(name)
    # For the stack-wide file only the OS layer below it is shared by every service.
    if var is None or (os_only and var.layer is not Layer.OS):
        return None
    if var.layer is Layer.OS:
        return "set in the OS environment"
    if var.layer is Layer.ENV:
        return "set by `env` in stack.toml"
    if var.layer is Layer.DEVSTACK:
        return "set by devstack"
    return f"set in {ctx.show(Path(var.source))}"


def _missing_keys(ctx: Context, who: str | None, path: Path) -> list[Finding]:
    """The keys of the example beside `path` that `path` lacks; a warning unless another
    layer sets every one of them for the service (`who` None: for every service)."""
    example = example_beside(path)
    if example is None:
        return []
    have, want = file_keys(path, with_value_only=True), file_keys(example, with_value_only=False)
    if have is None or want is None:
        return []
    missing = [key for key in want if key not in have]
    if not missing:
        return []
    notes = {key: _where_set(ctx, key, os_only=who is None) for key in missing}
    listed = ", ".join(key if notes[key] is None else f"{key} ({notes[key]})" for key in missing)
    message = f"{ctx.show(path)} lacks keys that {ctx.show(example)} has: {listed}"
    if all(note is not None for note in notes.values()):
        # Every one reaches the service from another layer: worth knowing, not a problem.
        return [make_finding(who, Severity.INFO, "env_keys", message, None)]
    fix = f"add them to {ctx.show(path)} (see {ctx.show(example)})"
    return [make_finding(who, Severity.WARNING, "env_keys", message, fix)]


def check_env_keys(ctx: Context) -> list[Finding]:
    """Keys of `.env.example` (beside each service env file) that the file lacks: names only."""
    found: list[Finding] = []
    for path in ctx.env.env_files:
        if not _same_file(path, ctx.stack.env_file):
            found += _missing_keys(ctx, ctx.service.name, path)
    return found


def check_stack_env_file(ctx: Context, who: str | None) -> list[Finding]:
    """The stack-wide env_file: exists, parses, has its example's keys. `who` is the
    service the findings are filed under (None: stack-wide)."""
    path = ctx.stack.env_file
    if path is None:
        return []
    if not path.exists():
        return [_missing_file(who, ctx.stack.root, path)]
    prefix = ctx.show(path) + ":"
    found = [make_finding(who, Severity.WARNING, "env_file", warning, None)
             for warning in ctx.env.warnings if warning.startswith(prefix)]
    return found + _missing_keys(ctx, who, path)


def check_required_env(ctx: Context) -> list[Finding]:
    """Every `required_env` name is set by some layer (empty counts as set)."""
    missing = ctx.env.missing(ctx.service.required_env)
    if not missing:
        return []
    files = ctx.service.env_files
    target = files[0] if files else ctx.service.cwd / ".env"
    assignments = ", ".join(f"{name}=..." for name in missing)
    return [ctx.finding(Severity.ERROR, "required_env", f"required_env not set: {', '.join(missing)}",
                        f"add {assignments} to {ctx.show(target)}")]
