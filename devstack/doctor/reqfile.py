"""Reading a pip requirements file the way pip reads it: comments, line continuations, `-r`
includes, options lines and per-requirement options such as `--hash`. A line that names no
checkable package (a URL, a path, `-e .`, something unparsable) becomes a `SKIPPED` issue;
nothing in a requirements file makes this module raise. The wording of the user-facing sentences
lives here too (`Issue.message`), next to the facts they describe.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# pip's own rule: `#` starts a comment at the start of a line or after whitespace, so
# `pkg @ https://host/x.whl#sha256=…` keeps its fragment.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2")

Show = Callable[[Path], str]  # how a file's path appears in messages


class Verdict(StrEnum):
    MISSING = "missing"  # not installed
    MISMATCH = "mismatch"  # installed, but not a version the requirement accepts
    SKIPPED = "skipped"  # a line devstack cannot check: URL, path, editable, unparsable
    UNREADABLE = "unreadable"  # an included file that cannot be read, or an include loop


@dataclass(frozen=True)
class Line:
    """One logical line of a requirements file (continuations joined, comment removed)."""

    file: Path
    number: int  # the first physical line, counting from 1
    text: str


@dataclass(frozen=True)
class Issue:
    verdict: Verdict
    line: Line  # where the requirement (or the include) was written
    package: str | None = None  # the name as written
    installed: str | None = None  # MISMATCH: the version found
    wanted: str | None = None  # MISMATCH: the specifier, e.g. "==0.110.0"
    via: str | None = None  # needed by an extra of another requirement, e.g. "fastapi[email]"
    reason: str = ""  # SKIPPED / UNREADABLE: why

    def message(self, show: Show) -> str:
        """One line for the user; paths through `show` (e.g. relative to the service's cwd)."""
        where = f"{show(self.line.file)} line {self.line.number}"
        text = _redact_url_credentials(self.line.text)
        need = f"needed by {self.via}, " if self.via else ""
        if self.verdict is Verdict.MISSING:
            return f"package '{self.package}' is not installed in venv ({need}{where}: {text})"
        if self.verdict is Verdict.MISMATCH:
            wanter = f"{self.via} ({where})" if self.via else where
            return (f"package '{self.package}' {self.installed} is installed in venv, "
                    f"{wanter} wants {self.wanted}")
        if self.verdict is Verdict.UNREADABLE:
            return f"{where}: {text}: {self.reason}"
        return f"{where} not checked: {text} ({self.reason})"


@dataclass(frozen=True)
class Parsed:
    """What a requirements file asks for, includes resolved."""

    requirements: tuple[tuple[Line, Requirement], ...]
    issues: tuple[Issue, ...]  # SKIPPED and UNREADABLE lines

    def find(self, name: str) -> tuple[Line, Requirement] | None:
        """The first requirement for the distribution `name` (any spelling)."""
        wanted = canonicalize_name(name)
        return next((item for item in self.requirements if canonicalize_name(item[1].name) == wanted), None)


# --- reading a requirements file ------------------------------------------------------


def _redact_url_credentials(text: str) -> str:
    # git+https://user:token@host/…: a token in a requirements file must not reach a terminal.
    return _URL_USERINFO.sub(r"\1****@", text)


def _logical_lines(path: Path, text: str) -> Iterator[Line]:
    """pip's join_lines + ignore_comments: a trailing backslash continues a line, except
    on a comment line."""
    start: int | None = None
    parts: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.endswith("\\") and not _COMMENT.match(raw):
            start = number if start is None else start
            parts.append(raw[:-1])
            continue
        if parts:
            # A comment line ends a continuation; prefixing a space keeps it a comment.
            parts.append(" " + raw if _COMMENT.match(raw) else raw)
            joined, first = "".join(parts), start or number
            parts, start = [], None
        else:
            joined, first = raw, number
        cleaned = _COMMENT.sub("", joined).strip()
        if cleaned:
            yield Line(path, first, cleaned)
    if parts:
        cleaned = _COMMENT.sub("", "".join(parts)).strip()
        if cleaned:
            yield Line(path, start or 1, cleaned)


def _split_args(text: str) -> tuple[str, str]:
    """pip's break_args_options: the requirement is everything before the first token
    that starts with '-'; the rest are options (`--hash=…`, or a whole options line)."""
    tokens = text.split(" ")
    args: list[str] = []
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(args).strip(), " ".join(tokens[index:])
        args.append(token)
    return " ".join(args).strip(), ""


def _option_words(options: str) -> list[str]:
    try:
        return shlex.split(options)
    except ValueError:  # unbalanced quotes: pip would fail too; read what we can
        return options.split()


def _include_target(words: list[str]) -> tuple[str | None, str | None]:
    """(kind, target) of an options line: kind "r" for -r/--requirement, "e" for an
    editable, None for options devstack ignores (-c, --index-url, --pre, …)."""
    first = words[0]
    for short, long, kind in (("-r", "--requirement", "r"), ("-e", "--editable", "e")):
        if first in (short, long):
            return kind, (words[1] if len(words) > 1 else "")
        if first.startswith(long + "="):
            return kind, first[len(long) + 1:]
        if first.startswith(short) and not first.startswith("--"):
            return kind, first[len(short):]
    return None, None


def _unparsable_reason(args: str) -> str | None:
    """Why a line is a URL or a path rather than a name devstack can check, or None."""
    if "://" in args:
        return "a URL"
    if args.startswith((".", "/", "~")) or args.lower().endswith(_ARCHIVE_SUFFIXES):
        return "a local path"
    return None


class _Reader:
    """Reads one file and its includes; `chain` is the include path so far (loop guard)."""

    def __init__(self) -> None:
        self.requirements: list[tuple[Line, Requirement]] = []
        self.issues: list[Issue] = []
        self.seen: set[Path] = set()

    def read(self, path: Path, chain: tuple[Path, ...], included_at: Line | None) -> None:
        real = path.resolve()
        if real in chain:
            assert included_at is not None  # the top file cannot be in an empty chain
            self.issues.append(Issue(Verdict.UNREADABLE, included_at,
                                     reason="an include loop (that file is already being read)"))
            return
        if real in self.seen:
            return  # included twice without a loop (a diamond): its requirements are in already
        self.seen.add(real)
        try:
            text = path.read_bytes().decode("utf-8-sig", errors="replace")
        except OSError as exc:
            if included_at is None:
                raise
            reason = f"cannot read that file ({exc.strerror or type(exc).__name__})"
            self.issues.append(Issue(Verdict.UNREADABLE, included_at, reason=reason))
            return
        for line in _logical_lines(path, text):
            self.line(line, (*chain, real))

    def line(self, line: Line, chain: tuple[Path, ...]) -> None:
        args, options = _split_args(line.text)
        if args:
            self.requirement(line, args)  # trailing options (--hash=…) do not change what is needed
            return
        words = _option_words(options)
        kind, target = _include_target(words) if words else (None, None)
        if kind == "e":
            self.issues.append(Issue(Verdict.SKIPPED, line, reason="an editable install"))
        elif kind == "r" and target is not None:
            self.include(line, target, chain)

    def include(self, line: Line, target: str, chain: tuple[Path, ...]) -> None:
        if "://" in target:
            self.issues.append(Issue(Verdict.SKIPPED, line, reason="an include from a URL"))
            return
        # pip: an include is relative to the file that includes it, not to the cwd.
        self.read(line.file.parent / Path(target).expanduser(), chain, line)

    def requirement(self, line: Line, args: str) -> None:
        try:
            req: Requirement | None = Requirement(args)
        except InvalidRequirement:
            req = None
        # `name @ url` names its package; a bare `pkg-1.0.whl` parses as a name but is a file.
        reason = None if req is not None and req.url else _unparsable_reason(args)
        if req is not None and reason is None:
            self.requirements.append((line, req))
            return
        reason = reason or "not a requirement devstack can read"
        self.issues.append(Issue(Verdict.SKIPPED, line, reason=reason))


def read_requirements(path: Path) -> Parsed:
    """The requirements in `path` and its `-r` includes. Raises OSError only when `path`
    itself cannot be read; everything inside it becomes data."""
    reader = _Reader()
    reader.read(path, (), None)
    return Parsed(tuple(reader.requirements), tuple(reader.issues))


