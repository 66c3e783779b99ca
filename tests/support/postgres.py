"""A real Postgres for integration tests: the server binaries this machine has, a data directory
made by initdb in a folder the server's user can reach, and the command that runs the server on a
free port (as the postgres user when the tests run as root, as demo/db does).

The cluster trusts local (Unix socket) connections and asks TCP clients for the superuser's
password, PASSWORD, so that a wrong one is refused for real.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").is_dir() else None
PASSWORD = "pg-pass-5c1e"  # the superuser's; tests check it is shown nowhere


def as_server() -> list[str]:
    """The prefix that runs a server-side command as a user Postgres accepts: none, or (as root) the
    postgres user's. Skips the test when there is no such user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("as root, Postgres needs a postgres user to run as")
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def make_cluster() -> Path:
    """A fresh data directory (its parent is the caller's to remove: remove_cluster). Skips the
    test when the machine has no Postgres server."""
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are needed (/usr/lib/postgresql/*/bin)")
    prefix = as_server()
    home = Path(tempfile.mkdtemp(prefix="devstack-pg-"))
    home.chmod(0o755)
    data = home / "data"
    pwfile = home / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if prefix:
        shutil.chown(home, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                    "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
                   check=True, capture_output=True, timeout=120)
    pwfile.unlink()
    return data


def remove_cluster(data: Path) -> None:
    shutil.rmtree(data.parent, ignore_errors=True)


def server_command(data: Path, port: int) -> list[str]:
    """postgres on 127.0.0.1:port, its Unix socket beside the data directory."""
    assert PG_BIN is not None  # make_cluster skipped otherwise
    return [*as_server(), str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data.parent),
            "-c", "listen_addresses=127.0.0.1"]
