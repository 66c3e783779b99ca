"""Why a service died, in one line, from the known fatal signatures of its own output.

This module owns the first failure reason of SPEC.md ("Pre-flight checks", the list
under it): when a service's process exits or its probe fails, the supervisor hands
`diagnose` the service's last output lines (stdout and stderr in arrival order) and
gets back one line that says what went wrong and the command or setting that fixes it,
or None when nothing known matched (the caller then falls back to the last meaningful
line or the probe's error).

The knowledge lives in one table, `SIGNATURES`: a regular expression for the one line a
tool prints when it gives up, and a function that turns the match into the explanation.
The explanation of the LAST matching line wins, because the final words of a process
are what killed it (a uvicorn that failed to import its app may have logged a port
clash in a previous attempt). To add a signature: capture the tool's real output under
tests/unit/captured/, add a row here (specific rows before the generic ones: for one
line, the first row in table order that matches is used), and a case in
tests/unit/test_signatures.py.

Explanations show paths relative to the stack folder (what `cwd`/`venv` in stack.toml
take), name the holder of a port through the injected `Context.port_holder` (so unit
tests need no real port), and only look at the file system for uvicorn's "Could not
import module" and Python's missing modules (where is main.py, is the missing module
this stack's own code), with bounded walks.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from devstack.env.venv import venv_bin_dir

MAX_CHARS: Final = 300


@dataclass(frozen=True)
class Context:
    """What the supervisor knows about the failed service."""

    name: str
    cwd: Path  # absolute
    root: Path  # the stack folder: paths in explanations are shown relative to it
    venv: Path | None  # the service's venv, if any (absolute)
    port: int | None
    # "pid 123 (python x.py)" or None; injected so that tests need no real port.
    port_holder: Callable[[int], str | None]


Explain = Callable[[re.Match[str], Context, list[str]], str]


@dataclass(frozen=True)
class Signature:
    """One known fatal line: `explain(match, ctx, lines)` turns it into the reason.

    `lines` is the whole (cleaned) window the match came from, for signatures whose
    fix is on a neighbouring line (Postgres' HINT/DETAIL, Vite's "Local:" URL, Spring's
    "Description:" block); `_index` finds the matched line in it.
    """

    name: str
    pattern: re.Pattern[str]
    explain: Explain


# --- helpers --------------------------------------------------------------------------

# CSI (colours, cursor moves), OSC (titles, hyperlinks) and two-byte escapes: Vite,
# npm and Spring colour their output when FORCE_COLOR is set, which devstack does for
# children when the terminal has colour (SPEC "Logs").
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _clean(line: str) -> str:
    # A progress bar redraws with "\r": the terminal shows only what follows the last one.
    line = line.rstrip("\r\n").split("\r")[-1]
    return _ANSI.sub("", line).rstrip()


def _one_line(text: str) -> str:
    """The status `error` is one line of at most MAX_CHARS characters."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _rel(path: Path | str, root: Path) -> str:
    """A path as stack.toml would spell it: relative to the stack folder when inside it."""
    # Tools may print the resolved path (/private/tmp on macOS) of a symlinked root.
    for base in (root, root.resolve()):
        try:
            return str(Path(path).relative_to(base))  # "." for the stack folder itself
        except ValueError:
            continue
    return str(path)


def _place(path: Path, root: Path) -> str:
    """A folder as a sentence names it ("in apps/web", "in the stack folder")."""
    rel = _rel(path, root)
    return "the stack folder" if rel == "." else rel


def _index(match: re.Match[str], lines: list[str]) -> int:
    # diagnose() picks the last line that matches; any later line with the same text
    # would have matched too, so the matched line is the last one equal to it.
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == match.string:
            return i
    return len(lines)


def _holder(port: int, ctx: Context) -> str:
    return ctx.port_holder(port) or "another process"


def _int(text: str | None) -> int | None:
    return int(text) if text else None


# Folders never searched for a service's code: they hold other people's code (venvs,
# node_modules, site-packages) or tool state, and can be huge.
_SKIP_DIRS: Final = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        "site-packages",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".devstack",
        ".idea",
        ".vscode",
        ".gradle",
        ".next",
        "target",
    }
)
# A bound on folders visited per walk, so a diagnosis stays instant in a monorepo.
_MAX_FOLDERS: Final = 4000


