"""Django projects, where simple: a manage.py beside requirements naming `django`. Runs
`python manage.py runserver N` in its venv; probes TCP (a Django site's / is often a 404).
"""

from __future__ import annotations

from devstack.init import pyproject_info, pyservice
from devstack.init.model import Ambiguity, Found, Probe
from devstack.init.repo import Repo

DEFAULT_PORT = 8000  # runserver's


def detect(repo: Repo, folder: str) -> list[Found | Ambiguity]:
    if not repo.has(folder, "manage.py"):
        return []
    project = pyproject_info.read(repo, folder)
    manifest = project.names("django") if project else None
    if project is None or manifest is None:
        return []
    port = pyservice.one_port(repo, folder, [], DEFAULT_PORT, "runserver's default")
    if isinstance(port, Ambiguity):
        return [port]
    probe = (Probe("tcp", f"127.0.0.1:{port[0]}"), "probe TCP: a Django site's / may well be a 404")
    return [pyservice.found(project, manifest, "Django", None, f"python manage.py runserver {port[0]}",
                            port, probe)]
