from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Stack


@pytest.fixture
def stack(tmp_path: Path, no_leftovers: str) -> Iterator[Stack]:
    root = tmp_path / "stack"
    root.mkdir()
    s = Stack(root, no_leftovers)
    yield s
    s.cleanup()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
