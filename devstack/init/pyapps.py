"""Python web apps found by parsing the project's modules with `ast`, never by a substring guess:
a module-level `NAME = FastAPI(...)` (or Flask), a factory function that returns one (uvicorn's
--factory), or `app = create_app()` calling such a factory in the same module; the GET routes the
app declares with a literal path; and the port a `uvicorn.run(...)` / `app.run(...)` call or a
documented command line (README, Procfile, Makefile, scripts, the module's docstring) gives.

Test code (tests/, test_*.py, conftest.py) and folders that are projects of their own are not
searched. Routes added through routers, mounts or add_api_route are not seen.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from devstack.init.repo import Repo, relative_to
from devstack.init.walk import join

PROJECT_FILES = ("requirements.txt", "pyproject.toml", "package.json", "pom.xml", "manage.py")
DOC_FILES = ("Procfile", "Makefile")
DOC_SUFFIXES = (".md", ".rst", ".sh", ".txt")


@dataclass(frozen=True)
class PyApp:
    module: str  # dotted, importable from app_dir
    var: str  # the app variable, or the factory function
    file: str  # relative to the root
    factory: bool
    app_dir: str | None  # uvicorn's --app-dir, relative to the project (a src/ layout)
    routes: tuple[str, ...]  # GET paths without parameters
    openapi: bool  # False when the app turns its OpenAPI document off
    ports: tuple[tuple[int, str], ...]  # (port, where) from run(...) calls in the module
    docstring: str

    @property
    def target(self) -> str:
        return f"{self.module}:{self.var}"


def _is_test(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (any(p in ("tests", "test") for p in parts[:-1]) or name.startswith("test_")
            or name.endswith("_test.py") or name == "conftest.py")


def _own_project(repo: Repo, project: str, rel: str) -> bool:
    """True when `rel` lies in a folder below `project` that is a project of its own."""
    folder = rel.rsplit("/", 1)[0] if "/" in rel else "."
    while folder != project and folder not in (".", ""):
        if any(repo.has(folder, name) for name in PROJECT_FILES) or any(
                n.startswith("requirements") and n.endswith(".txt") for n in repo.files(folder)):
            return True
        folder = folder.rsplit("/", 1)[0] if "/" in folder else "."
    return False


def find(repo: Repo, project: str, cls: str, route_methods: tuple[str, ...]) -> list[PyApp]:
    """Every app of class `cls` (FastAPI, Flask) created in the project's modules."""
    apps: list[PyApp] = []
    for rel in repo.below(project, (".py",)):
        if _is_test(relative_to(project, rel)) or _own_project(repo, project, rel):
            continue
        text = repo.read(rel)
        if text is None or f"{cls}(" not in text:
            continue
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError as exc:
            repo.note(f"{rel} does not parse as Python (line {exc.lineno}: {exc.msg}); skipped it")
            continue
        module, app_dir = _module(relative_to(project, rel))
        if module is None:
            repo.note(f"{rel}: its path is not an importable module name; skipped it")
            continue
        for var, factory, local, call in _apps_in(tree, cls):
            apps.append(PyApp(
                module=module, var=var, file=rel, factory=factory, app_dir=app_dir,
                routes=tuple(sorted(set(_routes(tree, local, route_methods)))),
                openapi=not _keyword_is_none(call, "openapi_url"),
                ports=tuple(_run_ports(tree, var, rel)),
                docstring=ast.get_docstring(tree) or "",
            ))
    return apps


def _module(path: str) -> tuple[str | None, str | None]:
    """(dotted module, --app-dir) for a file path relative to the project."""
    parts = path.removesuffix(".py").split("/")
    app_dir = None
    if parts[0] == "src" and len(parts) > 1:
        parts, app_dir = parts[1:], "src"
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None, None
    return ".".join(parts), app_dir


def _creates(node: ast.AST | None, cls: str) -> ast.Call | None:
    if isinstance(node, ast.Call):
        func = node.func
        named = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if named == cls:
            return node
    return None


