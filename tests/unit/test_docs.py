"""The documents in the repository: whole (no link to a missing file), current (the parts written
from the code: tests/support/docgen.py), and the stack.toml reference naming exactly the keys the
loader knows. That no file refers to anything outside the repository asks git for the files: it is
in tests/integration/test_docs.py."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.config import probes, stackfile
from tests.support import docgen

REPO = Path(__file__).resolve().parents[2]


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