def _walk(top: Path, depth: int) -> Iterator[Path]:
    """`top` and the folders at most `depth` levels below it, nearest first.

    Breadth-first, so the first hit is the nearest; unreadable folders are passed over.
    """
    queue: deque[tuple[Path, int]] = deque([(top, 0)])
    visited = 0
    while queue and visited < _MAX_FOLDERS:
        folder, level = queue.popleft()
        visited += 1
        yield folder
        if level >= depth:
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            # A venv may have any name: pyvenv.cfg is what marks it.
            if (
                is_dir
                and entry.name not in _SKIP_DIRS
                and not os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
            ):
                queue.append((Path(entry.path), level + 1))


def _is_module(base: Path) -> bool:
    """`base` names an importable module: base.py, a package, or a namespace package."""
    if base.with_name(base.name + ".py").is_file():
        return True
    try:
        # A folder without __init__.py imports too (namespace package, common in FastAPI
        # layouts: app/main.py); it counts when it holds Python files, so that a "jwt"
        # folder of a frontend is not taken for Python code.
        return base.is_dir() and any(child.suffix == ".py" for child in base.iterdir())
    except OSError:
        return False


def _module_homes(ctx: Context, module: str) -> list[Path]:
    """Folders from which `import module` would work: the cwd subtree first, then the stack's."""
    parts = module.split(".")
    homes: list[Path] = []
    for top, depth in ((ctx.cwd, 3), (ctx.root, 4)):
        for folder in _walk(top, depth):
            if folder not in homes and _is_module(folder.joinpath(*parts)):
                homes.append(folder)
    return homes


# --- Python ---------------------------------------------------------------------------

# Import name -> the distribution to pip install, where they differ. The module is not
# installed, so importlib.metadata.packages_distributions() cannot tell; these are the
# ones people hit. pip treats "-", "_" and "." alike and ignores case, so names that
# only differ in that way need no entry.
IMPORT_TO_DISTRIBUTION: Final = MappingProxyType(
    {
        "jwt": "pyjwt",
        "yaml": "pyyaml",
        "cv2": "opencv-python",
        "PIL": "pillow",
        "sklearn": "scikit-learn",
        "skimage": "scikit-image",
        "dotenv": "python-dotenv",
        "psycopg2": "psycopg2-binary",
        "bs4": "beautifulsoup4",
        "dateutil": "python-dateutil",
        "jose": "python-jose",
        "multipart": "python-multipart",
        "magic": "python-magic",
        "docx": "python-docx",
        "pptx": "python-pptx",
        "slugify": "python-slugify",
        "socketio": "python-socketio",
        "engineio": "python-engineio",
        "telegram": "python-telegram-bot",
        "ldap": "python-ldap",
        "Crypto": "pycryptodome",
        "Cryptodome": "pycryptodomex",
        "OpenSSL": "pyopenssl",
        "nacl": "pynacl",
        "MySQLdb": "mysqlclient",
        "serial": "pyserial",
        "usb": "pyusb",
        "zmq": "pyzmq",
        "git": "gitpython",
        "github": "pygithub",
        "dns": "dnspython",
        "attr": "attrs",
        "fitz": "pymupdf",
        "gi": "pygobject",
        "wx": "wxpython",
        "win32api": "pywin32",
        "win32con": "pywin32",
        "kafka": "kafka-python",
        "memcache": "python-memcached",
        "Levenshtein": "levenshtein",
        "faiss": "faiss-cpu",
        "discord": "discord.py",
        "pkg_resources": "setuptools",
        "google.protobuf": "protobuf",
        "grpc": "grpcio",
        "websocket": "websocket-client",
        "snappy": "python-snappy",
        "consul": "python-consul",
        "ruamel": "ruamel.yaml",
    }
)


def _distribution(module: str) -> str:
    # "google.protobuf" is the one dotted entry: "google" alone is shared by many
    # distributions and names none of them.
    for name in (module, module.split(".")[0]):
        if name in IMPORT_TO_DISTRIBUTION:
            return IMPORT_TO_DISTRIBUTION[name]
    return module.split(".")[0]


