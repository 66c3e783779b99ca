"""The schema as an editor uses it: Taplo (the engine of Even Better TOML) with the `#:schema`
line docs/stack-toml.md shows accepts every stack.toml of the repository and flags the broken
ones the loader refuses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_schema import BROKEN, REPO, stack_files

TAPLO = shutil.which("taplo", path=str(Path(sys.executable).parent)) or "taplo"


def taplo_check(folder: Path, text: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO / "docs" / "stack.schema.json", folder / "stack.schema.json")
    (folder / "stack.toml").write_text("#:schema ./stack.schema.json\n" + text)
    return subprocess.run([TAPLO, "check", "stack.toml"], cwd=folder, capture_output=True, text=True,
                          timeout=60)


def test_taplo_accepts_every_stack_toml_of_the_repository(tmp_path: Path) -> None:
    for path in stack_files():
        done = taplo_check(tmp_path, path.read_text())
        assert done.returncode == 0, (path, done.stderr)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_taplo_flags_what_the_loader_refuses(tmp_path: Path, name: str) -> None:
    done = taplo_check(tmp_path, BROKEN[name])
    assert done.returncode == 1 and "error:" in done.stderr, (name, done.stderr)
