"""`status` stays light: what a fresh interpreter has imported after the status path, the
supervisor, and each kind of probe (a new process each, so nothing this test run imported counts)."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has imported after running `code`."""
    report = f"import sys; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def test_status_path_imports_no_heavy_modules() -> None:
    heavy = ("httpx", "h11", "devstack.probes.http_get", "psutil", "asyncio", "devstack.engine.supervisor",
             *DASHBOARD,
             "yaml", "devstack.export", "devstack.init")
    code = ("import devstack.cli.main, devstack.config.load, devstack.control.client, "
            "devstack.cli.render")
    assert _loaded_after(code, heavy) == []


# The dashboard's weight: its own process loads it, nothing else does.
DASHBOARD = ("starlette", "uvicorn", "anyio", "devstack.ui")


def test_the_supervisor_and_the_cli_never_load_the_dashboard() -> None:
    """The supervisor (with the control server's streaming verb) and every command but `ui`
    start without Starlette or uvicorn; the dashboard itself does load them (the guard can fail)."""
    supervisor = ("import devstack.engine.app, devstack.engine.supervisor, devstack.control.server, "
                  "devstack.control.stream, devstack.engine.timeline, devstack.cli.analyze, devstack.cli.up")
    assert _loaded_after(supervisor, DASHBOARD) == []
    assert _loaded_after("import devstack.cli.main", DASHBOARD) == []
    assert _loaded_after("import devstack.ui.serve", DASHBOARD) == list(DASHBOARD)


def test_the_http_client_is_loaded_only_by_an_http_probe() -> None:
    """A stack without HTTP probes never loads h11; nothing in devstack loads httpx at all."""
    client = ("h11", "devstack.probes.http_get", "httpx", "httpcore", "anyio")
    supervisor = "import devstack.engine.app, devstack.engine.supervisor, devstack.probes.run"
    assert _loaded_after(supervisor, client) == []
    tcp_probe = (
        "import asyncio\n"
        "from devstack.probes.tcp import probe_tcp\n"
        "from devstack.config.specs import HealthSpec, ProbeKind\n"
        "asyncio.run(probe_tcp(HealthSpec(ProbeKind.TCP, '127.0.0.1:1', timeout=1)))"
    )
    assert _loaded_after(tcp_probe, client) == []
    http_probe = tcp_probe.replace("probe_tcp", "probe_http").replace("probes.tcp", "probes.http").replace(
        "ProbeKind.TCP, '127.0.0.1:1'", "ProbeKind.HTTP, 'http://127.0.0.1:1/'")
    assert _loaded_after(http_probe, client) == ["h11", "devstack.probes.http_get"]

