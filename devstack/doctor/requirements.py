"""Whether a requirements file is satisfied in a venv, read from the venv's own metadata.

This module owns the `requirements` pre-flight check's knowledge: finding the distributions
installed in a venv from its site-packages metadata, and comparing them with what the
requirements file asks for (reqfile.py reads it) using `packaging` (specifiers, environment
markers evaluated for the *venv's* Python version, extras).

No pip and no subprocess: the `*.dist-info/METADATA` files pip leaves behind are the
truth about what is installed, and reading them takes milliseconds. A line that names
no checkable package (a URL, a path, `-e .`, something unparsable) becomes a `SKIPPED`
issue; nothing in a requirements file makes this module raise.
"""

from __future__ import annotations

import configparser
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import Distribution, distributions
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from devstack.doctor.reqfile import Issue, Line, Verdict, read_requirements

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Report:
    issues: tuple[Issue, ...]
    checked: int  # requirements compared with the venv (markers that did not apply excluded)
    python_version: str  # the venv's, as used for markers
    site_packages: tuple[Path, ...] = field(default=())


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
