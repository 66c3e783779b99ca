"""When a service cannot reach another one: the reason that names the other service.

A service that cannot reach its database says so in its own words (pgjdbc's "Connection to
127.0.0.1:5432 refused", node's "connect ECONNREFUSED 127.0.0.1:5432", psycopg's "connection to
server at … port 5432 failed", asyncpg's "Connect call failed", or a timeout: libpq's "timeout
expired", node-postgres' "Error: timeout expired", asyncpg's bare TimeoutError) or only answers its
probe with 503. The cause is rarely the
service itself: the database is still starting, was stopped, or failed. This module turns
those words, the addresses named in the service's environment (DATABASE_URL,
SPRING_DATASOURCE_URL, …) and a snapshot of the other services' states into one line that
names the other service, its port and its state, and the fix:

    core-api cannot reach postgres at 127.0.0.1:5432 (SPRING_DATASOURCE_URL in stack.toml):
    postgres is stopped; start it: devstack start postgres

It also names where the stack defines a user or a database that Postgres refused
("password authentication failed for user …", "database … does not exist"). Pure: the
caller hands in the lines, the environment and the peers; nothing here reads a file or a
socket. A URL is shown without its password, and a value read from a .env file not at all
(only the variable and its file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devstack.doctor.peers import Peer
from devstack.env.layers import EnvVar, Layer, ServiceEnv
from devstack.text.places import shown

# The states of a peer that mean "it is up": a refusal while it is up is not about its state.
_UP: Final = frozenset({"healthy", "running"})
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", "[::1]", "[::]"})
_DEFAULT_PORTS: Final = {
    "postgres": 5432, "postgresql": 5432, "jdbc:postgresql": 5432, "postgresql+psycopg": 5432,
    "postgresql+psycopg2": 5432, "postgresql+asyncpg": 5432, "mysql": 3306, "jdbc:mysql": 3306,
    "mariadb": 3306, "redis": 6379, "rediss": 6379, "mongodb": 27017, "amqp": 5672, "http": 80,
    "https": 443,
}

# scheme://[user[:password]@]host[:port][/path] — jdbc:postgresql:// included.
_URL: Final = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*(?::[A-Za-z][A-Za-z0-9+.-]*)?)://"
    r"(?:(?P<user>[^:/@\s]+)(?::[^@/\s]*)?@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s?#,]+)(?::(?P<port>\d{1,5}))?"
    r"(?:/(?P<path>[^?\s#]*))?"
)
_PASSWORD: Final = re.compile(r"(://[^:/@\s]+):[^@/\s]*@")

# How clients say a connection was refused, naming the address. Each has `host` and `port`.
_REFUSED_AT: Final = tuple(re.compile(p) for p in (
    r"Connection to (?P<host>[\w.\-]+|\[[0-9a-fA-F:.]+\]):(?P<port>\d+) refused",  # pgjdbc
    r"ECONNREFUSED (?P<host>[\w.\-]+|\[?[0-9a-fA-F:.]+\]?):(?P<port>\d+)",  # node
    r'connection to server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+) failed: '
    r"Connection refused",  # libpq 14+ (psycopg, psql)
    r"Connect call failed \('(?P<host>[^']+)', (?P<port>\d+)",  # asyncio (asyncpg, aiohttp)
    r"Error 111 connecting to (?P<host>[\w.\-]+):(?P<port>\d+)",  # redis-py
    r"Can't reach database server at `(?P<host>[^`]+)`:`(?P<port>\d+)`",  # Prisma
    r"connect: connection refused.*?(?P<host>[\w.\-]+):(?P<port>\d+)",  # Go
    r"\[Errno 111\] Connection refused.*?\(host=(?P<host>[^,\s]+), port=(?P<port>\d+)",
))
# How clients say a connection timed out, naming the address.
_TIMED_OUT_AT: Final = tuple(re.compile(p) for p in (
    r'connection to server at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+) failed: '
    r"(?:timeout expired|Connection timed out)",  # libpq 14+
    r"ETIMEDOUT (?P<host>[\w.\-]+|\[?[0-9a-fA-F:.]+\]?):(?P<port>\d+)",  # node
    r"Connect(?:ion)? timed out.*?(?P<host>[\w.\-]+):(?P<port>\d+)",
))
# A timeout that names no address (node-postgres, asyncpg): the environment has to say which.
_TIMED_OUT: Final = re.compile(
    r"\btimeout expired\b|Connection timed out|\bETIMEDOUT\b|timeout exceeded when trying to connect|"
    r"Connection terminated due to connection timeout")
# asyncpg's: a bare TimeoutError, a connection's only when the trace shows a connect.
_BARE_TIMEOUT: Final = re.compile(r"^(?:asyncio\.(?:exceptions\.)?)?TimeoutError$")
# libpq before 14 says the address on the line after "could not connect to server".
_ACCEPTING_ON: Final = re.compile(
    r'Is the server running on host "(?P<host>[^"]+)".*accepting\s+TCP/IP connections on port (?P<port>\d+)')
# A refusal that names no address: the environment has to say which one it was.
_REFUSED: Final = re.compile(
    r"Connection refused|ECONNREFUSED|ConnectException|could not connect to server|"
    r"Communications link failure|Connection is not available, request timed out", re.IGNORECASE)
_UNAVAILABLE: Final = re.compile(r"\bHTTP 503\b")

_PASSWORD_NAME: Final = re.compile(r"PASS|PWD", re.IGNORECASE)
_AUTH: Final = re.compile(r'password authentication failed for user "(?P<user>[^"]+)"')
_NO_DATABASE: Final = re.compile(r'database "(?P<db>[^"]+)" does not exist')
_NO_ROLE: Final = re.compile(r'role "(?P<user>[^"]+)" does not exist')


# A state as a sentence says it ("postgres is in backoff").
_STATE_WORDS: Final = {"backoff": "in backoff (restarting after a crash)",
                       "pending": "pending (waiting for its own dependencies)"}


@dataclass(frozen=True)
class Address:
    """A host:port that a variable of the service's environment names."""

    var: str
    host: str
    port: int
    user: str | None  # the URL's user, if any
    database: str | None  # the URL's path, if any (a database name for database URLs)
    where: str  # how a reason names the variable: "SPRING_DATASOURCE_URL in stack.toml"