def _missing_module(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    error = match.group(0)
    module = match.group("module")
    top = module.split(".")[0]
    # A module of the stack's own code that is not importable means the service runs
    # from the wrong folder (or without its folder on sys.path); pip install would be
    # the wrong fix. uvicorn reports "app.main" this way when there is no app/ here.
    homes = _module_homes(ctx, top)
    if homes and homes[0] == ctx.cwd:
        return (
            f"{error} ({top} is this stack's own code in {_place(ctx.cwd, ctx.root)}, which is not "
            f'on sys.path: set PYTHONPATH = "." in the env of {ctx.name})'
        )
    if homes:
        rel = _rel(homes[0], ctx.root)
        return f'{error} ({top} is this stack\'s own code in {rel}: set cwd = "{rel}")'
    dist = _distribution(module)
    if ctx.venv is None:
        return (
            f"{error} (no venv is active for this service: set `venv` in stack.toml or create "
            f"venv/ in {_place(ctx.cwd, ctx.root)}, then pip install {dist} in it)"
        )
    pip = _rel(venv_bin_dir(ctx.venv) / "pip", ctx.root)
    return f"{error} (the venv {_rel(ctx.venv, ctx.root)} lacks it: {pip} install {dist})"


def _uvicorn_import(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    module = match.group("module")
    file = module.replace(".", "/") + ".py"
    where = _place(ctx.cwd, ctx.root)
    head = f'uvicorn could not import module "{module}" from {where}'
    homes = _module_homes(ctx, module)
    if not homes:
        searched = "" if ctx.cwd == ctx.root else " (nor near it in the stack folder)"
        return f"{head}; no {file} under {where}{searched}"
    if homes[0] == ctx.cwd:
        # It is there, so uvicorn did not run where devstack thinks it did.
        return f"{head}; {file} is there: check that the command does not cd elsewhere or set --app-dir"
    rel = _rel(homes[0], ctx.root)
    others = f" (and {len(homes) - 1} other place{'s' if len(homes) > 2 else ''})" if len(homes) > 1 else ""
    return f'{head}; {file} is in {rel}{others}: set cwd = "{rel}"'


# --- ports ----------------------------------------------------------------------------


def _port_in_use(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    port = _int(match.groupdict().get("port")) or ctx.port
    if port is None:
        # Without a port devstack cannot ask who holds it.
        return (
            f"address already in use (set `port` for {ctx.name} in stack.toml "
            "so devstack can name the holder)"
        )
    return f"port {port} is already in use by {_holder(port, ctx)}"


_VITE_MOVED = re.compile(r"Port (?P<port>\d+) is in use, trying another one")
_LOCAL_URL = re.compile(r"Local:\s+https?://\S*?:(?P<port>\d+)")


def _vite_moved(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    at = _index(match, lines)
    # Vite prints one "is in use" line per busy port it tries (5173, 5174, ...): the
    # port the service asked for is the first of the run.
    first = at
    while first > 0 and _VITE_MOVED.search(lines[first - 1]):
        first -= 1
    start = _VITE_MOVED.search(lines[first]) or match
    wanted = int(start.group("port"))
    holder = _holder(wanted, ctx)
    for line in lines[at + 1 :]:
        local = _LOCAL_URL.search(line)
        if local:
            return (
                f"vite moved to port {local.group('port')} because {wanted} is held by {holder}; "
                "set strictPort or free the port"
            )
    return (
        f"vite could not use port {wanted} (held by {holder}) and tried another; "
        "set strictPort or free the port"
    )


# --- Postgres -------------------------------------------------------------------------


def _pg_root(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return (
        "postgres refuses to run as root: run it as the postgres user "
        '(e.g. command = "runuser -u postgres -- postgres -D …")'
    )


def _pg_no_data_dir(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = _rel(match.group("dir"), ctx.root)
    return (
        f"postgres data directory {folder} does not exist: create it with "
        f"initdb -D {folder} (as the postgres user)"
    )


def _pg_no_config(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    conf = Path(match.group("file"))
    if str(conf.parent) in ("", "."):
        return "postgres found no postgresql.conf: point -D at an initialized data directory, or run initdb"
    folder = _rel(conf.parent, ctx.root)
    return (
        f"postgres found no postgresql.conf in {folder}: it is not an initialized data directory; "
        f"run initdb -D {folder} (as the postgres user) or point -D at the right folder"
    )


_PG_VERSIONS = re.compile(
    r"initialized by PostgreSQL version (?P<old>[\w.]+), "
    r"which is not compatible with this version (?P<new>[\w.]+)"
)


def _pg_incompatible(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    for line in lines[_index(match, lines) + 1 :][:3]:
        versions = _PG_VERSIONS.search(line)
        if versions:
            old, new = versions.group("old"), versions.group("new")
            return (
                f"postgres: database files are incompatible with server (made by PostgreSQL {old}, "
                f"this is {new}): run postgres {old} on them, or upgrade them with pg_upgrade"
            )
    return (
        "postgres: database files are incompatible with server: run the postgres version that "
        "created them, or upgrade them with pg_upgrade"
    )


_PG_LOCK_HINT = re.compile(
    r'Is another postmaster \(PID (?P<pid>\d+)\)(?: running in data directory "(?P<dir>[^"]+)")?'
)
_PG_SOCKET_LOCK = re.compile(r"\.s\.PGSQL\.(?P<port>\d+)\.lock$")


def _pg_lock_exists(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    lock = match.group("file")
    socket = _PG_SOCKET_LOCK.search(lock)
    if socket:
        # The lock of a Unix socket: another postgres serves the same port.
        port = int(socket.group("port"))
        holder = _holder(port, ctx)
        return f"port {port} is already in use by {holder} (postgres lock file {_rel(lock, ctx.root)})"
    hint = None
    for line in lines[_index(match, lines) + 1 :][:3]:
        hint = _PG_LOCK_HINT.search(line)
        if hint:
            break
    pid = hint.group("pid") if hint else None
    data = hint.group("dir") if hint else None
    stale = f"{_rel(data, ctx.root)}/postmaster.pid" if data else "postmaster.pid from the data directory"
    who = f"another postgres (pid {pid})" if pid else "another postgres"
    # Postgres checked that the pid in postmaster.pid is alive, but after a crash or a
    # container restart it can be an unrelated process that reused the number.
    check = f"if pid {pid} is not a postgres, " if pid else "if none runs, "
    return (
        f'postgres: lock file "{_rel(lock, ctx.root)}" already exists: {who} runs on this '
        f"data directory; stop it, or {check}delete {stale}"
    )


_PG_PORT_HINT = re.compile(r"already running on port (?P<port>\d+)")


def _pg_no_sockets(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    # Postgres logs the bind error and its HINT (with the port) before this FATAL.
    port = ctx.port
    for line in reversed(lines[: _index(match, lines)]):
        hint = _PG_PORT_HINT.search(line)
        if hint:
            port = int(hint.group("port"))
            break
    if port is None:
        return (
            "postgres could not create any TCP/IP sockets: check listen_addresses and that its port is free"
        )
    holder = _holder(port, ctx)
    return f"port {port} is already in use by {holder} (postgres could not create any TCP/IP sockets)"


def _pg_socket_dir(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    folder = _rel(match.group("dir"), ctx.root)
    return (
        f"postgres socket directory {folder} does not exist: create it (owned by the postgres user) "
        "or choose another with -k / unix_socket_directories"
    )


def _fatal(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return f"FATAL: {match.group('text')}"


# --- Java / Spring --------------------------------------------------------------------


def _java_classpath(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return f"{match.group(0)} (check the classpath / build the project first)"


def _java_jar(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return (
        f"{match.group(0)} (relative to {_place(ctx.cwd, ctx.root)}: build the project first or fix the path)"
    )


def _spring_failed(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    # LoggingFailureAnalysisReporter's layout: "Description:", blank, the description
    # (possibly several paragraphs), blank, "Action:", blank, the action.
    description: list[str] = []
    inside = False
    for line in lines[_index(match, lines) + 1 :]:
        text = line.strip()
        if text == "Description:":
            inside = True
        elif text == "Action:" or (inside and text.startswith("*****")):
            break
        elif inside and text:
            description.append(text)
    if not description:
        return "Spring Boot application failed to start (its output has no Description)"
    return " ".join(description)


# --- Node / shells --------------------------------------------------------------------


def _node_module(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    module = match.group("module")
    if module.startswith((".", "/")) or re.match(r"[A-Za-z]:[\\/]", module):
        # A file, not a package: npm ci will not create it.
        shown = match.group(0).replace(module, _rel(module, ctx.root))
        return f'{shown} (no such file: check the command and cwd = "{_rel(ctx.cwd, ctx.root)}")'
    return f"{match.group(0)} (run npm ci in {_place(ctx.cwd, ctx.root)})"


def _command_not_found(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    line = match.group(0).strip()
    setup = f"run `devstack setup {ctx.name}`"
    if (ctx.cwd / "package.json").is_file():
        return f"{line} ({setup} or npm ci in {_place(ctx.cwd, ctx.root)})"
    if ctx.venv is not None:
        pip = _rel(venv_bin_dir(ctx.venv) / "pip", ctx.root)
        return f"{line} ({setup}, or install it in the venv: {pip} install {match.group('cmd')})"
    return f"{line} ({setup}, or install it: it is not on the service's PATH)"


# --- the table ------------------------------------------------------------------------


def _sig(name: str, pattern: str, explain: Explain) -> Signature:
    return Signature(name, re.compile(pattern), explain)


SIGNATURES: Final[tuple[Signature, ...]] = (
    # Python
    _sig(
        "python-module-not-found",
        r"ModuleNotFoundError: No module named '(?P<module>[^']+)'",
        _missing_module,
    ),
    _sig(
        "uvicorn-could-not-import",
        r'Error loading ASGI app\. Could not import module "(?P<module>[^"]+)"',
        _uvicorn_import,
    ),
    # Ports: the line names the port when it can, otherwise the service's `port` is used.
    _sig(
        "uvicorn-address-in-use",
        r"error while attempting to bind on address \('[^']*', (?P<port>\d+)[^)]*\): address already in use",
        _port_in_use,
    ),
    _sig("node-eaddrinuse", r"EADDRINUSE: address already in use \S*:(?P<port>\d+)", _port_in_use),
    _sig("vite-port-moved", _VITE_MOVED.pattern, _vite_moved),
    # Vite with strictPort, Spring Boot, Werkzeug (Flask).
    _sig("port-already-in-use", r"Port (?P<port>\d+) (?:is already|was already|is) in use\b", _port_in_use),
    _sig("go-bind", r"listen tcp \S*:(?P<port>\d+): bind: address already in use", _port_in_use),
    _sig(
        "python-errno-address-in-use",
        r"\[Errno (?:98|48)\] Address already in use|\[WinError 10048\]",
        _port_in_use,
    ),
    # Postgres, most specific first; any other FATAL is reported as it is.
    _sig("postgres-as-root", r'"root" execution of the PostgreSQL server is not permitted', _pg_root),
    _sig(
        "postgres-no-data-dir",
        r'could not access directory "(?P<dir>[^"]+)": No such file or directory',
        _pg_no_data_dir,
    ),
    _sig(
        "postgres-data-dir-missing",
        r'FATAL:\s+data directory "(?P<dir>[^"]+)" does not exist',
        _pg_no_data_dir,
    ),
    _sig(
        "postgres-no-config",
        r'could not (?:access|open) (?:the server configuration )?file "(?P<file>[^"]*postgresql\.conf)"',
        _pg_no_config,
    ),
    _sig("postgres-incompatible", r"FATAL:\s+database files are incompatible with server", _pg_incompatible),
    _sig("postgres-lock-file", r'FATAL:\s+lock file "(?P<file>[^"]+)" already exists', _pg_lock_exists),
    _sig("postgres-no-tcp-sockets", r"FATAL:\s+could not create any TCP/IP sockets", _pg_no_sockets),
    _sig(
        "postgres-no-socket-dir",
        r'FATAL:\s+could not create lock file "(?P<dir>[^"]*)/\.s\.PGSQL\.\d+\.lock": '
        r"No such file or directory",
        _pg_socket_dir,
    ),
    _sig("fatal", r"\bFATAL:\s+(?P<text>.+)", _fatal),
    # Java / Spring Boot
    _sig(
        "java-class-not-found",
        r'Exception in thread "[^"]*" java\.lang\.(?:ClassNotFoundException|NoClassDefFoundError)\b.*'
        r"|Error: Could not find or load main class .+",
        _java_classpath,
    ),
    _sig("java-no-jar", r"Error: Unable to access jarfile .+", _java_jar),
    _sig("spring-failed-to-start", r"^\s*APPLICATION FAILED TO START\s*$", _spring_failed),
    # Node and shells
    _sig(
        "node-cannot-find-module",
        r"Error(?: \[ERR_MODULE_NOT_FOUND\])?: Cannot find (?:module|package) '(?P<module>[^']+)'",
        _node_module,
    ),
    # dash: "sh: 1: vite: not found"; bash: "bash: line 1: vite: command not found";
    # macOS sh: "/bin/sh: vite: command not found".
    _sig(
        "sh-command-not-found",
        r"(?:^|\s)(?:\S*/)?(?:sh|bash|dash|ksh)(?:: line \d+|: \d+)?: "
        r"(?P<cmd>[^\s:]+): (?:command )?not found$",
        _command_not_found,
    ),
    _sig(
        "zsh-command-not-found",
        r"(?:^|\s)(?:\S*/)?zsh:(?:\d+:)? command not found: (?P<cmd>\S+)$",
        _command_not_found,
    ),
    _sig(
        "cmd-not-recognized",
        r"^'(?P<cmd>[^']+)' is not recognized as an internal or external command",
        _command_not_found,
    ),
)


def diagnose(lines: Sequence[str], ctx: Context) -> str | None:
    """The reason of the last line of `lines` that matches a known signature, or None."""
    clean = [_clean(line) for line in lines]
    for line in reversed(clean):
        for signature in SIGNATURES:
            match = signature.pattern.search(line)
            if match is None:
                continue
            try:
                text = signature.explain(match, ctx, clean)
            except Exception:
                # A bug in one explanation, or an unreadable folder, must not take the
                # supervisor down: the matched line itself is still the best reason.
                text = line
            return _one_line(text)
    return None
