"""A Python too old for the code it runs: the venv's version against the version the code needs,
with the command that rebuilds the venv.

Code written for a newer Python fails in an older one with a SyntaxError on the new syntax
(`match` needs 3.10, `except*` 3.11, `def f[T]` and `type X = …` 3.12), and pip refuses a project
whose `requires-python` the venv does not meet. The version needed comes from the syntax on the
line Python points at, `requires-python` in the nearest pyproject.toml, and, when neither says,
from compiling the file with devstack's own (newer) Python: if it compiles there, it is the age of
the venv's Python, not a typo. Bounded: one file of the service read (its head), one pyproject.toml
per folder up to the stack folder; nothing is run.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from devstack.doctor.requirements import venv_python_version
from devstack.doctor.signatures.base import Context, index_of, read_head, stack_path
from devstack.env.venv import venv_bin_dir

Version3 = tuple[int, int, int]

# The syntax a SyntaxError points at, and the Python that brought it.
_SYNTAX: Final = (
    (re.compile(r"^\s*match\s+\S.*:\s*(?:#.*)?$|^\s*case\s+\S.*:\s*(?:#.*)?$"), (3, 10), "match statement"),
    (re.compile(r"^\s*except\s*\*"), (3, 11), "except*"),
    (re.compile(r"^\s*type\s+[A-Za-z_]\w*\s*(?:\[[^\]]*\])?\s*="), (3, 12), "type statement"),
    (re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\["), (3, 12), "generic function (def f[T])"),
    (re.compile(r"^\s*class\s+\w+\s*\["), (3, 12), "generic class (class C[T])"),
    (re.compile(r":="), (3, 8), "assignment expression (:=)"),
)
_FRAME: Final = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_LOWER_BOUND: Final = re.compile(r"(?:>=|~=|==)\s*(\d+)\.(\d+)")


def python_syntax(match: re.Match[str], ctx: Context, lines: list[str]) -> str | None:
    """`SyntaxError: …` under a frame of the stack's own code (None without a Python frame: a
    JavaScript SyntaxError)."""
    error = match.group(0).strip()
    at = index_of(match, lines)
    frame = next((_FRAME.match(line) for line in reversed(lines[max(0, at - 4) : at]) if _FRAME.match(line)),
                 None)
    if frame is None:
        return None
    file = Path(frame.group("file"))
    if not file.is_absolute():
        file = ctx.cwd / file
    where = f"{stack_path(file, ctx.root)}:{frame.group('line')}"
    if ctx.venv is None or _inside(file, ctx.venv):
        return f"{error} ({where})"
    have = venv_python_version(ctx.venv)
    code = lines[index_of(frame, lines) + 1] if index_of(frame, lines) + 1 < at else ""
    needs: list[tuple[Version3, str]] = []
    for pattern, since, what in _SYNTAX:
        if pattern.search(code):
            needs.append(((since[0], since[1], 0), what))
            break
    required = requires_python(file.parent, ctx.root)
    if required is not None:
        bound = _LOWER_BOUND.search(required[1])
        if bound:
            version = (int(bound[1]), int(bound[2]), 0)
            own = required[0] == stack_path(ctx.cwd / "pyproject.toml", ctx.root)
            needs.append((version, f"requires-python {required[1]}{'' if own else ' in ' + required[0]}"))
    mine: Version3 = (sys.version_info[0], sys.version_info[1], sys.version_info[2])
    if not needs and mine > have and _compiles(file):
        needs.append((mine, f"it compiles with Python {_short(mine)}"))
    newer = [(version, why) for version, why in needs if version > have]
    if not newer:
        return f"{error} ({where})"
    version = max(version for version, _ in newer)
    why = "; ".join(why for _, why in needs)
    return (f"{where} needs Python {_short(version)}+ ({why}), but the venv {stack_path(ctx.venv, ctx.root)} "
            f"has {_long(have)} ({error}): {rebuild(ctx, version)}")


def pip_requires_python(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    """pip: "Package 'x' requires a different Python: 3.8.18 not in '>=3.10'"."""
    bound = _LOWER_BOUND.search(match.group("need"))
    needed: Version3 | None = (int(bound[1]), int(bound[2]), 0) if bound else None
    venv = f"the venv {stack_path(ctx.venv, ctx.root)}" if ctx.venv else "its python"
    head = (f"{match.group('package')} needs Python {match.group('need')} (requires-python), but {venv} has "
            f"{match.group('have')}")
    return f"{head}: {rebuild(ctx, needed)}" if needed else head


def requires_python(folder: Path, root: Path) -> tuple[str, str] | None:
    """(the pyproject.toml as shown, its requires-python) of the nearest pyproject.toml from
    `folder` up to the stack folder."""
    for candidate in (folder, *folder.parents):
        text = read_head(candidate / "pyproject.toml")
        if text is not None:
            try:
                spec = tomllib.loads(text).get("project", {}).get("requires-python")
            except tomllib.TOMLDecodeError:
                spec = None
            if isinstance(spec, str) and _valid(spec):
                return stack_path(candidate / "pyproject.toml", root), spec
        if candidate == root or root not in candidate.parents:
            break
    return None


def rebuild(ctx: Context, needed: Version3 | None) -> str:
    """The commands that make the service's venv again with a new enough python."""
    if ctx.venv is None:
        return f"run {ctx.name} with a newer Python"
    venv = stack_path(ctx.venv, ctx.root)
    python = _python_for(needed)
    make = f"rm -rf {venv} && {python} -m venv {venv}"
    if ctx.has_setup:
        return f"{make} && devstack setup {ctx.name}"
    pip = stack_path(venv_bin_dir(ctx.venv) / "pip", ctx.root)
    requirements = ctx.cwd / "requirements.txt"
    if requirements.is_file():
        return f"{make} && {pip} install -r {stack_path(requirements, ctx.root)}"
    if (ctx.cwd / "pyproject.toml").is_file():
        return f"{make} && {pip} install -e {stack_path(ctx.cwd, ctx.root)}"
    return f"{make}, then install its packages again"


def _python_for(needed: Version3 | None) -> str:
    # The version's own name (python3.10): pyenv, deadsnakes and Homebrew all install it so.
    return "python3" if needed is None else f"python{needed[0]}.{needed[1]}"


def _compiles(file: Path) -> bool:
    source = read_head(file)
    if source is None:
        return False
    try:
        compile(source, str(file), "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents or folder.resolve() in path.resolve().parents


def _valid(spec: str) -> bool:
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        return False
    return True


def _short(version: Version3) -> str:
    return f"{version[0]}.{version[1]}"


def _long(version: Version3) -> str:
    return ".".join(map(str, version))
