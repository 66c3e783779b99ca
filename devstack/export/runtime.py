"""What a service is made of, as far as a container image needs to know: its runtime.

Read from the service's folder and command, never run: a Postgres server (its command, or a
`pg_isready` probe), a Maven or Gradle build, an npm package, a Python venv or requirements file,
or something else. Each finding keeps what the image recipe needs (versions, lockfile, the venv's
place, the database and user, the init SQL) and the evidence, for the messages.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from devstack.config.specs import HealthSpec, ProbeKind, ServiceSpec

# Defaults when the folder does not say: the Python devstack itself needs, the Node the demo
# needs, the Java LTS the demo builds for, a current Postgres.
PYTHON_VERSION = "3.11"
NODE_VERSION = "20"
JAVA_VERSION = "17"
POSTGRES_VERSION = "16"

_POSTGRES_PROGRAMS = frozenset({"postgres", "postmaster", "pg_ctl", "pg_ctlcluster"})
_PYTHON_PROGRAMS = re.compile(r"^(python[0-9.]*|uvicorn|gunicorn|hypercorn|flask|django-admin|celery)$")
_NODE_PROGRAMS = frozenset({"node", "npm", "npx", "yarn", "pnpm"})


class Kind(StrEnum):
    POSTGRES = "postgres"
    MAVEN = "maven"
    GRADLE = "gradle"
    NODE = "node"
    PYTHON = "python"
    OTHER = "other"


@dataclass(frozen=True)
class Runtime:
    kind: Kind
    version: str  # the image tag's version part; "" for OTHER
    evidence: str  # what gave it away, e.g. "pom.xml", "requirements.txt"
    requirements: str | None = None  # relative to cwd
    venv: str | None = None  # where the image recreates the venv, relative to cwd
    lockfile: str | None = None  # package-lock.json / npm-shrinkwrap.json
    database: str | None = None
    user: str | None = None
    init_sql: tuple[str, ...] = ()  # relative to cwd, in the order Postgres' image runs them

    def describe(self) -> str:
        return f"{self.kind.value} ({self.evidence})"


def program_name(argv: Sequence[str]) -> str:
    """The program a command runs, for recognising it: `sh -c "exec x …"` names x."""
    words = list(argv)
    if len(words) >= 3 and words[0] in ("/bin/sh", "sh") and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            words = words[2].split()
        while words and (words[0] == "exec" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
            words = words[1:]
    return Path(words[0]).name if words else ""


def detect(spec: ServiceSpec, venv: Path | None, argv: Sequence[str],
           plain_env: Mapping[str, str], others: Sequence[Mapping[str, str]]) -> Runtime:
    """The runtime of a service. `plain_env` is its writable env; `others` the other services'
    writable env, where a database URL may name this service's database and user."""
    cwd = spec.cwd
    postgres = _postgres_evidence(spec, argv)
    if postgres:
        return _postgres(spec, postgres, plain_env, others)
    if (cwd / "pom.xml").is_file():
        return Runtime(Kind.MAVEN, _java_version(cwd / "pom.xml"), "pom.xml")
    for name in ("build.gradle.kts", "build.gradle"):
        if (cwd / name).is_file():
            return Runtime(Kind.GRADLE, _java_version(cwd / name), name)
    program = program_name(argv)
    if (cwd / "package.json").is_file() and (venv is None or program in _NODE_PROGRAMS):
        locks = ("package-lock.json", "npm-shrinkwrap.json")
        lockfile = next((name for name in locks if (cwd / name).is_file()), None)
        return Runtime(Kind.NODE, _node_version(cwd), "package.json", lockfile=lockfile)
    requirements = "requirements.txt" if (cwd / "requirements.txt").is_file() else None
    if venv is not None or requirements or _PYTHON_PROGRAMS.match(program):
        evidence = "venv" if venv is not None else requirements or f"the command runs {program}"
        return Runtime(Kind.PYTHON, _python_version(cwd, venv), evidence, requirements=requirements,
                       venv=_venv_place(cwd, venv))
    if program in _NODE_PROGRAMS:
        return Runtime(Kind.NODE, _node_version(cwd), f"the command runs {program}")
    return Runtime(Kind.OTHER, "", "nothing recognisable in its folder or command")


# --- Postgres -------------------------------------------------------------------------------


def _postgres_evidence(spec: ServiceSpec, argv: Sequence[str]) -> str:
    """Why the service is a Postgres server, or "" when it is not one."""
    program = program_name(argv)
    if program in _POSTGRES_PROGRAMS:
        return f"{program} command"
    if program == "docker" and any(re.match(r"^(docker\.io/)?(library/)?postgres(:|$)", w) for w in argv):
        return "docker run postgres"
    health = spec.health
    if health is not None and health.kind is ProbeKind.CMD and _first_word(health.target) == "pg_isready":
        return "pg_isready probe"
    return ""


