"""A Python project folder as init sees it: the packages its requirements*.txt or pyproject.toml
name, its virtualenv, its `.env` (or the example to copy), and the setup that makes them.

Shared by the Python detectors (fastapi, flask, django). A folder is a project when it holds a
requirements*.txt or a pyproject.toml; the framework it names decides which detector takes it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from devstack.init.dburls import ENV_EXAMPLES
from devstack.init.repo import Repo
from devstack.init.walk import join

VENV_NAMES = (".venv", "venv")  # the names devstack finds by itself (docs/stack-toml.md: venv/ or .venv/)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class PythonProject:
    folder: str
    packages: dict[str, str]  # normalised name → the file naming it (relative to the root)
    install: str  # pip's arguments for the requirements: "-r requirements.txt" or "-e ."
    venv: str | None  # an existing virtualenv folder, relative to the project
    env_file: str | None  # ".env" when it exists or an example can be copied to it
    env_example: str | None  # the example file to copy when there is no .env

    def names(self, package: str) -> str | None:
        return self.packages.get(package)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_files(repo: Repo, folder: str) -> list[str]:
    return [n for n in repo.files(folder) if n.startswith("requirements") and n.endswith(".txt")]


def read(repo: Repo, folder: str) -> PythonProject | None:
    """The project in `folder`; None when the folder has neither requirements*.txt nor pyproject.toml."""
    packages: dict[str, str] = {}
    install = ""
    req_files = requirement_files(repo, folder)
    for name in sorted(req_files, key=lambda n: (n != "requirements.txt", n)):
        for package in _requirements(repo, join(folder, name)):
            packages.setdefault(package, join(folder, name))
    if req_files:
        main = "requirements.txt" if "requirements.txt" in req_files else sorted(req_files)[0]
        install = f"-r {main}"
    if repo.has(folder, "pyproject.toml"):
        rel = join(folder, "pyproject.toml")
        data = repo.toml(rel) or {}
        for package in _pyproject(data):
            packages.setdefault(package, rel)
        install = install or "-e ."
    if not install:
        return None
    # The walk skips virtualenvs, so ask the file system itself.
    venv = next((v for v in VENV_NAMES if (repo.root / join(folder, v) / "pyvenv.cfg").is_file()), None)
    example = next((e for e in ENV_EXAMPLES if repo.has(folder, e)), None)
    has_env = repo.has(folder, ".env")
    return PythonProject(folder, packages, install, venv,
                         ".env" if has_env or example else None, None if has_env else example)


def _requirements(repo: Repo, rel: str, seen: frozenset[str] = frozenset()) -> list[str]:
    text = repo.read(rel)
    if text is None or rel in seen:
        return []
    found: list[str] = []
    folder = rel.rsplit("/", 1)[0] if "/" in rel else "."
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            found += _requirements(repo, join(folder, line.split(None, 1)[1].strip()), seen | {rel})
            continue
        match = _NAME.match(line)
        if match and not line.startswith("-"):
            found.append(normalise(match.group(1)))
    return found


def _pyproject(data: dict[str, object]) -> list[str]:
    found: list[str] = []
    project = data.get("project")
    if isinstance(project, dict) and isinstance(project.get("dependencies"), list):
        for spec in project["dependencies"]:
            match = _NAME.match(str(spec))
            if match:
                found.append(normalise(match.group(1)))
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
    if isinstance(deps, dict):
        found += [normalise(name) for name in deps if name != "python"]
    return found


def setup(project: PythonProject, extra: tuple[str, ...] = ()) -> tuple[str, str, list[str]]:
    """(setup command, venv, evidence): create the venv where there is none, install the
    requirements (and `extra` packages they lack, e.g. uvicorn), copy the example env file."""
    venv = project.venv or ".venv"
    steps = [] if project.venv else [f"python3 -m venv {venv}"]
    install = f"{venv}/bin/pip install {project.install}"
    if extra:
        install += " " + " ".join(shlex.quote(p) for p in extra)
    steps.append(install)
    why = [f"venv {venv}/ (it exists)" if project.venv else f"no venv yet: setup creates {venv}/"]
    if project.env_example:
        steps.append(f"(test -f .env || cp {project.env_example} .env)")
        why.append(f"no .env yet: setup copies {project.env_example}")
    elif project.env_file:
        why.append(".env exists")
    return " && ".join(steps), venv, why
