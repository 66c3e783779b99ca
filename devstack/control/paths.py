"""Where a stack keeps its state: `<stack folder>/.devstack/` (logs, control socket, lock).

Unix socket paths are limited to ~107 bytes; when `.devstack/run/control.sock` would be longer,
the socket lives under the user's runtime folder at a name derived from the stack's path, so
that every devstack command finds it without asking anyone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

MAX_SOCKET_PATH = 100
# The exit code of a detached supervisor that found another one holding the stack's lock (here,
# not in app.py: `up -d` needs it without loading the whole supervisor).
EXIT_LOST_RACE = 75


def stack_id(root: Path) -> str:
    """A short, stable id for a stack folder (it tags every child process of the stack)."""
    import hashlib  # here, not at the top: `status` needs it only for very long paths

    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


class StatePaths(NamedTuple):
    state_dir: Path
    run_dir: Path
    log_dir: Path
    lock: Path
    info: Path
    socket: Path
    supervisor_out: Path

    @classmethod
    def of(cls, root: Path) -> StatePaths:
        state = root / ".devstack"
        run = state / "run"
        socket = run / "control.sock"
        if len(str(socket)) > MAX_SOCKET_PATH:
            import tempfile

            base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
            socket = Path(base) / f"devstack-{os.getuid()}" / f"{stack_id(root)}.sock"
        return cls(state_dir=state, run_dir=run, log_dir=state / "logs", lock=run / "supervisor.lock",
                   info=run / "supervisor.json", socket=socket, supervisor_out=state / "supervisor.out")

    @property
    def adopted(self) -> Path:
        """The supervisor's record of the processes it adopted (process/leftovers.py)."""
        return self.run_dir / "adopted"

    def make_private_dirs(self) -> None:
        """Create the state folders, or take over the ones we own: logs writable by us alone, the
        run folder (and a fallback socket folder) 0700. A folder that is a symlink or belongs to
        another user is refused (UsageError): its owner could swap the socket, lock or logs."""
        for folder, mode in ((self.state_dir, 0o755), (self.log_dir, 0o755), (self.run_dir, 0o700),
                             (self.socket.parent, 0o700)):
            folder.mkdir(parents=True, exist_ok=True)
            _claim(folder, mode)


def _claim(folder: Path, mode: int) -> None:
    import stat

    from devstack.errors import UsageError

    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else f"owned by uid {st.st_uid}"
        raise UsageError(f"{folder} is {what}; devstack keeps its socket, lock and logs only in folders "
                         f"of its own user. Remove {folder} and run again.")
    if stat.S_IMODE(st.st_mode) & ~mode:
        os.chmod(folder, stat.S_IMODE(st.st_mode) & mode)
