"""The repository refers to nothing outside itself: no file git tracks (or would track) names the
team's shared folder or its documents. git lists the files, so this runs here and not in tests/unit."""

from __future__ import annotations

from tests.support.repo import REPO, git_files

# Spelt in pieces, so that this file does not name them itself.
OUTSIDE = ["../" + "shared", "/work/" + "shared", "SPEC" + ".md", "RELIABILITY" + ".md"]


def test_no_file_refers_to_anything_outside_the_repository() -> None:
    found = []
    for path in (REPO / name for name in git_files()):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        found += [f"{path.relative_to(REPO)}: {word}" for word in OUTSIDE if word in text]
    assert found == []
