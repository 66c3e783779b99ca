"""Vite apps: a package.json with `vite` among its dependencies and a `dev` script.

The package manager comes from the `packageManager` field or the lockfile (the nearest folder
up that has one, for workspaces); setup is that lockfile's install command. The port comes from
`--port` in the dev script (Vite lets the command line win), else `server.port` in vite.config.*
(read by jsscan, not run), else Vite's 5173. A `server.proxy` target on this machine names a
port another service may own: wiring turns that into a dependency.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from devstack.init import jsscan
from devstack.init.model import LOCAL_HOSTS, Ambiguity, Found, Probe
from devstack.init.repo import Repo, relative_to
from devstack.init.walk import join

DEFAULT_PORT = 5173
# Vite's own order of precedence among config files.
CONFIGS = tuple(f"vite.config.{ext}" for ext in ("js", "mjs", "ts", "cjs", "mts", "cts"))
LOCKFILES = {
    "package-lock.json": "npm", "npm-shrinkwrap.json": "npm", "pnpm-lock.yaml": "pnpm",
    "yarn.lock": "yarn", "bun.lock": "bun", "bun.lockb": "bun",
}  # fmt: skip
_SCRIPT_PORT = re.compile(r"--port[= ](\d{1,5})\b")
_DIGITS = re.compile(r"(?<![\w.])(\d{2,5})(?![\w.])")


def detect(repo: Repo, folder: str) -> list[Found | Ambiguity]:
    manifest = join(folder, "package.json")
    if not repo.has(folder, "package.json"):
        return []
    pkg = repo.json(manifest)
    if pkg is None:
        return []
    deps: dict[str, Any] = {}
    for section in ("dependencies", "devDependencies"):
        if isinstance(pkg.get(section), dict):
            deps.update(pkg[section])
    if "vite" not in deps:
        return []
    scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
    dev = scripts.get("dev") if isinstance(scripts, dict) else None
    if not isinstance(dev, str) or not dev.strip():
        repo.note(f"{manifest} has vite but no dev script; not taken as a service")
        return []
    manager = _package_manager(repo, folder, pkg)
    if isinstance(manager, Ambiguity):
        return [manager]
    name, command, setup, manager_why = manager
    port = _port(repo, folder, dev)
    if isinstance(port, Ambiguity):
        return [port]
    number, port_from, proxies, port_why = port
    if port_from == "--choose":
        command += f" {'-- ' if name == 'npm' else ''}--port {number} --strictPort"
    version = str(deps["vite"])
    major = re.search(r"\d+", version)
    return [Found(
        folder=folder,
        kind=f"Vite {major.group()}" if major else "Vite",
        manifest=manifest,
        command=command,
        port=number,
        port_from=port_from,
        probe=Probe("http", f"http://localhost:{number}/"),
        setup=setup,
        evidence=(f"vite {version} and a dev script ({dev}) in package.json", manager_why, *port_why),
        calls_ports=proxies,
    )]


def _package_manager(repo: Repo, folder: str, pkg: dict[str, Any]) -> tuple[str, str, str, str] | Ambiguity:
    """(manager, dev command, setup, why) from packageManager or the nearest lockfile."""
    locks = repo.find_up(folder, list(LOCKFILES))
    by_manager: dict[str, str] = {}
    for lock in locks:
        by_manager.setdefault(LOCKFILES[lock.rsplit("/", 1)[-1]], lock)
    declared = pkg.get("packageManager")
    name: str
    if isinstance(declared, str) and declared.split("@")[0] in ("npm", "pnpm", "yarn", "bun"):
        name = declared.split("@")[0]
        why = f"packageManager is {declared} in package.json"
    elif len(by_manager) > 1:
        choice = repo.pick(folder, sorted(by_manager))
        if choice is None:
            return Ambiguity(folder, "lockfiles of more than one package manager",
                             tuple((m, by_manager[m]) for m in sorted(by_manager)),
                             edit="or delete the lockfile you do not use, or set packageManager "
                                  "in package.json")
        name, why = choice, f"{by_manager[choice]} (chosen with --choose)"
    elif by_manager:
        name = next(iter(by_manager))
        why = f"{by_manager[name]}"
    else:
        name, why = "npm", "no lockfile"
    setup = _install(repo, name, by_manager.get(name))
    return name, f"{name} run dev", setup, f"{name} ({why}), so setup is {setup}"


def _install(repo: Repo, manager: str, lock: str | None) -> str:
    """The command that installs what the lockfile pins (or resolves, without one)."""
    if lock is None:
        return f"{manager} install"
    if manager == "npm":
        return "npm ci"
    if manager == "yarn":
        # Yarn 2+ ("berry") lockfiles open with a __metadata entry and spell the flag differently.
        berry = "__metadata:" in repo.head(lock)
        return "yarn install --immutable" if berry else "yarn install --frozen-lockfile"
    return f"{manager} install --frozen-lockfile"


Ports = tuple[tuple[int, str], ...]  # (port, where it was found)


def _port(repo: Repo, folder: str, dev: str) -> tuple[int, str, Ports, list[str]] | Ambiguity:
    """(port, where from, proxy targets, evidence lines)."""
    config = next((join(folder, c) for c in CONFIGS if repo.has(folder, c)), None)
    ports: list[tuple[int, str]] = []
    proxies: list[tuple[int, str]] = []
    why: list[str] = []
    text = repo.read(config) if config else None
    shown = relative_to(folder, config) if config else ""
    if text is not None:
        source = jsscan.scan(text)
        for span in jsscan.objects(source, "server"):
            entries = jsscan.entries(source, span)
            if "port" in entries:
                ports += [(p, f"{shown} server.port") for p in _numbers(entries["port"])]
            for proxy in jsscan.objects(source, "proxy", within=span):
                proxies += _proxy_targets(source, proxy, shown)
    chosen = repo.chosen_port(folder)
    script = _SCRIPT_PORT.search(dev)
    if chosen is not None:
        return chosen, "--choose", tuple(proxies), [f"port {chosen} chosen with --choose"]
    if script:
        number = int(script.group(1))
        if ports:
            why.append(f"the dev script's --port wins over {ports[0][1]} ({ports[0][0]})")
        return number, "the dev script (--port)", tuple(proxies), why
    distinct = sorted({p for p, _ in ports})
    if len(distinct) > 1:
        return Ambiguity(folder, "more than one server.port", tuple((str(p), w) for p, w in ports),
                         edit=f"or make server.port in {shown} one number")
    if distinct:
        return distinct[0], shown, tuple(proxies), why
    return DEFAULT_PORT, "Vite's default", tuple(proxies), why


def _numbers(expression: str) -> list[int]:
    """The port numbers in a server.port expression (`5173`, `Number(process.env.PORT) || 3000`);
    10 is parseInt's radix, not a port."""
    return [int(n) for n in _DIGITS.findall(expression) if 0 < int(n) < 65536 and int(n) != 10]


def _proxy_targets(source: jsscan.Source, span: tuple[int, int], shown: str) -> list[tuple[int, str]]:
    found = []
    for path, value in jsscan.entries(source, span).items():
        for literal in jsscan.strings(value):
            try:
                parts = urlsplit(literal)
                port = parts.port
            except ValueError:
                continue
            host = (parts.hostname or "").lower()
            if parts.scheme in ("http", "https", "ws", "wss") and host in LOCAL_HOSTS and port:
                found.append((port, f"server.proxy '{path}' in {shown} targets {literal}"))
    return found