def addresses_in(env: ServiceEnv, root: Path) -> list[Address]:
    """Every host:port a variable of the service names: URLs (DATABASE_URL, jdbc:…) and
    `*_PORT` variables (host unknown)."""
    found = []
    for var in env.variables.values():
        if var.layer is Layer.DEVSTACK and var.name == "PORT":
            continue  # the service's own port
        for match in _URL.finditer(var.value):
            scheme = match.group("scheme").lower()
            port = int(match.group("port")) if match.group("port") else _DEFAULT_PORTS.get(scheme)
            if port is None:
                continue
            path = (match.group("path") or "").strip("/") or None
            found.append(Address(var.name, match.group("host").strip("[]"), port, match.group("user"),
                                 path, _where(var, root)))
        if var.name.endswith("_PORT") and var.value.strip().isdigit() and var.layer is not Layer.OS:
            found.append(Address(var.name, "", int(var.value), None, None, _where(var, root)))
    return found


def _where(var: EnvVar, root: Path) -> str:
    """The variable and the layer that set it; its value only when it may be shown, and then
    without a password: never a value from a .env file or a secret-named variable."""
    if var.layer in (Layer.STACK_ENV_FILE, Layer.SERVICE_ENV_FILE):
        return f"{var.name} in {shown(var.source, root, root.resolve())}"
    if var.layer is Layer.OS:
        return f"{var.name} from the environment devstack was started in"
    bare = _PASSWORD.sub(r"\1@", var.value)
    if var.secret and bare == var.value:
        return f"{var.name} in stack.toml"
    return f"{var.name} = {bare} in stack.toml"


