"""Flask apps, where simple: `flask` in the requirements and a module that creates `Flask(...)`.
Runs `flask --app MODULE:VAR run --port N`; probes a declared / or /health route, else TCP.
"""

from __future__ import annotations

from devstack.init import pyapps, pyproject_info, pyservice
from devstack.init.model import Ambiguity, Found
from devstack.init.repo import Repo

DEFAULT_PORT = 5000  # flask run's


def detect(repo: Repo, folder: str) -> list[Found | Ambiguity]:
    project = pyproject_info.read(repo, folder)
    manifest = project.names("flask") if project else None
    if project is None or manifest is None or project.names("fastapi"):
        return []
    apps = pyapps.find(repo, folder, "Flask", ("get", "route"))
    if not apps:
        return []
    app = pyservice.one_app(repo, folder, apps, "Flask")
    if isinstance(app, Ambiguity):
        return [app]
    documented = pyapps.documented_ports(repo, folder, app, "flask")
    port = pyservice.one_port(repo, folder, [*app.ports, *documented], DEFAULT_PORT, "flask's default")
    if isinstance(port, Ambiguity):
        return [port]
    target = f"{app.target}()" if app.factory else app.target
    app_dir = f"{app.app_dir}/" if app.app_dir else ""
    command = f"flask --app {app_dir}{target} run --port {port[0]}"
    return [pyservice.found(project, manifest, "Flask", app, command, port,
                            pyservice.http_probe(app, port[0], fallback_openapi=False))]
