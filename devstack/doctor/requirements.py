"""Whether a requirements file is satisfied in a venv, read from the venv's own metadata.

This module owns the `requirements` pre-flight check's knowledge (docs/diagnosis.md "Pre-flight
checks"): reading a pip requirements file the way pip reads it (comments, line
continuations, `-r` includes, options lines, per-requirement options such as
`--hash`), finding the distributions installed in a venv from its site-packages
metadata, and comparing the two with `packaging` (specifiers, environment markers
evaluated for the *venv's* Python version, extras).

No pip and no subprocess: the `*.dist-info/METADATA` files pip leaves behind are the
truth about what is installed, and reading them takes milliseconds. A line that names
no checkable package (a URL, a path, `-e .`, something unparsable) becomes a `SKIPPED`
issue; nothing in a requirements file makes this module raise.

Wording of the user-facing sentences lives here too (`Issue.message`), next to the
facts they describe; pre-flight adds the fix and the severity.
"""

from __future__ import annotations

import configparser
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import Distribution, distributions
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# pip's own rule: `#` starts a comment at the start of a line or after whitespace, so
# `pkg @ https://host/x.whl#sha256=…` keeps its fragment.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
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


@dataclass(frozen=True)
class Report:
    issues: tuple[Issue, ...]
    checked: int  # requirements compared with the venv (markers that did not apply excluded)
    python_version: str  # the venv's, as used for markers
    site_packages: tuple[Path, ...] = field(default=())


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


# --- what a venv holds ----------------------------------------------------------------


def _pyvenv_cfg(venv: Path) -> Mapping[str, str]:
    # pyvenv.cfg is `key = value` lines without a section; configparser wants one.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string("[venv]\n" + (venv / "pyvenv.cfg").read_text(errors="replace"))
    except (OSError, configparser.Error):
        return {}
    return dict(parser["venv"])


def _own_site_packages(venv: Path) -> list[Path]:
    found = [
        *sorted(venv.glob("lib/python*/site-packages")),
        *sorted(venv.glob("lib64/python*/site-packages")),
        venv / "Lib" / "site-packages",  # Windows
    ]
    unique: dict[Path, Path] = {}
    for path in found:
        if path.is_dir():
            unique.setdefault(path.resolve(), path)  # lib64 is usually a symlink to lib
    return list(unique.values())


def _system_site_packages(cfg: Mapping[str, str], version: tuple[int, int, int]) -> list[Path]:
    """The base interpreter's site folders, for `include-system-site-packages = true`:
    a best guess from `home` (the base python's bin folder), since asking that python
    would need a subprocess."""
    home = cfg.get("home")
    if not home or cfg.get("include-system-site-packages", "").lower() != "true":
        return []
    prefix = Path(home).parent
    short = f"python{version[0]}.{version[1]}"
    candidates = [
        prefix / "lib" / short / "site-packages",
        prefix / "local" / "lib" / short / "dist-packages",  # Debian and Ubuntu
        prefix / "lib" / f"python{version[0]}" / "dist-packages",
        prefix / "Lib" / "site-packages",
    ]
    return [path for path in candidates if path.is_dir()]


def site_packages(venv: Path) -> list[Path]:
    """Where the venv's distributions are installed, its own folders first (as on sys.path)."""
    return _own_site_packages(venv) + _system_site_packages(_pyvenv_cfg(venv), venv_python_version(venv))


def venv_python_version(venv: Path) -> tuple[int, int, int]:
    """The venv's Python version: pyvenv.cfg's `version_info` (virtualenv, uv) or
    `version` (venv); else the lib/pythonX.Y folder; else devstack's own Python."""
    cfg = _pyvenv_cfg(venv)
    for key in ("version_info", "version"):
        match = _VERSION.match(cfg.get(key, "").strip())
        if match:
            return int(match[1]), int(match[2]), int(match[3] or 0)
    for folder in sorted(venv.glob("lib/python*")):
        match = _VERSION.search(folder.name)
        if match:
            return int(match[1]), int(match[2]), 0
    return sys.version_info[0], sys.version_info[1], sys.version_info[2]