def reach_reason(name: str, lines: Sequence[str], addresses: Sequence[Address],
                 peers: Mapping[str, Peer], depends_on: Mapping[str, str], alive: bool,
                 probe_error: str | None = None) -> str | None:
    """Why `name` cannot reach another service of the stack, or None when its output and probe
    say nothing of the kind (or the other service is up: then the cause is elsewhere).

    `alive`: the service's process still runs (it answers its probe with an error) rather than
    having exited at start."""
    host, port, timed_out = _refused_address(lines)
    by_port = {p.port: p for p in peers.values() if p.port is not None and p.name != name}
    if port is not None:
        peer = by_port.get(port) if host in _LOCAL_HOSTS else None
        address = _address_for(addresses, port)
        if peer is None:
            if any(p.port == port for p in peers.values()):
                return None  # its own port
            return _nobody(name, host, port, address, timed_out)
        return _about(name, peer, f"{host}:{port}", address, depends_on, alive)
    refused = any(_REFUSED.search(line) for line in lines)
    timed_out = any(_TIMED_OUT.search(line) for line in lines) or (
        any(_BARE_TIMEOUT.search(line) for line in lines) and any("connect" in line for line in lines))
    unavailable = probe_error is not None and _UNAVAILABLE.search(probe_error) is not None
    if not (refused or unavailable or timed_out):
        return None
    # No address in the output: the peers the service names in its environment, then its
    # dependencies, in that order; the first one that is not up is the likely cause.
    for candidate in _candidates(addresses, by_port, depends_on, peers):
        peer, address = candidate
        if peer.state not in _UP:
            at = f"{address.host or 'localhost'}:{peer.port}" if address else f"port {peer.port}"
            if peer.port is None:
                at = "it"
            return _about(name, peer, at, address, depends_on, alive)
    if timed_out and not refused:
        # No service of the stack to blame: the address the environment names, if one.
        named = next((a for a in addresses if a.host and a.port not in by_port), None)
        if named is not None:
            return _nobody(name, named.host, named.port, named, True)
    return None


def _refused_address(lines: Sequence[str]) -> tuple[str, int | None, bool]:
    """(host, port, whether it timed out rather than was refused) of the last failed connect
    that names its address."""
    for line in reversed(lines):
        for patterns, timed_out in ((_REFUSED_AT, False), ((_ACCEPTING_ON,), False), (_TIMED_OUT_AT, True)):
            for pattern in patterns:
                match = pattern.search(line)
                if match:
                    return match.group("host").strip("[]") or "localhost", int(match.group("port")), timed_out
    return "", None, False


def _nobody(name: str, host: str, port: int, address: Address | None, timed_out: bool) -> str:
    """No service of the stack has the port: what the failure says about the address itself."""
    named = f" ({address.where})" if address else ""
    head = f"{name} cannot reach {host}:{port}{named}"
    local = host in _LOCAL_HOSTS
    if timed_out and local:
        return (f"{head}: the connection timed out: something holds the port but does not accept "
                "(hung, or its backlog is full); see who: devstack status, ss -ltnp")
    if timed_out:
        return (f"{head}: the connection timed out: check that the host is right and reachable from "
                "this machine (VPN, firewall), or run the database in this stack")
    if local:
        return (f"{head}: nothing listens there, and no service of this stack has port {port}; start "
                "what should, or add it to stack.toml")
    return f"{head}: connection refused: nothing listens on that port there; check the host and port"


def _address_for(addresses: Sequence[Address], port: int) -> Address | None:
    # A URL says more than a bare *_PORT variable.
    named = [a for a in addresses if a.port == port]
    return min(named, key=lambda a: a.host == "", default=None)


