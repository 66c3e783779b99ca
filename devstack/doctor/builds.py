"""What a service's `setup` builds, and whether that build is there and current.

`npm ci` makes node_modules from package-lock.json; `mvn package` makes the jar the command runs
from pom.xml and src/. A service whose build is missing fails at once in a way no restart can
change ("vite: not found", "Unable to access jarfile"); one whose build is older than its inputs
runs yesterday's code. `stale_builds` says which, from file times alone (a few stat calls, a
bounded walk of the sources), for `doctor`'s `setup` check and for `up`, which runs a setup
that never ran.

A build is judged by its output's time against its newest input: node_modules' own record of
the last install (node_modules/.package-lock.json, which npm writes on every install) against
package-lock.json and package.json; the jar named by `-jar` in the command against pom.xml /
build.gradle(.kts) and the source folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devstack.config.specs import ServiceSpec
from devstack.text.words import command_words

_JVM_BUILD_FILES: Final = ("pom.xml", "build.gradle", "build.gradle.kts")
# A bound on the files looked at in a source tree, so a check stays instant in a monorepo.
_MAX_SOURCES: Final = 5000


@dataclass(frozen=True)
class Build:
    """One thing setup makes: `output` from `inputs` (the newest of them counts)."""

    kind: str  # "npm" or "jvm"
    output: Path  # absolute
    inputs: tuple[Path, ...]  # absolute files or folders (a folder counts by its newest file)


@dataclass(frozen=True)
class Staleness:
    build: Build
    missing: bool  # the output does not exist: setup never ran (or failed)
    newer: Path | None  # an input changed since the output was made


def builds_of(spec: ServiceSpec) -> list[Build]:
    """The builds a service's command depends on."""
    found = []
    words = command_words(spec.command)
    package_json = spec.cwd / "package.json"
    if package_json.is_file() and _runs_node(words):
        lock = spec.cwd / "package-lock.json"
        npm_inputs = (package_json, lock) if lock.is_file() else (package_json,)
        # npm records each install in node_modules/.package-lock.json; yarn and pnpm do not, and
        # then the folder's own time stands for it.
        modules = spec.cwd / "node_modules"
        record = modules / ".package-lock.json"
        output = record if record.is_file() or not modules.is_dir() else modules
        found.append(Build("npm", output, npm_inputs))
    jar = _jar_of(words)
    if jar is not None:
        build_files = tuple(spec.cwd / name for name in _JVM_BUILD_FILES if (spec.cwd / name).is_file())
        if build_files:
            sources = spec.cwd / "src"
            jvm_inputs = (*build_files, sources) if sources.is_dir() else build_files
            found.append(Build("jvm", spec.cwd / jar, jvm_inputs))
    return found


def stale_builds(spec: ServiceSpec) -> list[Staleness]:
    """The builds of `spec` that are missing or older than an input."""
    stale = []
    for build in builds_of(spec):
        try:
            made = build.output.stat().st_mtime
        except OSError:
            stale.append(Staleness(build, missing=True, newer=None))
            continue
        newer = next((path for path, mtime in _newest(build.inputs) if mtime > made), None)
        if newer is not None:
            stale.append(Staleness(build, missing=False, newer=newer))
    return stale


def _runs_node(words: list[str]) -> bool:
    tools = {"npm", "npx", "pnpm", "yarn", "node", "vite", "next", "nuxt", "react-scripts", "bun"}
    return any(Path(word).name in tools for word in words[:3])


def _jar_of(words: list[str]) -> str | None:
    """The jar of `java … -jar JAR` (also after `exec` or `VAR=value`)."""
    for i, word in enumerate(words[:-1]):
        if word == "-jar" and any(Path(w).name == "java" for w in words[:i]):
            return words[i + 1]
    return None


def _newest(inputs: tuple[Path, ...]) -> Iterator[tuple[Path, float]]:
    """Each input file with its time; for a folder, its newest file (bounded walk)."""
    for path in inputs:
        if path.is_dir():
            best: tuple[Path, float] | None = None
            for i, file in enumerate(_files(path)):
                if i >= _MAX_SOURCES:
                    break
                try:
                    mtime = file.stat().st_mtime
                except OSError:
                    continue
                if best is None or mtime > best[1]:
                    best = (file, mtime)
            if best is not None:
                yield best
        else:
            try:
                yield path, path.stat().st_mtime
            except OSError:
                continue


def _files(top: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            yield Path(folder) / name
