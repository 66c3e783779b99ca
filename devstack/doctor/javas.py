"""Which Java a JVM service runs, and which it needs.

A jar built for Java 21 run by a Java 17 dies with UnsupportedClassVersionError; the JVM names
class-file versions (65.0), people name Java versions (21): the Java version is the class-file
major version minus 44. The Java that runs is the `java` first on the service's PATH (or, for
Maven and Gradle, the one JAVA_HOME names); its version is read from the JDK's `release` file
(no JVM started), else from `java -version`. The version needed is read from the jar the
command runs (its main class's class-file version), else from the build file (pom.xml's
java.version / maven.compiler.release, Gradle's toolchain or sourceCompatibility).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Final

CLASS_FILE_OFFSET: Final = 44  # class-file major version 61 is Java 17
_JVM_HOMES: Final = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm"))

_POM_VERSION: Final = re.compile(
    r"<(?:java\.version|maven\.compiler\.release|maven\.compiler\.target|release)>\s*(?:1\.)?(\d+)\s*<")
_GRADLE_VERSION: Final = re.compile(
    r"(?:JavaLanguageVersion\.of\(\s*(\d+)\s*\)|JavaVersion\.VERSION_(?:1_)?(\d+)|"
    r"(?:source|target)Compatibility\s*=\s*['\"]?(?:1\.)?(\d+))")


def java_of_class_version(major: float) -> int:
    return int(major) - CLASS_FILE_OFFSET


def find_java(path_var: str | None, java_home: str | None = None) -> Path | None:
    """The java that runs: JAVA_HOME's when given (Maven, Gradle), else the first on PATH."""
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java", path=path_var)
    return Path(found) if found else None


def java_version(java: Path) -> int | None:
    """The major version of a java binary: its JDK's `release` file, else `java -version`."""
    real = java.resolve()
    for home in (real.parent.parent, real.parent.parent.parent):
        release = home / "release"
        try:
            text = release.read_text(errors="replace")
        except OSError:
            continue
        match = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', text, re.M)
        if match:
            return int(match.group(1))
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(?:1\.)?(\d+)', out)
    return int(match.group(1)) if match else None


def jar_needs(jar: Path) -> int | None:
    """The Java version a jar's main class was compiled for (Spring Boot's fat jar: its
    Start-Class, under BOOT-INF/classes)."""
    try:
        with zipfile.ZipFile(jar) as archive:
            manifest = archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
            fields = dict(re.findall(r"^([\w-]+): *(.+?)\r?$", manifest, re.M))
            main = fields.get("Start-Class") or fields.get("Main-Class")
            if not main:
                return None
            name = main.strip().replace(".", "/") + ".class"
            for entry in (name, f"BOOT-INF/classes/{name}"):
                try:
                    head = archive.open(entry).read(8)
                except KeyError:
                    continue
                if head[:4] == b"\xca\xfe\xba\xbe":
                    return java_of_class_version(int.from_bytes(head[6:8], "big"))
    except (OSError, zipfile.BadZipFile, KeyError):
        return None
    return None


def build_needs(folder: Path) -> tuple[int, Path] | None:
    """The Java version the build file in `folder` asks for, and that file."""
    for name, pattern in (("pom.xml", _POM_VERSION), ("build.gradle", _GRADLE_VERSION),
                          ("build.gradle.kts", _GRADLE_VERSION)):
        path = folder / name
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        match = pattern.search(text)
        if match:
            return int(next(g for g in match.groups() if g)), path
    return None


def installed_jdks() -> dict[int, Path]:
    """Major version → the bin folder of a JDK installed in the usual places (the newest build
    of each major wins by name order)."""
    found: dict[int, Path] = {}
    for base in _JVM_HOMES:
        try:
            homes = sorted(base.iterdir())
        except OSError:
            continue
        for home in homes:
            java = home / "bin" / "java"
            if home.is_symlink() or not os.access(java, os.X_OK):
                continue
            version = java_version(java)
            if version is not None:
                found.setdefault(version, home / "bin")
    return found