def _assigned(stmt: ast.stmt) -> tuple[str, ast.expr | None] | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None


def _factory(func: ast.FunctionDef | ast.AsyncFunctionDef, cls: str) -> tuple[str, ast.Call] | None:
    """(the local variable holding the app, the constructor call) when `func` returns a new app."""
    made: dict[str, ast.Call] = {}
    for stmt in ast.walk(func):
        if isinstance(stmt, ast.stmt) and (pair := _assigned(stmt)) and (call := _creates(pair[1], cls)):
            made[pair[0]] = call
        if isinstance(stmt, ast.Return):
            if (call := _creates(stmt.value, cls)) is not None:
                return "", call
            if isinstance(stmt.value, ast.Name) and stmt.value.id in made:
                return stmt.value.id, made[stmt.value.id]
    return None


def _apps_in(tree: ast.Module, cls: str) -> list[tuple[str, bool, str, ast.Call]]:
    """(name, is a factory, the variable routes are declared on, constructor call) per app."""
    direct: list[tuple[str, bool, str, ast.Call]] = []
    factories: dict[str, tuple[str, ast.Call]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and (made := _factory(stmt, cls)):
            factories[stmt.name] = made
    for stmt in tree.body:
        pair = _assigned(stmt)
        if pair is None:
            continue
        name, value = pair
        if (call := _creates(value, cls)) is not None:
            direct.append((name, False, name, call))
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in factories:
            local, call = factories[value.func.id]
            direct.append((name, False, local, call))
    if direct:
        return direct
    return [(name, True, local, call) for name, (local, call) in sorted(factories.items())]


def _keyword_is_none(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is None
               for k in call.keywords)


def _routes(tree: ast.Module, var: str, methods: tuple[str, ...]) -> list[str]:
    """GET paths declared with `@var.get("/path")` (or route/api_route allowing GET), without
    parameters ({id} or <id>)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and isinstance(deco.func.value, ast.Name) and deco.func.value.id == var
                    and deco.func.attr in methods and deco.args):
                continue
            path = deco.args[0]
            if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
                continue
            if deco.func.attr != "get" and not _allows_get(deco):
                continue
            if "{" not in path.value and "<" not in path.value:
                found.append(path.value)
    return found


def _allows_get(deco: ast.Call) -> bool:
    for keyword in deco.keywords:
        if keyword.arg == "methods" and isinstance(keyword.value, ast.List | ast.Tuple | ast.Set):
            return any(isinstance(e, ast.Constant) and str(e.value).upper() == "GET"
                       for e in keyword.value.elts)
    return True  # route() and api_route() answer GET unless told otherwise


def _run_ports(tree: ast.Module, var: str, rel: str) -> list[tuple[int, str]]:
    """Ports from `uvicorn.run(..., port=N)` or `VAR.run(port=N)` calls anywhere in the module."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "run" and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("uvicorn", var)):
            continue
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "port" and isinstance(value, ast.Constant) and isinstance(value.value, int):
                found.append((value.value, f"{node.func.value.id}.run() in {rel.rsplit('/', 1)[-1]}"))
    return found


def documented_ports(repo: Repo, project: str, app: PyApp, program: str) -> list[tuple[int, str]]:
    """Ports given to this app on a `PROGRAM … MODULE:VAR … --port N` command line in the project's
    README, Procfile, Makefile or scripts, or in its module's docstring."""
    target = re.escape(app.target)
    pattern = re.compile(rf"\b{program}\b[^\n]*?(?<![\w.]){target}\b[^\n]*?--port[= ](\d{{1,5}})\b")
    found = []
    texts = [(f"{app.file.rsplit('/', 1)[-1]}'s docstring", app.docstring)]
    for name in repo.files(project):
        if name in DOC_FILES or (name.endswith(DOC_SUFFIXES) and not name.startswith("requirements")):
            texts.append((name, repo.read(join(project, name)) or ""))
    for where, text in texts:
        found += [(int(m.group(1)), f"the {program} command in {where}") for m in pattern.finditer(text)]
    return found
