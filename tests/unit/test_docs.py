"""The documents in the repository: whole (no reference to anything outside the repository, no
link to a missing file), current (the parts written from the code: tests/support/docgen.py), and
the stack.toml reference naming exactly the keys the loader knows."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from devstack.config import probes, stackfile
from tests.support import docgen

REPO = Path(__file__).resolve().parents[2]
# Spelt in pieces, so that this file does not name them itself.
OUTSIDE = ["../" + "shared", "/work/" + "shared", "SPEC" + ".md", "RELIABILITY" + ".md"]


def tracked_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / name for name in names if name and (REPO / name).is_file()]


def test_no_file_refers_to_anything_outside_the_repository() -> None:
    found = []
    for path in tracked_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        found += [f"{path.relative_to(REPO)}: {word}" for word in OUTSIDE if word in text]
    assert found == []


def test_every_local_link_of_the_docs_exists() -> None:
    missing = []
    for doc in [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md")),
                REPO / "tests" / "fault" / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target and not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(REPO)} → {target}")
    assert missing == []


def test_the_generated_parts_of_the_docs_are_current() -> None:
    assert docgen.stale() == [], "run: python -m tests.support.docgen"


def test_the_reference_names_exactly_the_keys_the_loader_knows() -> None:
    text = (REPO / "docs" / "stack-toml.md").read_text()
    assert docgen.table_keys(text, "stack-keys") == list(stackfile.STACK_KEYS)
    assert docgen.table_keys(text, "service-keys") == list(stackfile.SERVICE_KEYS)
    assert docgen.table_keys(text, "health-keys") == list(probes.HEALTH_KEYS)


def test_every_crash_signature_is_in_the_catalogue() -> None:
    from devstack.doctor.signatures.diagnose import SIGNATURES

    text = (REPO / "docs" / "diagnosis.md").read_text()
    assert [s.name for s in SIGNATURES if f"| `{s.name}` |" not in text] == []
