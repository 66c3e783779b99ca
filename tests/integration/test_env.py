"""devstack.env with a real interpreter: the venv's python that a service's PATH finds is the
one that runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devstack.env.executables import resolve_executable
from devstack.env.layers import build_env
from devstack.env.venv import venv_python
from tests.support.specs import make_service, make_stack
from tests.support.venvs import make_venv


def test_real_venv_python_is_first_on_path(tmp_path: Path) -> None:
    cwd = tmp_path / "svc"
    cwd.mkdir()
    make_venv(cwd / "venv")
    service = make_service(cwd, command="python -m http.server")
    os_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = build_env(make_stack(tmp_path, service), service, os_env, windows=False)

    assert result.venv_auto
    found = resolve_executable(service.command, result.as_dict(), cwd)
    assert found == str(cwd / "venv" / "bin" / "python")
    assert found == str(venv_python(cwd / "venv"))
    # And that python really is the venv's: started with this environment, it says so.
    prefix = subprocess.run(
        [found, "-c", "import sys; print(sys.prefix)"],
        env=result.as_dict(), cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(prefix).resolve() == (cwd / "venv").resolve()

