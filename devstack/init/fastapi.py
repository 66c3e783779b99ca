"""FastAPI apps: `fastapi` in requirements*.txt or pyproject.toml, and a module that creates the
app (pyapps). Runs `uvicorn MODULE:VAR --port N` in the project folder with its venv and `.env`;
probes /health, /healthz or / when the app declares one, else /openapi.json.
"""

from __future__ import annotations

from devstack.init import pyapps, pyproject_info, pyservice
from devstack.init.model import Ambiguity, Found
from devstack.init.repo import Repo

DEFAULT_PORT = 8000  # uvicorn's


def detect(repo: Repo, folder: str) -> list[Found | Ambiguity]:
    project = pyproject_info.read(repo, folder)
    manifest = project.names("fastapi") if project else None
    if project is None or manifest is None:
        return []
    apps = pyapps.find(repo, folder, "FastAPI", ("get", "api_route"))
    if not apps:
        repo.note(f"{manifest} names fastapi but no module in {folder} creates FastAPI(...); "
                  "not taken as a service")
        return []
    app = pyservice.one_app(repo, folder, apps, "FastAPI")
    if isinstance(app, Ambiguity):
        return [app]
    ports = [*app.ports, *pyapps.documented_ports(repo, folder, app, "uvicorn")]
    port = pyservice.one_port(repo, folder, ports, DEFAULT_PORT, "uvicorn's default")
    if isinstance(port, Ambiguity):
        return [port]
    command = f"uvicorn {app.target} --port {port[0]}"
    command += " --factory" if app.factory else ""
    command += f" --app-dir {app.app_dir}" if app.app_dir else ""
    # fastapi alone does not bring a server; fastapi[standard] does, and naming it again is harmless
    extra = () if "uvicorn" in project.packages else ("uvicorn",)
    return [pyservice.found(project, manifest, "FastAPI", app, command, port,
                            pyservice.http_probe(app, port[0], fallback_openapi=True), extra)]
