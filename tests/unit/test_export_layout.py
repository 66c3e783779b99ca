"""Guards on devstack/export: it sits below the CLI, and PyYAML has one home in it."""

from __future__ import annotations

import ast
from pathlib import Path

EXPORT = Path(__file__).resolve().parents[2] / "devstack" / "export"
# What export may build on: devstack's configuration, env, probes and process argv; never the
# supervisor, its control channel or the CLI (which calls export, not the other way round).
FORBIDDEN = {"cli", "cli_export", "app", "supervisor", "service", "control", "client", "background", "entry"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_export_builds_on_devstack_below_the_cli() -> None:
    wrong = [f"{path.name} imports {module}" for path in EXPORT.glob("*.py") for module in _imports(path)
             if module.startswith("devstack.") and module.split(".")[1] in FORBIDDEN]
    assert not wrong


def test_pyyaml_is_imported_by_yamlout_alone() -> None:
    users = sorted(path.name for path in EXPORT.glob("*.py") if any(m.split(".")[0] == "yaml"
                                                                     for m in _imports(path)))
    assert users == ["yamlout.py"]


def test_every_module_says_what_it_owns() -> None:
    assert not [p.name for p in EXPORT.glob("*.py") if not ast.get_docstring(ast.parse(p.read_text()))]