def _candidates(addresses: Sequence[Address], by_port: Mapping[int, Peer], depends_on: Iterable[str],
                peers: Mapping[str, Peer]) -> list[tuple[Peer, Address | None]]:
    seen: dict[str, tuple[Peer, Address | None]] = {}
    for address in addresses:
        peer = by_port.get(address.port)
        if peer is not None and (address.host in _LOCAL_HOSTS or address.host == ""):
            seen.setdefault(peer.name, (peer, address))
    for dep in depends_on:
        if dep in peers:
            seen.setdefault(dep, (peers[dep], None))
    return list(seen.values())


def _about(name: str, peer: Peer, at: str, address: Address | None, depends_on: Mapping[str, str],
           alive: bool) -> str | None:
    if peer.state in _UP:
        return None
    named = f" ({address.where})" if address else ""
    state = f"{peer.name} is {_STATE_WORDS.get(peer.state, peer.state)}"
    if peer.state in ("failed", "backoff", "unhealthy") and peer.error:
        state += f" ({peer.error})"
    if peer.state in ("pending", "starting"):
        condition = depends_on.get(peer.name)
        if condition is None:
            fix = f'add depends_on = ["{peer.name}"] to {name}, so that it starts once {peer.name} is healthy'
        elif condition != "healthy":
            fix = f'make {name} wait until {peer.name} is healthy: depends_on = {{ {peer.name} = "healthy" }}'
        else:
            fix = f"{name} waits for it"
    elif peer.state in ("stopped", "exited"):
        fix = f"start it: devstack start {peer.name}"
    elif peer.state == "unhealthy":
        fix = f"see devstack logs {peer.name}"
    else:
        fix = f"see devstack status and devstack logs {peer.name}"
    how = "; it keeps running meanwhile" if alive else ""
    return f"{name} cannot reach {peer.name} at {at}{named}: {state}; {fix}{how}"


def database_reason(lines: Sequence[str], env: ServiceEnv, addresses: Sequence[Address],
                    peers: Mapping[str, Peer], root: Path) -> str | None:
    """A user or database that Postgres refused, and where the stack defines it: the variable
    that names it and the setup command that creates it. Never the password."""
    for line in reversed(lines):
        auth = _AUTH.search(line) or _NO_ROLE.search(line)
        missing = _NO_DATABASE.search(line)
        if not (auth or missing):
            continue
        owner = _database_owner(addresses, peers)
        setup = f" ({owner.name}'s setup: {owner.setup})" if owner and owner.setup else ""
        if missing:
            db = missing.group("db")
            named = _naming(env, addresses, root, db, "database")
            return (f'Postgres has no database "{db}"{named}: create it{setup}, or name an existing '
                    "database there")
        assert auth is not None
        user = auth.group("user")
        named = _naming(env, addresses, root, user, "user")
        if auth.re is _NO_ROLE:
            return f'Postgres has no user (role) "{user}"{named}: create it{setup}, or name an existing one'
        secret = sorted(n for n, v in env.variables.items()
                        if v.secret and v.layer is not Layer.OS and _PASSWORD_NAME.search(n))
        which = f" ({', '.join(secret)})" if secret else ""
        return (f'Postgres refused the password of user "{user}"{named}: the password the service '
                f"gives{which} differs from the one the user was created with{setup}")
    return None


def _database_owner(addresses: Sequence[Address], peers: Mapping[str, Peer]) -> Peer | None:
    by_port = {p.port: p for p in peers.values() if p.port is not None}
    for address in addresses:
        if address.port in by_port and (address.host in _LOCAL_HOSTS or address.host == ""):
            return by_port[address.port]
    return None


def _naming(env: ServiceEnv, addresses: Sequence[Address], root: Path, value: str,
            part: str) -> str:
    """" (named by X in …)" for the variable that carries `value`: a URL's `part` ("user",
    "database"), or a variable whose whole value it is (SPRING_DATASOURCE_USERNAME = lifebit_user)."""
    for address in addresses:
        if getattr(address, part) == value:
            return f" (named by {address.where})"
    for var in env.variables.values():
        if var.value == value and var.layer is not Layer.OS:
            return f" (named by {_where(var, root)})"
    return ""
