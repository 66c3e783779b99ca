"""Guards on the shape of the package: imports point down, and `status` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "devstack"

# Lower layers first; a module may import only from its own layer or the ones before it.
LAYERS = [
    {"errors", "durations", "specs", "states", "clock", "suggest", "paths", "protocol", "coalesce", "ansi",
     "addresses", "stamps"},
    {"config", "procfile", "policy", "env", "logfile", "http_get", "health", "terminal", "render"},
    {"spawn", "background", "requirements", "signatures", "logs"},
    {"ports", "listeners", "preflight", "client"},
    {"service"},
    {"supervisor"},
    {"control"},
    {"app"},
    {"cli", "cli_init", "entry", "__main__", "__init__"},
]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("devstack"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("devstack."))
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == set().union(*LAYERS)


def test_imports_point_down() -> None:
    level = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    wrong = []
    for path in PACKAGE.glob("*.py"):
        for imported in _imports(path):
            if level.get(imported, 0) > level[path.stem]:
                wrong.append(f"{path.stem} imports {imported}")
    assert not wrong


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after running `code`."""
    report = f"import sys; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def test_status_path_imports_no_heavy_modules() -> None:
    heavy = ("httpx", "h11", "devstack.http_get", "psutil", "asyncio", "devstack.supervisor", "yaml",
             "devstack.init")
    code = "import devstack.cli, devstack.config, devstack.client, devstack.render"
    assert _loaded_after(code, heavy) == []


def test_the_http_client_is_loaded_only_by_an_http_probe() -> None:
    """A stack without HTTP probes never loads h11; nothing in devstack loads httpx at all."""
    client = ("h11", "devstack.http_get", "httpx", "httpcore", "anyio")
    supervisor = "import devstack.app, devstack.supervisor, devstack.health"
    assert _loaded_after(supervisor, client) == []
    tcp_probe = (
        "import asyncio\n"
        "from devstack.health import probe_tcp\n"
        "from devstack.specs import HealthSpec, ProbeKind\n"
        "asyncio.run(probe_tcp(HealthSpec(ProbeKind.TCP, '127.0.0.1:1', timeout=1)))"
    )
    assert _loaded_after(tcp_probe, client) == []
    http_probe = tcp_probe.replace("probe_tcp", "probe_http").replace(
        "ProbeKind.TCP, '127.0.0.1:1'", "ProbeKind.HTTP, 'http://127.0.0.1:1/'")
    assert _loaded_after(http_probe, client) == ["h11", "devstack.http_get"]
