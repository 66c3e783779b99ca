"""Values `devstack init` passes between its parts: a service found in the repository with its
evidence, a PostgreSQL URL some config names, and a choice init will not make alone.

Detectors build these; wiring names and connects them; the writer turns them into stack.toml.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", ""})


@dataclass(frozen=True)
class Probe:
    """A health probe in stack.toml's terms."""

    kind: str  # "http", "tcp" or "cmd"
    target: str
    start_period: str | None = None  # a duration string; None: devstack's default


@dataclass(frozen=True)
class DbUrl:
    """A PostgreSQL URL named in a repository file (a DATABASE_URL, a JDBC URL, a compose service)."""

    host: str
    port: int
    database: str | None
    user: str | None
    password: str | None
    source: str  # where it was found: "DATABASE_URL in apps/ai-api/.env.example"

    @property
    def local(self) -> bool:
        return self.host.lower() in LOCAL_HOSTS

    def shown(self) -> str:
        """The URL without its password, for comments and messages."""
        who = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"postgresql://{who}{host}:{self.port}/{self.database or ''}"


@dataclass(frozen=True)
class Found:
    """One service found in the repository, with what it was found from."""

    folder: str  # relative to the repository root, "/"-separated; "." for the root
    kind: str  # "Vite 6", "Spring Boot 3", "FastAPI", "PostgreSQL"
    manifest: str  # the file that told the kind, relative to the root
    command: str
    port: int
    port_from: str  # "vite.config.js", "application.properties", "Vite's default"
    probe: Probe
    setup: str | None = None
    venv: str | None = None
    env_file: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None
    evidence: tuple[str, ...] = ()  # more lines for the comment above the service
    calls_ports: tuple[tuple[int, str], ...] = ()  # (port, where): another service it talks to
    databases: tuple[DbUrl, ...] = ()  # the Postgres URLs its own config names
    wants_database: str | None = None  # a Postgres driver but no URL: the note saying so
    name: str | None = None  # a fixed service name (postgres); None: from the folder

    def headline(self) -> str:
        """What it is, where it was found, its port and whence: the stderr line, without the name."""
        return f"{self.kind} ({self.manifest}), port {self.port} from {self.port_from}"


@dataclass(frozen=True)
class Ambiguity:
    """Something init will not guess: the choices, and how the user picks one."""

    folder: str
    question: str  # "more than one FastAPI app", "more than one port"
    choices: tuple[tuple[str, str], ...]  # (value for --choose, where it comes from)
    edit: str = ""  # the edit that settles it instead of the flag, if any
    flag: str | None = "VALUE (one of the above)"  # what --choose takes; None: only an edit settles it

    def lines(self) -> list[str]:
        where = "the repository root" if self.folder == "." else self.folder
        out = [f"{where}: {self.question}:"]
        out += [f"  {value}  ({source})" for value, source in self.choices]
        picks = [f"devstack init --choose {self.folder}={self.flag}"] if self.flag else []
        if self.edit:
            picks.append(self.edit)
        out.append("  pick one: " + " ".join(picks))
        return out


@dataclass
class Service:
    """A found service as it will be written: named, with its dependencies."""

    found: Found
    name: str
    depends_on: list[str] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