def _first_word(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return Path(words[0]).name if words else ""


def _pg_isready_flags(health: HealthSpec | None) -> dict[str, str]:
    if health is None or health.kind is not ProbeKind.CMD or _first_word(health.target) != "pg_isready":
        return {}
    words = shlex.split(health.target)
    flags: dict[str, str] = {}
    for flag, value in itertools.pairwise(words):
        if flag in ("-d", "--dbname"):
            flags["database"] = value
        elif flag in ("-U", "--username"):
            flags["user"] = value
    return flags


_PG_URL = re.compile(r"postgres(?:ql)?://(?:(?P<user>[^:@/\s]+)(?::[^@/\s]*)?@)?[^/\s:]+:(?P<port>\d+)/(?P<db>[\w-]+)")
_JDBC_URL = re.compile(r"jdbc:postgresql://[^/\s:]+:(?P<port>\d+)/(?P<db>[\w-]+)")


def _from_urls(port: int | None, others: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Database and user from another service's database URL to this port (written values only)."""
    found: dict[str, str] = {}
    for env in others:
        for value in env.values():
            match = _JDBC_URL.search(value) or _PG_URL.search(value)  # a JDBC URL holds the other
            if match is None or (port is not None and int(match.group("port")) != port):
                continue
            found.setdefault("database", match.group("db"))
            user = match.groupdict().get("user")
            if user:
                found.setdefault("user", user)
            elif match.re is _JDBC_URL:  # Spring: the user is a variable of its own
                users = [v for k, v in env.items() if k.endswith(("_USERNAME", "_USER"))]
                if users:
                    found.setdefault("user", users[0])
    return found


def _postgres(spec: ServiceSpec, evidence: str, plain_env: Mapping[str, str],
              others: Sequence[Mapping[str, str]]) -> Runtime:
    found = _pg_isready_flags(spec.health)
    for key, names in (("database", ("POSTGRES_DB", "PGDATABASE")), ("user", ("POSTGRES_USER", "PGUSER"))):
        for name in names:
            if key not in found and plain_env.get(name):
                found[key] = plain_env[name]
    for key, value in _from_urls(spec.port, others).items():
        found.setdefault(key, value)
    sql = tuple(sorted(p.name for p in spec.cwd.glob("*.sql") if p.is_file()))
    return Runtime(Kind.POSTGRES, _postgres_version(spec), evidence, database=found.get("database"),
                   user=found.get("user"), init_sql=sql)


def _postgres_version(spec: ServiceSpec) -> str:
    match = re.search(r"postgres(?:ql)?[:/](\d+)", spec.command_text)
    return match.group(1) if match else POSTGRES_VERSION


# --- versions ---------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _java_version(build_file: Path) -> str:
    text = _read(build_file)
    for pattern in (r"<java\.version>\s*(\d+)", r"<maven\.compiler\.release>\s*(\d+)", r"<release>\s*(\d+)",
                    r"<maven\.compiler\.target>\s*(?:1\.)?(\d+)", r"JavaLanguageVersion\.of\(\s*(\d+)",
                    r"(?:source|target)Compatibility\s*=\s*['\"]?(?:JavaVersion\.VERSION_)?(?:1[._])?(\d+)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return JAVA_VERSION


def _node_version(cwd: Path) -> str:
    for name in (".nvmrc", ".node-version"):
        match = re.search(r"(\d+)", _read(cwd / name))
        if match:
            return match.group(1)
    try:
        engines = json.loads(_read(cwd / "package.json") or "{}").get("engines") or {}
    except ValueError:
        engines = {}
    match = re.search(r"(\d+)", str(engines.get("node", ""))) if isinstance(engines, dict) else None
    return match.group(1) if match else NODE_VERSION


def _python_version(cwd: Path, venv: Path | None) -> str:
    if venv is not None:
        match = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", _read(venv / "pyvenv.cfg"), re.M)
        if match:
            return match.group(1)
    match = re.search(r"(\d+\.\d+)", _read(cwd / ".python-version"))
    return match.group(1) if match else PYTHON_VERSION


def _venv_place(cwd: Path, venv: Path | None) -> str | None:
    """Where the image puts the venv: at the same place relative to cwd, so that commands naming
    `venv/bin/…` still work; a venv outside the service's folder goes to /opt/venv."""
    if venv is None:
        return None
    try:
        return venv.relative_to(cwd).as_posix()
    except ValueError:
        return "/opt/venv"