def installed_distributions(dirs: list[Path]) -> dict[str, Distribution]:
    """Installed distributions by canonical name; the first found wins, as on sys.path."""
    found: dict[str, Distribution] = {}
    for dist in distributions(path=[str(d) for d in dirs]):
        name = dist.metadata["Name"]  # None for a broken .dist-info without a name
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


# --- comparing ------------------------------------------------------------------------


def marker_environment(version: tuple[int, int, int]) -> dict[str, str]:
    """Marker variables for the venv: this machine's platform, the venv's Python version."""
    env = {key: str(value) for key, value in default_environment().items()}
    full = ".".join(str(part) for part in version)
    env.update(python_version=f"{version[0]}.{version[1]}", python_full_version=full, extra="")
    if env.get("implementation_name") == "cpython":
        env["implementation_version"] = full
    return env


def _applies(marker: Marker | None, env: dict[str, str]) -> bool:
    if marker is None:
        return True
    try:
        return marker.evaluate(env)
    except ValueError:  # UndefinedComparison and friends: an odd marker; check rather than skip
        return True


class _Checker:
    def __init__(self, installed: dict[str, Distribution], env: dict[str, str]) -> None:
        self.installed = installed
        self.env = env
        self.issues: list[Issue] = []
        self.checked = 0
        self.extras_done: set[tuple[str, str]] = set()

    def check(self, line: Line, req: Requirement, via: str | None = None) -> None:
        if not _applies(req.marker, self.env):
            return
        self.checked += 1
        dist = self.installed.get(canonicalize_name(req.name))
        if dist is None:
            self.issues.append(Issue(Verdict.MISSING, line, package=req.name, via=via))
            return
        self.compare_version(line, req, dist, via)
        for extra in sorted(req.extras):
            self.check_extra(line, req, dist, extra)

    def compare_version(self, line: Line, req: Requirement, dist: Distribution, via: str | None) -> None:
        if not req.specifier:
            return
        try:
            version = Version(dist.version)
        except InvalidVersion:
            self.issues.append(Issue(Verdict.SKIPPED, line, package=req.name,
                                     reason=f"installed version {dist.version!r} is not a valid version"))
            return
        # prereleases=True: an installed 2.0rc1 satisfies >=1.0, as `pip check` judges it.
        if not req.specifier.contains(version, prereleases=True):
            self.issues.append(Issue(Verdict.MISMATCH, line, package=req.name, installed=dist.version,
                                     wanted=str(req.specifier), via=via))

    def check_extra(self, line: Line, req: Requirement, dist: Distribution, extra: str) -> None:
        key = (canonicalize_name(req.name), canonicalize_name(extra))
        if key in self.extras_done:
            return
        self.extras_done.add(key)
        with_extra = {**self.env, "extra": extra}
        for text in dist.requires or []:
            try:
                dep = Requirement(text)
            except InvalidRequirement:
                continue  # broken metadata of an installed package is not this service's problem
            # Only what the extra adds: base dependencies are the package's own business.
            if dep.marker is None or _applies(dep.marker, self.env) or not _applies(dep.marker, with_extra):
                continue
            dep.marker = None
            self.check(line, dep, via=f"{req.name}[{extra}]")


def check_requirements(requirements: Path, venv: Path) -> Report:
    """Compare `requirements` (and its includes) with what `venv` has installed.
    Raises OSError only when `requirements` itself cannot be read."""
    parsed = read_requirements(requirements)
    version = venv_python_version(venv)
    dirs = site_packages(venv)
    checker = _Checker(installed_distributions(dirs), marker_environment(version))
    for line, req in parsed.requirements:
        checker.check(line, req)
    return Report(
        issues=(*parsed.issues, *checker.issues),
        checked=checker.checked,
        python_version=".".join(str(part) for part in version),
        site_packages=tuple(dirs),
    )
