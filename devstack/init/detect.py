"""One `devstack init` run: walk the repository, let each detector look at each folder, find the
PostgreSQL the configs name, then name and wire the services. Pure but for reading files: no
process is started, nothing is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.init import compose, django, fastapi, flask, postgres, spring, vite, wiring
from devstack.init.dburls import env_file_urls, example_env_files
from devstack.init.model import Ambiguity, DbUrl, Found, Service
from devstack.init.repo import Repo
from devstack.init.walk import Tree, walk

Detector = Callable[[Repo, str], list[Found | Ambiguity]]
# At most one Python service per folder: the first of these that recognises it.
PYTHON: tuple[Detector, ...] = (fastapi.detect, flask.detect, django.detect)
OTHERS: tuple[Detector, ...] = (vite.detect, spring.detect)
LOOKED_FOR = (
    "a package.json with vite and a dev script; a pom.xml or build.gradle(.kts) naming "
    "org.springframework.boot; requirements*.txt or pyproject.toml naming fastapi, flask or django "
    "with the app's module; a PostgreSQL URL (DATABASE_URL, jdbc:postgresql://, spring.datasource.url) "
    "or a compose file's postgres"
)
SKIPPED_SHOWN = 6  # folders named in the one line about the skipped folders that hide nothing


@dataclass
class Result:
    services: list[Service] = field(default_factory=list)  # named, wired, in the order to write
    ambiguities: list[Ambiguity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # lines about folders not looked in
    unused_choices: list[str] = field(default_factory=list)


def _look(repo: Repo, folder: str) -> list[Found | Ambiguity]:
    items = [item for detector in OTHERS for item in detector(repo, folder)]
    for detector in PYTHON:
        found = detector(repo, folder)
        if found:
            return items + found
    return items


def _with_env_examples(repo: Repo, found: Found) -> Found:
    """The service, with the PostgreSQL URLs of its .env.example among its databases."""
    urls = [url for rel in example_env_files(repo, found.folder) for url in env_file_urls(repo, rel)]
    return dataclasses.replace(found, databases=(*found.databases, *urls)) if urls else found


def _skipped_lines(tree: Tree) -> list[str]:
    lines = [f"skipped {s.path}/ ({s.why}), though it holds {s.holds}: nothing in it was looked at"
             for s in tree.skipped if s.holds]
    quiet = [s.path for s in tree.skipped if not s.holds]
    if quiet:
        shown = ", ".join(quiet[:SKIPPED_SHOWN]) + (f" and {len(quiet) - SKIPPED_SHOWN} more"
                                                  if len(quiet) > SKIPPED_SHOWN else "")
        lines.append(f"skipped {len(quiet)} dependency, build, cache or virtualenv folder"
                     f"{'' if len(quiet) == 1 else 's'}: {shown}")
    lines += [f"cannot list {folder}/; skipped it" for folder in tree.unreadable]
    return lines


def run(root: Path, choices: Mapping[str, str] | None = None) -> Result:
    tree = walk(root)
    repo = Repo(tree, choices)
    found: list[Found] = []
    result = Result(skipped=_skipped_lines(tree))
    for folder in tree.folders():
        for item in _look(repo, folder):
            if isinstance(item, Ambiguity):
                result.ambiguities.append(item)
            else:
                found.append(_with_env_examples(repo, item))
    service_folders = {f.folder for f in found}
    urls: list[DbUrl] = [url for f in found for url in f.databases]
    if "." not in service_folders:  # a root .env.example speaks for the whole repository
        urls += [url for rel in example_env_files(repo, ".") for url in env_file_urls(repo, rel)]
    urls += compose.databases(repo)
    databases, questions = postgres.services(urls, repo.notes)
    result.ambiguities += questions
    found += databases
    names = wiring.names(found, root.resolve().name)
    services = [Service(f, n) for f, n in zip(found, names, strict=True)]
    result.ambiguities += wiring.port_clashes(services)
    if not result.ambiguities:
        wiring.wire(services, urls, repo.notes)
        result.services = wiring.order(services)
    else:
        result.services = services
    result.notes = repo.notes
    result.unused_choices = repo.unused_choices()
    return result
