"""Spring Boot apps: a Maven or Gradle build naming org.springframework.boot, with a
@SpringBootApplication class in its sources.

The port is server.port from its configuration (spring_config), else 8080. The probe is the
actuator's health endpoint when the actuator is a dependency (and its health endpoint is
exposed), else the app's own health controller when one is obvious (the shortest @GetMapping path
containing "health", found by regex in src/main: no parameters, class-level @RequestMapping
prefixes followed), else TCP. A cold JVM under Maven or Gradle takes a while: a long
start_period. spring.datasource.url is the database it depends on.
"""

from __future__ import annotations

import re

from devstack.init import spring_build, spring_config
from devstack.init.dburls import from_jdbc, resolve_placeholders
from devstack.init.model import Ambiguity, DbUrl, Found, Probe
from devstack.init.repo import Repo, relative_to
from devstack.init.spring_config import SpringConfig
from devstack.init.walk import join

DEFAULT_PORT = 8080
START_PERIOD = "180s"  # Maven or Gradle, then a JVM compiling Spring's classes cold, on a small laptop
SOURCE_SUFFIXES = (".java", ".kt")
_CLASS_MAPPING = re.compile(r"@RequestMapping\s*\(\s*(?:(?:value|path)\s*=\s*)?[\[{]?\s*\"([^\"]*)\"")
_GET_MAPPING = re.compile(r"@GetMapping\b(?:\s*\(\s*(?:(?:value|path)\s*=\s*)?[\[{]?\s*\"([^\"]*)\")?")
_CLASS = re.compile(r"\bclass\s+\w+")


def detect(repo: Repo, folder: str) -> list[Found | Ambiguity]:
    build = spring_build.read(repo, folder)
    if build is None:
        return []
    sources = [rel for rel in repo.below(join(folder, "src/main"), SOURCE_SUFFIXES)]
    texts = {rel: text for rel in sources if (text := repo.read(rel)) is not None}
    if not any("@SpringBootApplication" in text for text in texts.values()):
        repo.note(f"{build.manifest} names {spring_build.BOOT_GROUP} but no @SpringBootApplication class "
                  "is in its src/main: a library, not taken as a service")
        return []
    config = spring_config.read(repo, folder)
    port = _port(repo, folder, config)
    if isinstance(port, Ambiguity):
        return [port]
    number, port_from, port_why = port
    command, setup, runner_why = spring_build.runner(repo, folder, build)
    probe, probe_why = _probe(config, build, number, texts)
    databases, db_why = _database(repo, folder, config)
    env: tuple[tuple[str, str], ...] = ()
    if port_from == "--choose":
        env = (("SERVER_PORT", str(number)),)  # beats every application.* file
    major = build.boot_version.split(".")[0] if build.boot_version else ""
    wants = None
    if build.postgres_driver and not databases and not db_why:
        wants = "the PostgreSQL driver is a dependency but no spring.datasource.url is set"
    return [Found(
        folder=folder,
        kind=f"Spring Boot {major}".strip(),
        manifest=build.manifest,
        command=command,
        port=number,
        port_from=port_from,
        probe=probe,
        setup=setup,
        env=env,
        evidence=(f"{build.tool}: {runner_why}", *port_why, probe_why, *db_why),
        databases=databases,
        wants_database=wants,
    )]


def _port(repo: Repo, folder: str, config: SpringConfig) -> tuple[int, str, list[str]] | Ambiguity:
    chosen = repo.chosen_port(folder)
    if chosen is not None:
        return chosen, "--choose", [f"port {chosen} chosen with --choose (SERVER_PORT)"]
    values = config.all_of("server.port")
    if not values:
        return DEFAULT_PORT, "Spring Boot's default", []
    # Profile files are meant to override the base: a clash only within one level is a question.
    top = [v for v in values if v[1].profile is not None] or values
    readings = [(_port_number(raw), raw, layer.file) for raw, layer in top]
    distinct = sorted({n for n, _, _ in readings if n is not None})
    if distinct == [0]:  # Spring picks a free port at each start: nothing to probe or depend on
        return Ambiguity(folder, "server.port is 0 (a random port at each start)",
                         tuple(("0", f"{f}: server.port={raw}") for _, raw, f in readings),
                         flag="PORT (a fixed port for it)", edit="or set a fixed server.port")
    if len(distinct) > 1:
        return Ambiguity(folder, "more than one server.port",
                         tuple((str(n if n is not None else raw), f"{f}: server.port={raw}")
                               for n, raw, f in readings),
                         edit="or keep one fixed server.port in the application.* files")
    number, raw, file = readings[-1]
    shown = relative_to(folder, file).rsplit("/", 1)[-1]
    why = [f"server.port={raw} in {file}"]
    if number is None:
        return DEFAULT_PORT, f"Spring Boot's default ({shown} takes it from {raw})", why
    if raw.strip() != str(number):
        shown += f" (the default of {raw})"
    return number, shown, why


