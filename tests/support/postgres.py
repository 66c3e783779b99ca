"""A real Postgres for tests: the server binaries this machine has, how to run them (as the
`postgres` user through setpriv when the tests run as root, which Postgres refuses, as demo/db
does), and a freshly initdb'd data folder that the server's user can reach.

make_cluster/server_command: a cluster that trusts local (Unix socket) connections and asks TCP
clients for the superuser's password, PASSWORD, so that a wrong one is refused for real.
throwaway_cluster: a trusting cluster for tests that only need a server to start and stop
(`pg_ctl start`, a busy session at `down`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").is_dir() else None
PASSWORD = "pg-pass-5c1e"  # the superuser's; tests check it is shown nowhere


def postgres_missing(*tools: str) -> str | None:
    """Why the real server cannot run here (a missing tool, no way to drop root), or None."""
    for tool in tools or ("postgres", "initdb"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return "setpriv is missing (Postgres refuses to run as root)"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no `postgres` user to run the server as (Postgres refuses to run as root)"
    return None


def as_postgres() -> list[str]:
    """The argv prefix that runs a command as the `postgres` user when we are root (else none)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def as_server() -> list[str]:
    """as_postgres(), skipping the test when, as root, there is no postgres user to run as."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("as root, Postgres needs a postgres user to run as")
    return as_postgres()


@contextmanager
def throwaway_cluster(prefix: str) -> Iterator[Path]:
    """A folder (outside pytest's 0700 folders, which the postgres user cannot enter) holding a
    fresh cluster in `data/`; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        os.chmod(root, 0o755)
        if as_postgres():
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        init = subprocess.run([*as_postgres(), "initdb", "-D", str(root / "data"), "-A", "trust",
                               "-U", "postgres", "--no-sync"], cwd=root, capture_output=True, text=True,
                              timeout=120)
        assert init.returncode == 0, init.stderr[-2000:]
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
