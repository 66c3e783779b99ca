"""Postgres' FATAL lines, each with the command or setting that fixes it: run as root, no data
directory or configuration, a data directory of the wrong owner or mode, files of another version,
a lock file (its pid alive and a postgres, or stale), a port in use, no socket directory; and
initdb's "exists but is not empty".
"""

from __future__ import annotations

import os
import pwd
import re
from pathlib import Path
from typing import Final

from devstack.doctor.signatures.base import Context, Signature, in_use, index_of, sig, stack_path


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


def _server_user() -> str:
    """The user the server must run as, and so own its data: devstack's own user, except for root,
    which Postgres refuses (the command then switches to the postgres user, as runuser does)."""
    uid = os.geteuid()
    if uid == 0:
        return "postgres"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _owner(folder: Path) -> str | None:
    try:
        uid = folder.stat().st_uid
    except OSError:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _wrong_owner(folder: Path, ctx: Context, also: str = "") -> str:
    shown = stack_path(folder, ctx.root)
    owner = _owner(folder)
    user = _server_user()
    # Running the server as the folder's owner also works, except as root, which postgres refuses.
    other = f", or run the server as {owner}" if owner and owner not in ("root", user) else ""
    return (f"postgres data directory {shown} is owned by {owner or 'another user'}, not by the user that "
            f"runs the server{also}: chown -R {user} {shown}{other}")


def _pg_wrong_owner(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return _wrong_owner(Path(match.group("dir")), ctx)


def _pg_wrong_mode(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = stack_path(match.group("dir"), ctx.root)
    try:
        mode = f" (its mode is {Path(match.group('dir')).stat().st_mode & 0o777:04o})"
    except OSError:
        mode = ""
    return (f"postgres data directory {folder} is open to other users{mode}: postgres requires 0700 or "
            f"0750: chmod 0700 {folder}")


def _pg_no_config(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    conf = Path(match.group("file"))
    if match.group("why") == "Permission denied" and str(conf.parent) not in ("", "."):
        # Not a missing file: the server's user may not read the folder someone else owns.
        return _wrong_owner(conf.parent, ctx, f" (which may not read its {conf.name})")
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
        return f"{in_use(port, ctx)} (postgres lock file {stack_path(lock, ctx.root)})"
    hint = None
    for line in lines[index_of(match, lines) + 1 :][:3]:
        hint = _PG_LOCK_HINT.search(line)
        if hint:
            break
    data = hint.group("dir") if hint else None
    pid_file = (f"{stack_path(data, ctx.root)}/postmaster.pid" if data
                else "postmaster.pid from the data directory")
    head = f'postgres: lock file "{stack_path(lock, ctx.root)}" already exists'
    if hint is None:
        return (f"{head}: another postgres runs on this data directory; stop it, or if none runs, "
                f"delete {pid_file}")
    # Postgres only checked that the pid in postmaster.pid is alive; after a crash, a reboot or a
    # container restart the number may belong to an unrelated process: look at it.
    pid = int(hint.group("pid"))
    process = ctx.process(pid)
    if process is None:
        return f"{head}, but pid {pid} in it is gone by now: the file is stale; delete {pid_file}"
    if _POSTGRES.search(process):
        return (f"{head}: another postgres, {process}, runs on this data directory; stop it "
                f"(devstack down, or pg_ctl stop -D {stack_path(data, ctx.root) if data else '…'}), "
                "or give this one another data directory")
    return (f"{head}, but the process it names, {process}, is not a postgres: the file is stale (left by "
            f"a crash, the pid reused since); delete {pid_file}")


# A postgres server (or one of its children) by its command line: the binary's name.
_POSTGRES = re.compile(r"\b(?:postgres|postmaster)\b")


def _pg_not_empty(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = stack_path(match.group("dir"), ctx.root)
    return (f"initdb: {folder} exists but is not empty: if it holds a database already, start postgres on "
            f"it instead; else empty it (rm -rf {folder}/*) or give initdb another folder")


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
    return f"{in_use(port, ctx)} (postgres could not create any TCP/IP sockets)"


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
        r'could not (?:access|open) (?:the server configuration )?file "(?P<file>[^"]*postgresql\.conf)"'
        r"(?:: (?P<why>.+))?",
        _pg_no_config,
    ),
    sig("postgres-wrong-owner", r'FATAL:\s+data directory "(?P<dir>[^"]+)" has wrong ownership',
        _pg_wrong_owner),
    sig("postgres-wrong-mode", r'FATAL:\s+data directory "(?P<dir>[^"]+)" has invalid permissions',
        _pg_wrong_mode),
    sig("initdb-not-empty", r'initdb: error: directory "(?P<dir>[^"]+)" exists but is not empty',
        _pg_not_empty),
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
