"""The module table of docs/architecture.md, generated from the package: one row per module, its
job being the first paragraph of its docstring. tests/unit/test_architecture.py checks the page
is current; `python -m tests.support.module_map` rewrites it after a module is added, moved or
its docstring changed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
HEADER = "| module | job |\n|---|---|\n"


def rows(root: Path = ROOT) -> str:
    lines = []
    for path in sorted((root / "devstack").rglob("*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        job = " ".join(docstring.split("\n\n")[0].split()).replace("|", "\\|")
        lines.append(f"| `{path.relative_to(root).as_posix()}` | {job} |\n")
    return HEADER + "".join(lines)


def current_table(text: str) -> str:
    """The module table as the page has it (from its header to the first line that is not a row)."""
    start = text.index(HEADER)
    end = start + len(HEADER)
    while end < len(text) and text.startswith("| `", end):
        end = text.index("\n", end) + 1
    return text[start:end]


def rewrite(doc: Path = DOC) -> bool:
    text = doc.read_text()
    table = current_table(text)
    fresh = rows()
    if table == fresh:
        return False
    doc.write_text(text.replace(table, fresh))
    return True


if __name__ == "__main__":
    print("docs/architecture.md: module table rewritten" if rewrite() else "docs/architecture.md: current")
    sys.exit(0)
