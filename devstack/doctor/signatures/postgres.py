"""Postgres' FATAL lines, each with the command or setting that fixes it: run as root, no data
directory or configuration, files of another version, a stale lock, a port in use, no socket
directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from devstack.doctor.signatures.base import Context, Signature, holder_of, index_of, sig, stack_path


def _pg_root(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return (
        "postgres refuses to run as root: run it as the postgres user "
        '(e.g. command = "runuser -u postgres -- postgres -D …")'
    )


def _pg_no_data_dir(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = stack_path(match.group("dir"), ctx.root)
    return (
        f"postgres data directory {folder} does not exist: create it with "
        f"initdb -D {folder} (as the postgres user)"
    )


def _pg_no_config(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    conf = Path(match.group("file"))
    if str(conf.parent) in ("", "."):
        return "postgres found no postgresql.conf: point -D at an initialized data directory, or run initdb"
    folder = stack_path(conf.parent, ctx.root)
    return (
        f"postgres found no postgresql.conf in {folder}: it is not an initialized data directory; "
        f"run initdb -D {folder} (as the postgres user) or point -D at the right folder"
    )


_PG_VERSIONS = re.compile(
    r"initialized by PostgreSQL version (?P<old>[\w.]+), "
    r"which is not compatible with this version (?P<new>[\w.]+)"
)


def _pg_incompatible(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    for line in lines[index_of(match, lines) + 1 :][:3]:
        versions = _PG_VERSIONS.search(line)
        if versions:
            old, new = versions.group("old"), versions.group("new")
            return (
                f"postgres: database files are incompatible with server (made by PostgreSQL {old}, "
                f"this is {new}): run postgres {old} on them, or upgrade them with pg_upgrade"
            )
    return (
        "postgres: database files are incompatible with server: run the postgres version that "
        "created them, or upgrade them with pg_upgrade"
    )


_PG_LOCK_HINT = re.compile(
    r'Is another postmaster \(PID (?P<pid>\d+)\)(?: running in data directory "(?P<dir>[^"]+)")?'
)


_PG_SOCKET_LOCK = re.compile(r"\.s\.PGSQL\.(?P<port>\d+)\.lock$")


def _pg_lock_exists(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    lock = match.group("file")
    socket = _PG_SOCKET_LOCK.search(lock)
    if socket:
        # The lock of a Unix socket: another postgres serves the same port.
        port = int(socket.group("port"))
        holder = holder_of(port, ctx)
        return f"port {port} is already in use by {holder} (postgres lock file {stack_path(lock, ctx.root)})"
    hint = None
    for line in lines[index_of(match, lines) + 1 :][:3]:
        hint = _PG_LOCK_HINT.search(line)
        if hint:
            break
    pid = hint.group("pid") if hint else None
    data = hint.group("dir") if hint else None
    stale = (f"{stack_path(data, ctx.root)}/postmaster.pid" if data
             else "postmaster.pid from the data directory")
    who = f"another postgres (pid {pid})" if pid else "another postgres"
    # Postgres checked that the pid in postmaster.pid is alive, but after a crash or a
    # container restart it can be an unrelated process that reused the number.
    check = f"if pid {pid} is not a postgres, " if pid else "if none runs, "
    return (
        f'postgres: lock file "{stack_path(lock, ctx.root)}" already exists: {who} runs on this '
        f"data directory; stop it, or {check}delete {stale}"
    )


_PG_PORT_HINT = re.compile(r"already running on port (?P<port>\d+)")


def _pg_no_sockets(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    # Postgres logs the bind error and its HINT (with the port) before this FATAL.
    port = ctx.port
    for line in reversed(lines[: index_of(match, lines)]):
        hint = _PG_PORT_HINT.search(line)
        if hint:
            port = int(hint.group("port"))
            break
    if port is None:
        return (
            "postgres could not create any TCP/IP sockets: check listen_addresses and that its port is free"
        )
    holder = holder_of(port, ctx)
    return f"port {port} is already in use by {holder} (postgres could not create any TCP/IP sockets)"


def _pg_socket_dir(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = stack_path(match.group("dir"), ctx.root)
    return (
        f"postgres socket directory {folder} does not exist: create it (owned by the postgres user) "
        "or choose another with -k / unix_socket_directories"
    )


# Most specific first; any other FATAL line is generic.py's catch-all.
SIGNATURES: Final[tuple[Signature, ...]] = (
    sig("postgres-as-root", r'"root" execution of the PostgreSQL server is not permitted', _pg_root),
    sig(
        "postgres-no-data-dir",
        r'could not access directory "(?P<dir>[^"]+)": No such file or directory',
        _pg_no_data_dir,
    ),
    sig(
        "postgres-data-dir-missing",
        r'FATAL:\s+data directory "(?P<dir>[^"]+)" does not exist',
        _pg_no_data_dir,
    ),
    sig(
        "postgres-no-config",
        r'could not (?:access|open) (?:the server configuration )?file "(?P<file>[^"]*postgresql\.conf)"',
        _pg_no_config,
    ),
    sig("postgres-incompatible", r"FATAL:\s+database files are incompatible with server", _pg_incompatible),
    sig("postgres-lock-file", r'FATAL:\s+lock file "(?P<file>[^"]+)" already exists', _pg_lock_exists),
    sig("postgres-no-tcp-sockets", r"FATAL:\s+could not create any TCP/IP sockets", _pg_no_sockets),
    sig(
        "postgres-no-socket-dir",
        r'FATAL:\s+could not create lock file "(?P<dir>[^"]*)/\.s\.PGSQL\.\d+\.lock": '
        r"No such file or directory",
        _pg_socket_dir,
    ),
)
