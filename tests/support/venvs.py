"""Python virtual environments for the tests: real ones (made in-process, as `python -m venv
--without-pip` makes them, without starting a process), folders that only look like one, and the
metadata pip leaves behind for an installed package."""

from __future__ import annotations

import venv
from pathlib import Path

from tests.support.files import make_executable


def make_venv(path: Path, *, pip: bool = False) -> Path:
    """A real venv at `path` (pyvenv.cfg, bin/python linked to this interpreter, site-packages).
    `pip`: with a stand-in bin/pip, what `python -m venv` (with pip) leaves there."""
    venv.EnvBuilder(with_pip=False).create(path)
    if pip:
        make_executable(path / "bin" / "pip")
    return path


def fake_venv(path: Path) -> Path:
    """A folder that auto-detection accepts as a venv (no interpreter needed)."""
    path.mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return path


def site_dir(venv_path: Path) -> Path:
    return next(venv_path.glob("lib/python*/site-packages"))


def install(venv_path: Path, name: str, version: str, *, requires: tuple[str, ...] = (),
            extras: tuple[str, ...] = (), site: Path | None = None) -> None:
    """What `pip install name==version` leaves in site-packages, minus the code."""
    folder = (site or site_dir(venv_path)) / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {req}" for req in requires]
    (folder / "METADATA").write_text("\n".join(lines) + "\n")
    (folder / "INSTALLER").write_text("pip\n")
    (folder / "RECORD").write_text(f"{folder.name}/METADATA,,\n{folder.name}/RECORD,,\n")
