"""From found services to the stack: names from folder names (valid, unique), each port owned by
one service, `depends_on` from the ports and databases a service's config names, the Spring
datasource of an app that has the driver but no URL, and an order to write them in.
"""

from __future__ import annotations

import re
from collections import defaultdict

from devstack.init.model import Ambiguity, DbUrl, Found, Service

_INVALID = re.compile(r"[^a-z0-9_-]+")
_ROLE = {"Vite": "web"}  # the suffix that tells two services of one folder apart; others "api"


def name_of(folder: str, root_name: str) -> str:
    """A service name from a folder name: lower case, letters, digits, "_" and "-" only."""
    base = root_name if folder == "." else folder.rsplit("/", 1)[-1]
    name = _INVALID.sub("-", base.lower()).strip("-_")
    return name or "app"


def _role(found: Found) -> str:
    return _ROLE.get(found.kind.split()[0], "api")


def names(found: list[Found], root_name: str) -> list[str]:
    """A unique name per service, in the order of `found`. Fixed names (postgres) come first;
    a clash is settled by the role (two services of one folder), then the parent folder's name,
    then a number."""
    wanted = [f.name or name_of(f.folder, root_name) for f in found]
    taken = {n for f, n in zip(found, wanted, strict=True) if f.name}
    result: list[str] = []
    counts: dict[str, int] = defaultdict(int)
    for n in wanted:
        counts[n] += 1
    for f, base in zip(found, wanted, strict=True):
        name = base
        if not f.name and (counts[base] > 1 or base in taken):
            same_folder = sum(1 for g in found if g.folder == f.folder and not g.name) > 1
            if same_folder:
                name = f"{base}-{_role(f)}"
            elif f.folder not in (".",) and "/" in f.folder:
                name = f"{name_of(f.folder.rsplit('/', 1)[0], root_name)}-{base}"
        candidate, number = name, 2
        while candidate in result or (candidate in taken and not f.name):
            candidate, number = f"{name}-{number}", number + 1
        result.append(candidate)
    return result


def port_clashes(services: list[Service]) -> list[Ambiguity]:
    owners: dict[int, Service] = {}
    questions = []
    for service in services:
        first = owners.setdefault(service.found.port, service)
        if first is not service:
            questions.append(Ambiguity(
                service.found.folder, f"port {service.found.port} is also {first.name}'s",
                ((first.name, f"port {first.found.port} from {first.found.port_from}"),
                 (service.name, f"port {service.found.port} from {service.found.port_from}")),
                flag="PORT (another port for this one)", edit="or change the port in one app's config"))
    return questions


def wire(services: list[Service], urls: list[DbUrl], notes: list[str]) -> None:
    """Fill in depends_on (and the Spring datasource where it is missing), in place."""
    by_port = {s.found.port: s for s in services}
    for service in services:
        for port, why in service.found.calls_ports:
            target = by_port.get(port)
            if target is None:
                notes.append(f"{service.name}: {why}, but no service found here uses port {port}")
            elif target is not service:
                _depend(service, target, why, services, notes)
        for url in service.found.databases:
            target = by_port.get(url.port)
            if url.local and target is not None and target is not service:
                _depend(service, target, f"{url.source} names {url.shown()}", services, notes)
        if service.found.wants_database:
            _datasource(service, services, urls, notes)


def _reaches(start: Service, goal: str, services: list[Service]) -> bool:
    by_name = {s.name: s for s in services}
    pending, seen = [start.name], set()
    while pending:
        name = pending.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            pending += by_name[name].depends_on
    return False


def _depend(service: Service, target: Service, why: str, services: list[Service], notes: list[str]) -> None:
    if target.name in service.depends_on:
        return
    if _reaches(target, service.name, services):
        notes.append(f"{service.name}: {why}, but {target.name} already depends on it; not made a dependency")
        return
    service.depends_on.append(target.name)
    service.evidence.append(f"depends on {target.name}: {why}")


def _datasource(service: Service, services: list[Service], urls: list[DbUrl], notes: list[str]) -> None:
    """Point SPRING_DATASOURCE_* at the one database the stack has (Spring reads them as
    spring.datasource.url/username/password)."""
    candidates = sorted({(u.port, u.database or u.user or "postgres", u.user or "postgres", u.password or "")
                         for u in urls if u.local})
    if len(candidates) != 1:
        found = "no database" if not candidates else f"{len(candidates)} databases"
        notes.append(f"{service.name}: {service.found.wants_database}, and {found} found here; "
                     "set spring.datasource.url")
        return
    port, database, user, password = candidates[0]
    target = next(s for s in services if s.found.port == port)
    source = next(u.source for u in urls if u.local and u.port == port)
    service.env += [("SPRING_DATASOURCE_URL", f"jdbc:postgresql://localhost:{port}/{database}"),
                    ("SPRING_DATASOURCE_USERNAME", user)]
    if password:
        service.env.append(("SPRING_DATASOURCE_PASSWORD", password))
    service.evidence.append(f"{service.found.wants_database}: SPRING_DATASOURCE_* point at "
                            f"{target.name}'s {database} (from {source})")
    _depend(service, target, f"its datasource is {target.name}", services, notes)


def order(services: list[Service]) -> list[Service]:
    """Each service after its dependencies, otherwise by name (the same repository gives the same
    file)."""
    by_name = {s.name: s for s in services}
    done: list[Service] = []

    def visit(service: Service) -> None:
        if service in done:
            return
        for dep in sorted(service.depends_on):
            visit(by_name[dep])
        done.append(service)

    for service in sorted(services, key=lambda s: s.name):
        visit(service)
    return done