def _port_number(raw: str) -> int | None:
    resolved = resolve_placeholders(raw)
    return int(resolved) if resolved is not None and resolved.strip().isdigit() else None


def _probe(config: SpringConfig, build: spring_build.Build, port: int,
           texts: dict[str, str]) -> tuple[Probe, str]:
    context = (config.get("server.servlet.context-path") or ("", ""))[0].rstrip("/")
    if build.actuator and _health_exposed(config):
        base = (config.get("management.endpoints.web.base-path") or ("/actuator", ""))[0].rstrip("/")
        manage = _port_number((config.get("management.server.port") or ("", ""))[0])
        prefix = context if manage in (None, port) else ""
        url = f"http://localhost:{manage or port}{prefix}{base}/health"
        why = f"probe {base}/health: spring-boot-starter-actuator is a dependency"
        return Probe("http", url, START_PERIOD), why
    paths = sorted(_health_paths(texts), key=lambda p: (len(p[0]), p))
    if paths and (len(paths) == 1 or len(paths[0][0]) < len(paths[1][0])):
        path, where = paths[0]
        return (Probe("http", f"http://localhost:{port}{context}{path}", START_PERIOD),
                f"probe {path}: @GetMapping in {where}")
    why = "probe TCP: no actuator and no obvious health endpoint"
    return Probe("tcp", f"127.0.0.1:{port}", START_PERIOD), why


def _health_exposed(config: SpringConfig) -> bool:
    include = (config.get("management.endpoints.web.exposure.include") or ("health", ""))[0]
    exclude = (config.get("management.endpoints.web.exposure.exclude") or ("", ""))[0]
    included = {p.strip() for p in include.split(",")}
    return bool(included & {"health", "*"}) and "health" not in {p.strip() for p in exclude.split(",")}


def _health_paths(texts: dict[str, str]) -> list[tuple[str, str]]:
    """(path, file) of each parameterless GET mapping whose path contains "health"."""
    found = []
    for rel, text in texts.items():
        if "health" not in text.lower() or "GetMapping" not in text:
            continue
        declared = _CLASS.search(text)
        cut = declared.start() if declared else 0
        prefix_match = _CLASS_MAPPING.search(text, 0, cut) if cut else None
        prefix = prefix_match.group(1) if prefix_match else ""
        for match in _GET_MAPPING.finditer(text, cut):
            path = "/" + "/".join(p for p in f"{prefix}/{match.group(1) or ''}".split("/") if p)
            if "health" in path.lower() and "{" not in path:
                found.append((path, rel))
    return found


def _database(repo: Repo, folder: str, config: SpringConfig) -> tuple[tuple[DbUrl, ...], list[str]]:
    url = config.get("spring.datasource.url")
    if url is None:
        return (), []
    raw, file = url
    resolved = resolve_placeholders(raw)
    if resolved is None:
        return (), [f"spring.datasource.url is {raw} in {file}: set from outside, not read"]
    user = resolve_placeholders((config.get("spring.datasource.username") or ("", ""))[0]) or None
    password = resolve_placeholders((config.get("spring.datasource.password") or ("", ""))[0])
    found = from_jdbc(resolved, user, password or None, f"spring.datasource.url in {file}")
    if found is None:
        return (), [f"spring.datasource.url in {file} is not PostgreSQL"]
    return (found,), []
