"""A throwaway PostgreSQL cluster for tests that run the real server: whether the binaries are
here, how to run them (as the `postgres` user through setpriv when the tests run as root, which
Postgres refuses), and a freshly initdb'd data folder that the server's user can reach."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
