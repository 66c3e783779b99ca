"""PostgreSQL URLs as configs spell them: `postgresql://` (and `postgres://`, SQLAlchemy's
`postgresql+driver://`), JDBC's `jdbc:postgresql://`, and `${NAME:default}` placeholders in
them (Spring's; compose's `${NAME:-default}` too), read as their defaults.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

from devstack.init.model import DbUrl
from devstack.init.repo import Repo

DEFAULT_PORT = 5432
_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+[\w.-]+)?://", re.IGNORECASE)
_INNERMOST = re.compile(r"\$\{([^${}]*)\}")
ENV_EXAMPLES = (".env.example", ".env.sample", ".env.template")


def resolve_placeholders(value: str) -> str | None:
    """`value` with each `${NAME:default}` replaced by its default (innermost first); None when
    one has no default: its value comes from outside the repository."""
    while True:
        match = _INNERMOST.search(value)
        if match is None:
            return value
        _, colon, default = match.group(1).partition(":")
        if not colon:
            return None
        value = value[: match.start()] + default.removeprefix("-") + value[match.end():]


def is_postgres_url(value: str) -> bool:
    return bool(_SCHEME.match(value.strip())) or value.strip().lower().startswith("jdbc:postgresql:")


def from_url(value: str, source: str) -> DbUrl | None:
    """A `postgresql://user:password@host:port/db` URL; None when it is not one."""
    value = value.strip()
    if not _SCHEME.match(value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port or DEFAULT_PORT
    except ValueError:  # a port that is not a number
        return None
    query = parse_qs(parts.query)
    host = parts.hostname or _first(query.get("host")) or "localhost"
    database = unquote(parts.path.lstrip("/")) or _first(query.get("dbname"))
    user = unquote(parts.username) if parts.username else _first(query.get("user"))
    password = unquote(parts.password) if parts.password is not None else _first(query.get("password"))
    return DbUrl(host, port, database or None, user or None, password, source)


def from_jdbc(url: str, user: str | None, password: str | None, source: str) -> DbUrl | None:
    """A `jdbc:postgresql://host:port/db?user=…` URL, with the user and password configured
    beside it (spring.datasource.username/password) where the URL names none."""
    url = url.strip()
    if not url.lower().startswith("jdbc:postgresql:"):
        return None
    rest = url[len("jdbc:postgresql:"):]
    if not rest.startswith("//"):  # jdbc:postgresql:db is localhost:5432/db
        rest = "//localhost/" + rest
    netloc, _, tail = rest[2:].partition("/")
    netloc = netloc.split(",")[0]  # several hosts (failover): the first is the one to run
    found = from_url(f"postgresql://{netloc}/{tail}", source)
    if found is None:
        return None
    return DbUrl(found.host, found.port, found.database, found.user or user or None,
                 found.password if found.password is not None else password, source)


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def env_file_urls(repo: Repo, rel: str) -> list[DbUrl]:
    """Every variable of an env file (`.env.example`) whose value is a PostgreSQL URL."""
    from dotenv import dotenv_values

    text = repo.read(rel)
    if text is None:
        return []
    found: list[DbUrl] = []
    for key, value in dotenv_values(stream=io.StringIO(text), interpolate=False).items():
        if not value:
            continue
        resolved = resolve_placeholders(value)
        url = None
        if resolved is not None:
            url = from_url(resolved, f"{key} in {rel}") or from_jdbc(resolved, None, None, f"{key} in {rel}")
        if url is not None:
            found.append(url)
    return found


def example_env_files(repo: Repo, folder: str) -> list[str]:
    """The `.env.example`-like files of a folder (relative to the root)."""
    return [name if folder == "." else f"{folder}/{name}" for name in ENV_EXAMPLES if repo.has(folder, name)]
