"""What a Maven or Gradle build says about a Spring Boot app: that it is one, its Spring Boot
version, whether the actuator and the PostgreSQL driver are dependencies, and the command that
builds and runs it (the wrapper where one is checked in).

pom.xml is parsed as XML (a `${property}` version is looked up in <properties>); Gradle build
scripts are code, so they are searched as text for the plugin id and the artifacts' names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from xml.etree import ElementTree

from devstack.init.repo import Repo
from devstack.init.walk import join, parent

BOOT_GROUP = "org.springframework.boot"
GRADLE_FILES = ("build.gradle.kts", "build.gradle")
_GRADLE_VERSION = re.compile(
    r"""id\s*\(?\s*["']org\.springframework\.boot["']\s*\)?\s*version\s*\(?\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Build:
    tool: str  # "Maven" or "Gradle"
    manifest: str  # the build file, relative to the root
    boot_version: str | None
    actuator: bool
    postgres_driver: bool


def read(repo: Repo, folder: str) -> Build | None:
    """The Spring Boot build in `folder`; None when there is none (or it only aggregates modules)."""
    if repo.has(folder, "pom.xml"):
        return _maven(repo, join(folder, "pom.xml"))
    for name in GRADLE_FILES:
        if repo.has(folder, name):
            return _gradle(repo, join(folder, name))
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _all(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _maven(repo: Repo, manifest: str) -> Build | None:
    root = repo.xml(manifest)
    if root is None:
        return None
    if _child(root, "packaging") == "pom":
        return None  # an aggregator: its modules are the apps
    properties = {_local(e.tag): (e.text or "").strip()
                  for props in _all(root, "properties") for e in props}
    version: str | None = None
    named = False
    for element in [*_all(root, "parent"), *_all(root, "dependency"), *_all(root, "plugin")]:
        if _child(element, "groupId") == BOOT_GROUP:
            named = True
            raw = _child(element, "version")
            if raw.startswith("${") and raw.endswith("}"):
                raw = properties.get(raw[2:-1], "")
            version = version or raw or None
    if not named:
        return None
    artifacts = {(_child(d, "groupId"), _child(d, "artifactId")) for d in _all(root, "dependency")}
    return Build(
        tool="Maven",
        manifest=manifest,
        boot_version=version,
        actuator=(BOOT_GROUP, "spring-boot-starter-actuator") in artifacts,
        postgres_driver=any(group == "org.postgresql" for group, _ in artifacts),
    )


def _gradle(repo: Repo, manifest: str) -> Build | None:
    text = repo.read(manifest)
    if text is None or BOOT_GROUP not in text:
        return None
    version = _GRADLE_VERSION.search(text)
    return Build(
        tool="Gradle",
        manifest=manifest,
        boot_version=version.group(1) if version else None,
        actuator="spring-boot-starter-actuator" in text,
        postgres_driver="org.postgresql" in text,
    )


def runner(repo: Repo, folder: str, build: Build) -> tuple[str, str, str]:
    """(command, setup, why) for the build tool: the wrapper in this folder or one above, else the
    tool from PATH."""
    wrapper_name, tool = ("mvnw", "mvn") if build.tool == "Maven" else ("gradlew", "gradle")
    found = repo.find_up(folder, [wrapper_name])
    if found:
        wrapper_folder = parent(found[0]) or "."
        up = 0 if folder == "." else folder.count("/") + 1
        up -= 0 if wrapper_folder == "." else wrapper_folder.count("/") + 1
        exe = "./" + wrapper_name if up == 0 else "/".join([".."] * up) + "/" + wrapper_name
        if not os.access(repo.root / found[0], os.X_OK):
            # a wrapper that lost its executable bit (a checkout from Windows, a zip) still runs
            exe = f"sh {exe}"
        why = f"the wrapper {found[0]}"
    else:
        exe, why = tool, f"no {wrapper_name}, so {tool} from PATH"
    if build.tool == "Maven":
        return f"{exe} spring-boot:run", f"{exe} -B -q -DskipTests package", why
    return f"{exe} bootRun", f"{exe} -q assemble", why
