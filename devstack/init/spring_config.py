"""Spring Boot's configuration files as Spring itself layers them, for the few keys init needs
(server.port, the datasource, the actuator's path and port).

Files: application.properties / .yml / .yaml in src/main/resources, its config/, the module
folder and its config/ (each later location wins, and within one location .properties wins over
YAML, as in Spring). Profiles are ignored unless spring.profiles.active names them; then their
application-PROFILE.* files and `spring.config.activate.on-profile` YAML documents are laid on
top. Not read: environment variables, command-line arguments, spring.config.import, anything
set in code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from devstack.init.repo import Repo
from devstack.init.walk import join

LOCATIONS = ("src/main/resources", "src/main/resources/config", ".", "config")
EXTENSIONS = ("yml", "yaml", "properties")  # lowest precedence first


@dataclass(frozen=True)
class Layer:
    file: str  # relative to the repository root
    profile: str | None  # None: the base configuration
    values: dict[str, str]


@dataclass
class SpringConfig:
    layers: list[Layer] = field(default_factory=list)  # lowest precedence first
    active: tuple[str, ...] = ()

    def get(self, key: str) -> tuple[str, str] | None:
        """(value, file) of `key` from the layer that wins."""
        for layer in reversed(self.layers):
            if key in layer.values:
                return layer.values[key], layer.file
        return None

    def all_of(self, key: str) -> list[tuple[str, Layer]]:
        return [(layer.values[key], layer) for layer in self.layers if key in layer.values]


def _files(repo: Repo, folder: str, stem: str) -> Iterator[str]:
    for location in LOCATIONS:
        where = folder if location == "." else join(folder, location)
        for ext in EXTENSIONS:
            if repo.has(where, f"{stem}.{ext}"):
                yield join(where, f"{stem}.{ext}")


def read(repo: Repo, folder: str) -> SpringConfig:
    base: list[Layer] = []
    yaml_profiles: list[Layer] = []
    for rel in _files(repo, folder, "application"):
        for profile, values in _documents(repo, rel):
            (base if profile is None else yaml_profiles).append(Layer(rel, profile, values))
    config = SpringConfig(list(base))
    active = config.get("spring.profiles.active")
    config.active = tuple(p.strip() for p in active[0].split(",") if p.strip()) if active else ()
    for profile in config.active:
        config.layers += [layer for layer in yaml_profiles if profile in _names(layer.profile)]
        for rel in _files(repo, folder, f"application-{profile}"):
            for _, values in _documents(repo, rel):
                config.layers.append(Layer(rel, profile, values))
    return config


def _names(profile: str | None) -> list[str]:
    return [p.strip() for p in (profile or "").split(",")]


def _documents(repo: Repo, rel: str) -> list[tuple[str | None, dict[str, str]]]:
    """(profile the document is for, or None; its keys flattened) for each document of a file."""
    if rel.endswith(".properties"):
        text = repo.read(rel)
        return [] if text is None else [(None, parse_properties(text))]
    docs = repo.yaml_documents(rel)
    if docs is None:
        return []
    found: list[tuple[str | None, dict[str, str]]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        values = flatten(doc)
        profile = values.pop("spring.config.activate.on-profile", None) or values.pop("spring.profiles", None)
        found.append((profile, values))
    return found


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested YAML mappings as Spring's dotted keys (lists as key[0], key[1]…)."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{index}]"))
        if all(not isinstance(v, dict | list) for v in data):
            out[prefix] = ",".join(_scalar(v) for v in data)
    elif data is not None:
        out[prefix] = _scalar(data)
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_SEPARATOR = re.compile(r"(?<!\\)[=:]|(?<!\\)\s")


def parse_properties(text: str) -> dict[str, str]:
    """A .properties file: `key=value`, `key: value` or `key value`; # and ! comments; a
    trailing backslash continues the line."""
    values: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.lstrip() if not logical else raw.strip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        match = _SEPARATOR.search(logical)
        if match is None:
            key, value = logical, ""
        else:
            key = logical[: match.start()]
            value = logical[match.end():].lstrip()
            if match.group().isspace() and value[:1] in "=:":
                value = value[1:].lstrip()
        values[key.strip().replace("\\", "")] = value.strip()
        logical = ""
    return values
