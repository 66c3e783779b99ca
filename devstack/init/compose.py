"""The PostgreSQL a compose file runs (compose.yaml, docker-compose.yml, …): a service whose image
is postgres (or postgis, bitnami/postgresql), its published port and the user, password and
database its environment gives the image. Nothing else of the compose file is used: devstack
runs the database from the machine's own PostgreSQL, not from the image.
"""

from __future__ import annotations

import re
from typing import Any

from devstack.init.dburls import DEFAULT_PORT, resolve_placeholders
from devstack.init.model import DbUrl
from devstack.init.repo import Repo
from devstack.init.walk import join

FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_IMAGE = re.compile(r"(?:^|/)(?:postgres|postgresql|postgis)(?::|@|$)")
# the official image's variables, then Bitnami's
USER_VARS = ("POSTGRES_USER", "POSTGRESQL_USERNAME")
PASSWORD_VARS = ("POSTGRES_PASSWORD", "POSTGRESQL_PASSWORD")
DB_VARS = ("POSTGRES_DB", "POSTGRESQL_DATABASE")


def databases(repo: Repo) -> list[DbUrl]:
    found: list[DbUrl] = []
    for folder in repo.tree.folders():
        for name in FILES:
            if repo.has(folder, name):
                found += _from_file(repo, join(folder, name))
    return found


def _from_file(repo: Repo, rel: str) -> list[DbUrl]:
    docs = repo.yaml_documents(rel)
    if not docs or not isinstance(docs[0], dict) or not isinstance(docs[0].get("services"), dict):
        return []
    found = []
    for name, service in sorted(docs[0]["services"].items()):
        if not isinstance(service, dict) or not _IMAGE.search(str(service.get("image", ""))):
            continue
        env = _environment(service.get("environment"))
        user = _first(env, USER_VARS) or "postgres"
        port = _published(service.get("ports"))
        source = f"service {name} in {rel}"
        if port is None:
            repo.note(f"{source} publishes no port to this machine; taken as {DEFAULT_PORT}")
        found.append(DbUrl("localhost", port or DEFAULT_PORT, _first(env, DB_VARS) or user, user,
                           _first(env, PASSWORD_VARS), source))
    return found


def _environment(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if isinstance(value, list):
        return dict(str(item).partition("=")[::2] for item in value)
    return {}


def _first(env: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if env.get(name):
            return resolve_placeholders(env[name]) or None
    return None


def _published(ports: Any) -> int | None:
    """The host port published for the container's 5432."""
    for entry in ports if isinstance(ports, list) else []:
        if isinstance(entry, dict):
            if str(entry.get("target")) == "5432" and str(entry.get("published", "")).isdigit():
                return int(entry["published"])
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2 and parts[-1] == "5432" and parts[-2].isdigit():
            return int(parts[-2])
    return None
