"""Guards on the shape of the package: packages in layers, imports pointing down, no import
cycles. (That `status` stays light needs fresh interpreters: tests/integration/test_import_weight.py.)

A *unit* is a top-level package of devstack (`config`, `engine`, …) or a top-level module
(`errors`, `entry`). The checker reads imports with `ast` (lazy imports inside functions count
too), so it works on any folder: the last tests run it on a small fake package to show that it
refuses what it should.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.support.module_map import current_table
from tests.support.module_map import rows as module_rows

PACKAGE = Path(__file__).resolve().parents[2] / "devstack"

# Lower layers first. A unit may import from lower layers only; units of one layer are
# independent of each other. docs/architecture.md describes each unit.
LAYERS: list[set[str]] = [
    {"errors", "text"},
    {"config"},
    {"control", "env"},
    {"process", "logs"},
    {"probes"},
    {"doctor", "export", "init"},
    {"engine"},
    {"ui"},
    {"cli"},
    {"entry"},
    {"__main__", "__init__"},
]


def module_name(root: Path, path: Path, package: str) -> str:
    """`devstack.config.specs` for devstack/config/specs.py; a package's __init__ is the package."""
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__" and len(parts) > 2:
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The top-level unit a module belongs to: `config` for devstack.config.specs."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path, package: str, known: set[str]) -> set[str]:
    """The modules of `package` that the file at `path` imports (`from package.x import y`
    counts as x.y when that is a module, else as x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
    return {name for name in found if name in known}


def module_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports."""
    files = {module_name(root, path, package): path for path in root.rglob("*.py")}
    known = set(files)
    return {name: imports(path, package, known) - {name} for name, path in files.items()}


def unit_graph(modules: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Unit → the other units its modules import."""
    graph: dict[str, set[str]] = {}
    for module, targets in modules.items():
        unit = unit_of(module)
        graph.setdefault(unit, set()).update(unit_of(t) for t in targets if unit_of(t) != unit)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (each an import cycle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def upward_imports(units: Mapping[str, set[str]], layers: list[set[str]]) -> list[str]:
    """`a imports b` for every import that does not point to a lower layer."""
    level = {name: i for i, layer in enumerate(layers) for name in layer}
    return sorted(f"{unit} imports {target}" for unit, targets in units.items() for target in targets
                  if level.get(target, len(layers)) >= level.get(unit, -1))


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(name) for name in module_graph(PACKAGE, "devstack")}
    assert units == set().union(*LAYERS)


def test_imports_point_down() -> None:
    assert upward_imports(unit_graph(module_graph(PACKAGE, "devstack")), LAYERS) == []


def test_no_import_cycles_between_packages_or_modules() -> None:
    modules = module_graph(PACKAGE, "devstack")
    assert cycles(unit_graph(modules)) == []
    assert cycles(modules) == []


def _fake_package(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / "fake" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "fake"


def test_the_checker_refuses_a_cycle_between_packages(tmp_path: Path) -> None:
    """`low` and `high` import each other (one import lazy, inside a function): a cycle, and an
    upward import whichever layer order is chosen."""
    fake = _fake_package(tmp_path, {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": "def f():\n    from fake.high.b import g\n    return g\n",
        "high/__init__.py": "",
        "high/b.py": "from fake.low import a\n\ng = a\n",
    })
    modules = module_graph(fake, "fake")
    assert cycles(unit_graph(modules)) == [["high", "low"]]
    assert cycles(modules) == [["fake.high.b", "fake.low.a"]]
    assert upward_imports(unit_graph(modules), [{"low"}, {"high"}]) == ["low imports high"]


def test_the_checker_accepts_imports_that_point_down(tmp_path: Path) -> None:
    fake = _fake_package(tmp_path, {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": "x = 1\n",
        "high/__init__.py": "",
        "high/b.py": "from fake.low.a import x\n",
    })
    modules = module_graph(fake, "fake")
    assert cycles(modules) == []
    assert upward_imports(unit_graph(modules), [{"low", "__init__"}, {"high"}]) == []


def test_the_docs_module_map_matches_the_package() -> None:
    """docs/architecture.md names every module of devstack, and nothing else, and lists the layers
    as LAYERS does."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    # generated from the modules' docstrings: `python -m tests.support.module_map` rewrites it
    assert current_table(doc) == module_rows(), "stale: run python -m tests.support.module_map"
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", doc, re.M)
    assert [set(re.findall(r"`([\w_]+)`", units)) for _, units in rows] == LAYERS
