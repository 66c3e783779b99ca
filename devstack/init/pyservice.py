"""What the Python detectors share once they have found their app: the one app to run (or the
question which), its port (or the question which), the probe, and the Found itself.
"""

from __future__ import annotations

from devstack.init import pyproject_info
from devstack.init.model import Ambiguity, Found, Probe
from devstack.init.pyapps import PyApp
from devstack.init.pyproject_info import PythonProject
from devstack.init.repo import Repo

HEALTH_PATHS = ("/health", "/healthz", "/")  # preferred in this order among the app's GET routes


def one_app(repo: Repo, folder: str, apps: list[PyApp], what: str) -> PyApp | Ambiguity:
    if len(apps) == 1:
        return apps[0]
    picked = repo.pick(folder, [app.target for app in apps])
    if picked is not None:
        return next(app for app in apps if app.target == picked)
    return Ambiguity(folder, f"more than one {what} app",
                     tuple((app.target, f"{app.var} = {what}(...) in {app.file}") for app in apps))


def one_port(repo: Repo, folder: str, found: list[tuple[int, str]], default: int,
             default_from: str) -> tuple[int, str] | Ambiguity:
    chosen = repo.chosen_port(folder)
    if chosen is not None:
        return chosen, "--choose"
    distinct = sorted({port for port, _ in found})
    if len(distinct) > 1:
        return Ambiguity(folder, "more than one port", tuple((str(p), where) for p, where in found),
                         edit="or make the run() calls and documented commands agree")
    if distinct:
        return found[0]
    return default, default_from


def http_probe(app: PyApp, port: int, fallback_openapi: bool) -> tuple[Probe, str]:
    for path in HEALTH_PATHS:
        if path in app.routes:
            return Probe("http", f"http://localhost:{port}{path}"), f"probe {path}: a GET route of the app"
    if fallback_openapi and app.openapi:
        return (Probe("http", f"http://localhost:{port}/openapi.json"),
                "probe /openapi.json: the app declares no / or /health route")
    return Probe("tcp", f"127.0.0.1:{port}"), "probe TCP: the app declares no / or /health route"


def found(project: PythonProject, manifest: str, kind: str, app: PyApp | None, command: str,
          port: tuple[int, str], probe: tuple[Probe, str], extra: tuple[str, ...] = ()) -> Found:
    setup, venv, why = pyproject_info.setup(project, extra)
    what: list[str] = []
    if app is not None:
        made = f"a factory returning {kind}(...)" if app.factory else f"`{app.var} = {kind}(...)`"
        what.append(f"{app.target} from {made} in {app.file}")
    return Found(
        folder=project.folder,
        kind=kind,
        manifest=manifest,
        command=command,
        port=port[0],
        port_from=port[1],
        probe=probe[0],
        setup=setup,
        venv=venv,
        env_file=project.env_file,
        evidence=(*what, probe[1], *why),
    )
