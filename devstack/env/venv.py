"""A service's venv: found (declared, or venv/ or .venv/ in its folder), and the folders and
interpreter that activating it puts first.
"""

from __future__ import annotations

from pathlib import Path

from devstack.config.specs import ServiceSpec
from devstack.env.platform import WINDOWS


def find_venv(service: ServiceSpec) -> tuple[Path | None, bool]:
    """The service's venv and whether it was auto-detected.

    A declared venv is returned even when it does not exist: activating it anyway makes
    the failure point at the venv (reported by a pre-flight check) rather than at a
    confusing "module not found" from some other python.
    """
    if service.venv_disabled:
        return None, False
    if service.venv is not None:
        return service.venv, False
    for name in ("venv", ".venv"):
        candidate = service.cwd / name
        # pyvenv.cfg is what makes a folder a venv; a folder merely named venv is not one.
        if (candidate / "pyvenv.cfg").is_file():
            return candidate, True
    return None, False


def venv_bin_dir(venv: Path, windows: bool = WINDOWS) -> Path:
    """The folder that activation puts first on PATH: bin/, or Scripts\\ on Windows."""
    return venv / ("Scripts" if windows else "bin")


def venv_python(venv: Path, windows: bool = WINDOWS) -> Path:
    """The venv's interpreter: bin/python, or Scripts\\python.exe on Windows."""
    return venv_bin_dir(venv, windows) / ("python.exe" if windows else "python")
