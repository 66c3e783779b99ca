"""Pre-flight checks: what would keep a service from starting, found before it starts.

This module owns SPEC.md "Pre-flight checks": cwd, the command's executable, the venv
and its python, requirements.txt in the venv, env files and the keys their
`.env.example` has, `required_env`, the port, and how `localhost` resolves. Each check
is one function returning `Finding`s (what is wrong, where, and the fix to type).
`doctor` runs `check_stack` and prints `render_findings`; `up` runs `check_service`
before each spawn and fails the service with `blocking_error` when there is one.

Checks never print and never raise for a problem in the user's project. A value from a
.env file never enters a finding: checks speak of names, paths and packages only, and
text taken from outside (another process's command line, the venv python's error
output) is redacted of secret values first. Paths appear relative to the stack folder,
so that every fix can be typed there as is.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psutil
from dotenv.parser import parse_stream

from devstack.config.specs import ProbeKind, ServiceSpec, StackSpec
from devstack.control.paths import StatePaths, stack_id
from devstack.env.executables import first_word, resolve_executable
from devstack.env.layers import Layer, ServiceEnv, build_env
from devstack.env.secrets import MASK
from devstack.env.venv import venv_bin_dir, venv_python
from devstack.process.ports import listeners, listening_sockets
from devstack.process.spawn import TAG_VAR
from devstack.text.suggest import closest

if TYPE_CHECKING:
    from devstack.doctor import requirements as reqs

VENV_PYTHON_TIMEOUT = 10.0  # s; a python that needs longer to start is as good as broken
_PATH_SHOWN = 4  # PATH entries named in "not found" before "…"
_COMMAND_SHOWN = 120  # characters of another process's command line
_MIN_REDACTED = 4  # shorter .env values ("1", "dev") would blank out ordinary words
_EXAMPLE_SUFFIXES = (".example", ".sample", ".template")


class Severity(StrEnum):
    ERROR = "error"  # the service cannot start (or would fail at once); `up` does not start it
    WARNING = "warning"  # likely to hurt, but the service may start
    INFO = "info"  # what devstack found, to explain later behaviour


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    service: str | None  # None for stack-wide findings
    severity: Severity
    check: str  # "cwd", "executable", "venv", "requirements", "env_file", "env_keys", …
    message: str  # one line: what is wrong (or, for info, what was found)
    fix: str | None  # the command or action to type


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a port, as far as devstack may see it."""

    pid: int | None  # None: the port is taken, but by a process we may not inspect
    name: str = ""
    cmdline: str = ""
    tag: str | None = None  # its spawn.TAG_VAR: "<stack id>/<service>" for this stack's children
    supervisor: int | None = None  # pid of the live supervisor of this stack it descends from


PortOwner = Callable[[int], Sequence[PortHolder]]
LocalhostResolver = Callable[[], list[str]]  # addresses in resolver order; OSError when none


# --- helpers --------------------------------------------------------------------------


def _shown(path: Path, *bases: Path) -> str:
    """`path` relative to the first base it lies in, else absolute."""
    for base in bases:
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n\t\v\f]+", " ", text)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Context:
    """What every per-service check looks at: the service, its stack, and the
    environment `build_env` gives it."""

    stack: StackSpec
    service: ServiceSpec
    env: ServiceEnv

    def show(self, path: Path) -> str:
        return _shown(path, self.stack.root)

    def arg(self, path: Path) -> str:
        """A path as a word of a shell command typed in the stack folder."""
        return shlex.quote(self.show(path))

    def finding(self, severity: Severity, check: str, message: str, fix: str | None = None) -> Finding:
        return _finding(self.service.name, severity, check, message, fix)

    def redact(self, text: str) -> str:
        secrets = {var.value for var in self.env.variables.values() if var.secret}
        secrets |= self.env.secret_values()
        # Longest first, so that a value containing another is masked whole.
        for value in sorted((v for v in secrets if len(v) >= _MIN_REDACTED), key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def pip(self) -> str:
        """The venv's pip as a command word; a venv made without pip (uv, --without-pip)
        gets it first."""
        assert self.env.venv is not None
        bin_dir = venv_bin_dir(self.env.venv, self.env.windows)
        pip = self.arg(bin_dir / "pip")
        if any((bin_dir / name).is_file() for name in ("pip", "pip.exe")):
            return pip
        return f"{self.arg(venv_python(self.env.venv, self.env.windows))} -m ensurepip && {pip}"

    def venv_fix(self, venv: Path, clear: bool) -> str:
        """The command that (re)creates `venv` and installs the service's requirements."""
        python = "python" if self.env.windows else "python3"
        fix = f"{python} -m venv {'--clear ' if clear else ''}{self.arg(venv)}"
        requirements = self.service.cwd / "requirements.txt"
        if requirements.is_file():
            pip = self.arg(venv_bin_dir(venv, self.env.windows) / "pip")
            fix += f" && {pip} install -r {self.arg(requirements)}"
        return fix


def _finding(service: str | None, severity: Severity, check: str, message: str, fix: str | None) -> Finding:
    # Messages are one line by contract: a newline in a path must not break the report.
    return Finding(service, severity, check, _one_line(message), None if fix is None else _one_line(fix))


# --- cwd ------------------------------------------------------------------------------


def check_cwd(ctx: Context) -> list[Finding]:
    """The service's folder exists (everything else is relative to it)."""
    cwd = ctx.service.cwd
    if cwd.is_dir():
        return []
    if cwd.exists():
        return [ctx.finding(Severity.ERROR, "cwd", f"cwd {ctx.show(cwd)} is not a folder",
                            "fix `cwd` in stack.toml")]
    mkdir = f"mkdir -p {ctx.arg(cwd)}"
    guess = _sibling_like(cwd)
    if guess is not None:
        # The usual cause is a renamed folder (apps/ai-api → apps/ai-api-fastapi), not a missing one.
        fix = f'set cwd = "{ctx.show(guess)}" in stack.toml (or {mkdir})'
    else:
        fix = f"{mkdir} (or fix `cwd` in stack.toml)"
    return [ctx.finding(Severity.ERROR, "cwd", f"cwd {ctx.show(cwd)} does not exist", fix)]


def _sibling_like(path: Path) -> Path | None:
    try:
        siblings = [p.name for p in path.parent.iterdir() if p.is_dir()]
    except OSError:
        return None
    guess = closest(path.name, siblings)
    return None if guess is None else path.parent / guess


# --- venv -----------------------------------------------------------------------------


def check_venv(ctx: Context) -> list[Finding]:
    """The venv (declared or found) exists, is a venv, and its python runs."""
    venv = ctx.env.venv
    if venv is None:
        return []
    found: list[Finding] = []
    if ctx.env.venv_auto:
        found.append(ctx.finding(Severity.INFO, "venv", f"using venv {ctx.show(venv)} (found automatically)"))
    problem = _venv_problem(ctx, venv)
    if problem is not None:
        message, clear = problem
        found.append(ctx.finding(Severity.ERROR, "venv", message, ctx.venv_fix(venv, clear)))
    return found


def _venv_problem(ctx: Context, venv: Path) -> tuple[str, bool] | None:
    """(what is wrong, whether the fix must recreate the venv with --clear), or None."""
    if not venv.exists():
        return f"venv {ctx.show(venv)} does not exist", False
    if not (venv / "pyvenv.cfg").is_file():
        return f"{ctx.show(venv)} is not a venv (it has no pyvenv.cfg)", False
    python = venv_python(venv, ctx.env.windows)
    if not python.exists():
        if python.is_symlink():
            # The classic: the python the venv was made from was upgraded or removed.
            # realpath follows the whole chain (python -> python3.11 -> /usr/bin/python3.11).
            target = os.path.realpath(python)
            return f"the venv's python {ctx.show(python)} links to {target}, which does not exist", True
        return f"venv {ctx.show(venv)} has no {_shown(python, venv)}", True
    failure = _python_failure(ctx, python)
    return None if failure is None else (failure, True)


def _python_failure(ctx: Context, python: Path) -> str | None:
    """Why `python -c ''` fails, run as the service would run it; None when it works."""
    shown = ctx.show(python)
    try:
        done = subprocess.run([str(python), "-c", ""], cwd=ctx.service.cwd, env=ctx.env.as_dict(),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=VENV_PYTHON_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"the venv's python {shown} did not start within {VENV_PYTHON_TIMEOUT:g} s"
    except OSError as exc:
        return f"the venv's python {shown} does not run ({exc.strerror or type(exc).__name__})"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
    detail = f": {ctx.redact(lines[-1])}" if lines else ""
    return f"the venv's python {shown} does not run (exit code {done.returncode}{detail})"


def _venv_ok(findings: list[Finding]) -> bool:
    return not any(f.severity is Severity.ERROR for f in findings)


# --- executable -----------------------------------------------------------------------


def check_executable(ctx: Context) -> list[Finding]:
    """The command's first word is found as the child will look for it (venv first)."""
    command, windows = ctx.service.command, ctx.env.windows
    word, _unchecked = first_word(command, windows)
    if not word:
        return [ctx.finding(Severity.ERROR, "executable", "the command is empty",
                            "set `command` in stack.toml")]
    if resolve_executable(command, ctx.env.as_dict(), ctx.service.cwd, windows=windows) is not None:
        return []
    if "/" in word or (windows and "\\" in word):
        return [_missing_file_word(ctx, word)]
    message = f"command not found: '{word}' is not on the service's PATH ({_short_path(ctx)})"
    return [ctx.finding(Severity.ERROR, "executable", message, _executable_fix(ctx, word))]


def _missing_file_word(ctx: Context, word: str) -> Finding:
    """`./mvnw`, `bin/start`, `/opt/x/run`: a file, not a PATH lookup."""
    target = ctx.service.cwd / Path(word).expanduser()
    where = f" in {ctx.show(ctx.service.cwd)}" if not Path(word).is_absolute() else ""
    if target.is_file() and not ctx.env.windows:
        # A checkout from Windows or a zip download loses the x bit (./mvnw, ./gradlew).
        return ctx.finding(Severity.ERROR, "executable", f"'{word}'{where} is not executable",
                           f"chmod +x {ctx.arg(target)}")
    return ctx.finding(Severity.ERROR, "executable", f"'{word}' does not exist{where}",
                       "fix `command` in stack.toml")


def _short_path(ctx: Context) -> str:
    var = ctx.env.get("PATH")
    if var is None:
        return "PATH is not set"
    sep = ";" if ctx.env.windows else ":"
    entries = [ctx.show(Path(entry)) if entry else "." for entry in var.value.split(sep)]
    more = [f"{sep}…"] if len(entries) > _PATH_SHOWN else []
    return "searched " + sep.join(entries[:_PATH_SHOWN]) + "".join(more)


def _executable_fix(ctx: Context, word: str) -> str:
    disabled = _disabled_venv_with(ctx, word)
    if disabled is not None:
        return (f"remove `venv = false` from [services.{ctx.service.name}] in stack.toml "
                f"({word} is in {ctx.show(disabled)})")
    wanted = _requirement_for(ctx, word)
    if wanted is not None and not ctx.service.venv_disabled:
        if ctx.env.venv is None:
            return ctx.venv_fix(ctx.service.cwd / "venv", clear=False)
        return f"{ctx.pip()} install {shlex.quote(wanted)}"
    return f"install {word}, or fix `command` in stack.toml"


def _disabled_venv_with(ctx: Context, word: str) -> Path | None:
    """The bin folder of a venv in cwd that `venv = false` turned off and that holds `word`."""
    if not ctx.service.venv_disabled:
        return None
    for name in ("venv", ".venv"):
        venv = ctx.service.cwd / name
        bin_dir = venv_bin_dir(venv, ctx.env.windows)
        path = {"PATH": str(bin_dir)}
        if (venv / "pyvenv.cfg").is_file() and resolve_executable(
            (word,), path, ctx.service.cwd, windows=ctx.env.windows
        ) is not None:
            return bin_dir
    return None


def _requirement_for(ctx: Context, word: str) -> str | None:
    """requirements.txt's requirement for a distribution named like `word` (uvicorn, gunicorn)."""
    path = ctx.service.cwd / "requirements.txt"
    if not path.is_file():
        return None
    from devstack.doctor import requirements as reqs  # packaging: only for services with requirements.txt

    try:
        found = reqs.read_requirements(path).find(word)
    except OSError:
        return None
    if found is None:
        return None
    requirement = found[1]
    requirement.marker = None  # the marker held (or pip would skip it); keep the command short
    return str(requirement)


# --- requirements ---------------------------------------------------------------------


def check_requirements(ctx: Context, venv_ok: bool = True) -> list[Finding]:
    """requirements.txt in cwd is satisfied in the venv: each missing or mismatched package
    named, with the pip command of that venv."""
    path = ctx.service.cwd / "requirements.txt"
    if not path.is_file():
        return []
    venv = ctx.env.venv
    if venv is None:
        return [_no_venv_note(ctx, path)]
    if not venv_ok:
        return []  # the venv finding's fix recreates it and installs requirements.txt
    from devstack.doctor import requirements as reqs  # packaging: only for services with requirements.txt

    try:
        report = reqs.check_requirements(path, venv)
    except OSError as exc:
        return [ctx.finding(Severity.WARNING, "requirements",
                            f"cannot read {ctx.show(path)} ({exc.strerror or type(exc).__name__})")]
    fix = f"{ctx.pip()} install -r {ctx.arg(path)}"
    return [_requirement_finding(ctx, issue, fix) for issue in report.issues]


def _no_venv_note(ctx: Context, path: Path) -> Finding:
    if ctx.service.venv_disabled:
        return ctx.finding(Severity.INFO, "requirements", f"{ctx.show(path)} not checked: `venv = false`")
    return ctx.finding(Severity.INFO, "requirements",
                       f"{ctx.show(path)} not checked: no venv/ or .venv/ in {ctx.show(ctx.service.cwd)}",
                       ctx.venv_fix(ctx.service.cwd / "venv", clear=False))


def _requirement_finding(ctx: Context, issue: reqs.Issue, fix: str) -> Finding:
    # "requirements.txt line 3" reads best relative to the service's folder.
    from devstack.doctor import requirements as reqs

    message = issue.message(lambda p: _shown(p, ctx.service.cwd, ctx.stack.root))
    if issue.verdict in (reqs.Verdict.MISSING, reqs.Verdict.MISMATCH):
        return ctx.finding(Severity.ERROR, "requirements", message, fix)
    if issue.verdict is reqs.Verdict.UNREADABLE:
        return ctx.finding(Severity.WARNING, "requirements", message)
    return ctx.finding(Severity.INFO, "requirements", message)


# --- env files ------------------------------------------------------------------------


def _example_beside(path: Path) -> Path | None:
    for suffix in _EXAMPLE_SUFFIXES:
        example = path.with_name(path.name + suffix)
        if example.is_file():
            return example
    return None


def _same_file(a: Path, b: Path | None) -> bool:
    return b is not None and a.resolve() == b.resolve()


def _missing_file(service: str | None, root: Path, path: Path) -> Finding:
    shown = _shown(path, root)
    example = _example_beside(path)
    if example is not None:
        fix = f"cp {shlex.quote(_shown(example, root))} {shlex.quote(shown)}"
    else:
        fix = f"create {shown}, or remove it from `env_file` in stack.toml"
    return _finding(service, Severity.ERROR, "env_file", f"env file {shown} does not exist", fix)


def check_env_files(ctx: Context) -> list[Finding]:
    """The service's env files exist (a default .env only when a .env.example says one is
    expected), and parse (python-dotenv's complaints, by line, never by value)."""
    stack_file = ctx.stack.env_file
    found = [_missing_file(ctx.service.name, ctx.stack.root, path)
             for path in ctx.env.missing_env_files if not _same_file(path, stack_file)]
    stack_prefix = None if stack_file is None else ctx.show(stack_file) + ":"
    for warning in ctx.env.warnings:
        if stack_prefix is None or not warning.startswith(stack_prefix):
            found.append(ctx.finding(Severity.WARNING, "env_file", warning))
    return found


def _file_keys(path: Path, with_value_only: bool) -> list[str] | None:
    """The names a dotenv file sets, in order (None when unreadable). A bare `NAME` line
    names a key in an example, but sets nothing in a real .env."""
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError:
        return None
    keys: dict[str, None] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.key and not binding.error and (binding.value is not None or not with_value_only):
            keys[binding.key] = None
    return list(keys)


def _where_set(ctx: Context, name: str, os_only: bool) -> str | None:
    var = ctx.env.get(name)
    # For the stack-wide file only the OS layer below it is shared by every service.
    if var is None or (os_only and var.layer is not Layer.OS):
        return None
    if var.layer is Layer.OS:
        return "set in the OS environment"
    if var.layer is Layer.ENV:
        return "set by `env` in stack.toml"
    if var.layer is Layer.DEVSTACK:
        return "set by devstack"
    return f"set in {ctx.show(Path(var.source))}"


def _missing_keys(ctx: Context, who: str | None, path: Path) -> list[Finding]:
    """The keys of the example beside `path` that `path` lacks; a warning unless another
    layer sets every one of them for the service (`who` None: for every service)."""
    example = _example_beside(path)
    if example is None:
        return []
    have, want = _file_keys(path, with_value_only=True), _file_keys(example, with_value_only=False)
    if have is None or want is None:
        return []
    missing = [key for key in want if key not in have]
    if not missing:
        return []
    notes = {key: _where_set(ctx, key, os_only=who is None) for key in missing}
    listed = ", ".join(key if notes[key] is None else f"{key} ({notes[key]})" for key in missing)
    message = f"{ctx.show(path)} lacks keys that {ctx.show(example)} has: {listed}"
    if all(note is not None for note in notes.values()):
        # Every one reaches the service from another layer: worth knowing, not a problem.
        return [_finding(who, Severity.INFO, "env_keys", message, None)]
    fix = f"add them to {ctx.show(path)} (see {ctx.show(example)})"
    return [_finding(who, Severity.WARNING, "env_keys", message, fix)]


def check_env_keys(ctx: Context) -> list[Finding]:
    """Keys of `.env.example` (beside each service env file) that the file lacks: names only."""
    found: list[Finding] = []
    for path in ctx.env.env_files:
        if not _same_file(path, ctx.stack.env_file):
            found += _missing_keys(ctx, ctx.service.name, path)
    return found


def check_stack_env_file(ctx: Context, who: str | None) -> list[Finding]:
    """The stack-wide env_file: exists, parses, has its example's keys. `who` is the
    service the findings are filed under (None: stack-wide)."""
    path = ctx.stack.env_file
    if path is None:
        return []
    if not path.exists():
        return [_missing_file(who, ctx.stack.root, path)]
    prefix = ctx.show(path) + ":"
    found = [_finding(who, Severity.WARNING, "env_file", warning, None)
             for warning in ctx.env.warnings if warning.startswith(prefix)]
    return found + _missing_keys(ctx, who, path)


def check_required_env(ctx: Context) -> list[Finding]:
    """Every `required_env` name is set by some layer (empty counts as set)."""
    missing = ctx.env.missing(ctx.service.required_env)
    if not missing:
        return []
    files = ctx.service.env_files
    target = files[0] if files else ctx.service.cwd / ".env"
    assignments = ", ".join(f"{name}=..." for name in missing)
    return [ctx.finding(Severity.ERROR, "required_env", f"required_env not set: {', '.join(missing)}",
                        f"add {assignments} to {ctx.show(target)}")]


# --- port -----------------------------------------------------------------------------


def check_port(ctx: Context, port_owner: PortOwner) -> list[Finding]:
    """The service's `port` is free, or its holder is named (and recognised as this
    stack's own when it carries the stack's tag)."""
    port = ctx.service.port
    if port is None:
        return []
    return [_port_finding(ctx, port, holder) for holder in port_owner(port)]


def _holder_text(ctx: Context, holder: PortHolder) -> str:
    command = ctx.redact(holder.cmdline)
    if len(command) > _COMMAND_SHOWN:
        command = command[: _COMMAND_SHOWN - 1] + "…"
    inside = f"{holder.name}: {command}" if holder.name and command else (holder.name or command or "?")
    return f"pid {holder.pid} ({inside})"


def _port_finding(ctx: Context, port: int, holder: PortHolder) -> Finding:
    name = ctx.service.name
    change = f"change `port` of {name} in stack.toml"
    if holder.pid is None:
        return ctx.finding(Severity.ERROR, "port", f"port {port} is in use by a process devstack may not "
                           "inspect (another user's?)",
                           f"find it with `sudo lsof -nP -iTCP:{port} -sTCP:LISTEN`, or {change}")
    who = _holder_text(ctx, holder)
    prefix = stack_id(ctx.stack.root) + "/"
    if holder.tag is None or not holder.tag.startswith(prefix):
        return ctx.finding(Severity.ERROR, "port", f"port {port} is held by {who}",
                           f"kill {holder.pid} (or stop it, or {change})")
    owner = holder.tag[len(prefix):]
    if holder.supervisor is None:
        return ctx.finding(Severity.ERROR, "port", f"port {port} is held by {who}, a leftover of this "
                           f"stack's previous run ({owner})", "devstack down")
    if owner != name:
        return ctx.finding(Severity.ERROR, "port", f"port {port} is held by {who}, this stack's running "
                           f"service {owner}", f"give {name} and {owner} different ports in stack.toml")
    if holder.supervisor != os.getpid():
        return ctx.finding(Severity.INFO, "port", f"port {port} is in use by {name} itself, running under "
                           f"this stack's supervisor (pid {holder.supervisor})")
    # We are that supervisor, about to start the service again: an earlier process of it lingers.
    return ctx.finding(Severity.ERROR, "port", f"port {port} is still held by {who}, an earlier process "
                       f"of {name}", f"kill {holder.pid}")


def system_port_owner(stack: StackSpec) -> PortOwner:
    """The real `PortOwner`: psutil's view of listening sockets, and a bind attempt for
    sockets psutil cannot attribute (another user's process)."""

    def owner(port: int) -> list[PortHolder]:
        # This sits on the path to each service's first start. Binding both families says "free"
        # in ~50 us; the socket tables take ~3 ms to read here, psutil's scan of every process's
        # sockets ~12 ms: only for a port that is taken, to name who holds it.
        refused = _bind_refused(port)
        if refused is False:
            return []
        if listening_sockets(port) == []:
            return [PortHolder(None)] if refused else []  # taken, and by no listener we may see
        procs = listeners(port)
        if not procs:
            return [PortHolder(None)] if refused else []
        supervisor = _live_supervisor(stack.root)
        pids = {p.pid for p in procs}
        # A server's forked workers share its socket: name the one that owns them.
        return [_holder(p, supervisor) for p in procs if _ppid(p) not in pids]

    return owner


def _ppid(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


def _holder(proc: psutil.Process, supervisor: int | None) -> PortHolder:
    try:
        name, cmdline = proc.name(), " ".join(proc.cmdline())
    except psutil.Error:
        name, cmdline = "", ""
    try:
        tag = proc.environ().get(TAG_VAR)
    except (psutil.Error, OSError):
        tag = None
    try:
        ancestors = {parent.pid for parent in proc.parents()}
    except psutil.Error:
        ancestors = set()
    return PortHolder(proc.pid, name, cmdline, tag, supervisor if supervisor in ancestors else None)


def _live_supervisor(root: Path) -> int | None:
    """The pid of this stack's running supervisor, from the info file it writes."""
    try:
        pid = int(json.loads(StatePaths.of(root).info.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if psutil.pid_exists(pid) else None


def _bind_refused(port: int) -> bool | None:
    """Whether binding `port` fails with "address in use" on any address family; None when a
    bind fails otherwise (a privileged port, no IPv6), so that it cannot say "free"."""
    attempts: list[tuple[socket.AddressFamily, str]] = [(socket.AF_INET, "0.0.0.0")]
    unknown = False
    if socket.has_ipv6:
        attempts.append((socket.AF_INET6, "::"))
    for family, address in attempts:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                if sys.platform != "win32":
                    # As servers do: TIME_WAIT remnants of a stopped service do not count.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, 10048):  # 10048: WSAEADDRINUSE on Windows
                return True
            unknown = True
    return None if unknown else False


# --- localhost ------------------------------------------------------------------------


def resolve_localhost() -> list[str]:
    """The addresses `localhost` resolves to here, in the order clients try them."""
    infos = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _probes_localhost(service: ServiceSpec) -> bool:
    health = service.health
    if health is None:
        return False
    if health.kind is ProbeKind.HTTP:
        try:
            host = urlsplit(health.target).hostname
        except ValueError:
            return False
    elif health.kind is ProbeKind.TCP:
        host = health.target.rsplit(":", 1)[0]
    else:
        return False
    return (host or "").lower() == "localhost"


def _resolution_text(addresses: list[str]) -> str:
    v4 = [a for a in addresses if ":" not in a]
    v6 = [a for a in addresses if ":" in a]
    if v4 and v6:
        first = "IPv4" if ":" not in addresses[0] else "IPv6"
        return f"localhost resolves to {' and '.join(addresses)} ({first} first)"
    if addresses:
        family = "IPv4" if v4 else "IPv6"
        return f"localhost resolves to {' and '.join(addresses)} only ({family})"
    return "localhost does not resolve"


def check_localhost(stack: StackSpec, resolve: LocalhostResolver = resolve_localhost) -> list[Finding]:
    """Which families `localhost` resolves to, so that a probe/bind mismatch can be
    explained; a warning when probes use localhost but it has no IPv4 address."""
    try:
        addresses = resolve()
    except OSError:
        addresses = []
    text = _resolution_text(addresses)
    probed = [name for name, service in stack.services.items() if _probes_localhost(service)]
    if any(":" not in a for a in addresses) or not probed:
        return [_finding(None, Severity.INFO, "localhost", text, None)]
    # devstack's own probes dial 127.0.0.1 and ::1 directly, but browsers and the other
    # services go through the resolver.
    subject = f"{', '.join(probed)} {'is' if len(probed) == 1 else 'are'} probed at localhost"
    hosts = "the hosts file" if sys.platform == "win32" else "/etc/hosts"
    lines = "`127.0.0.1 localhost`" + ("" if addresses else " and `::1 localhost`")
    message = (f"{text}, but {subject}: clients using localhost will not reach a service that "
               "listens on 127.0.0.1 or 0.0.0.0")
    return [_finding(None, Severity.WARNING, "localhost", message, f"add {lines} to {hosts}")]


# --- running them ---------------------------------------------------------------------


def _service_checks(ctx: Context, port_owner: PortOwner) -> list[Finding]:
    cwd = check_cwd(ctx)
    if cwd:
        # Everything else lives in cwd: its findings would only repeat this one.
        return cwd + check_port(ctx, port_owner)
    venv = check_venv(ctx)
    venv_ok = _venv_ok(venv)
    return [
        *venv,
        # A broken venv's fix recreates it and installs requirements: that covers both.
        *(check_executable(ctx) if venv_ok else []),
        *check_requirements(ctx, venv_ok),
        *check_env_files(ctx),
        *check_env_keys(ctx),
        *check_required_env(ctx),
        *check_port(ctx, port_owner),
    ]


def check_service(
    stack: StackSpec,
    service: ServiceSpec,
    os_env: Mapping[str, str],
    *,
    port_owner: PortOwner | None = None,
) -> list[Finding]:
    """Everything that keeps `service` from starting, including the stack env file's
    problems (filed under the service). `port_owner`: None for the real one."""
    ctx = Context(stack, service, build_env(stack, service, os_env))
    owner = port_owner or system_port_owner(stack)
    return check_stack_env_file(ctx, service.name) + _service_checks(ctx, owner)


def check_stack(
    stack: StackSpec,
    os_env: Mapping[str, str],
    *,
    names: Sequence[str] | None = None,
    port_owner: PortOwner | None = None,
    resolve: LocalhostResolver = resolve_localhost,
) -> list[Finding]:
    """Every check for the named services (default: all), then the stack-wide ones (the
    stack env file once, localhost)."""
    owner = port_owner or system_port_owner(stack)
    findings: list[Finding] = []
    first: Context | None = None
    for name in names if names is not None else list(stack.services):
        service = stack.services[name]
        ctx = Context(stack, service, build_env(stack, service, os_env))
        first = first or ctx
        findings += _service_checks(ctx, owner)
    if first is not None:
        findings += check_stack_env_file(first, None)
    return findings + check_localhost(stack, resolve)


def blocking_error(findings: list[Finding]) -> str | None:
    """The first error as one line, "message (fix: …)": why `up` does not start a service."""
    for finding in findings:
        if finding.severity is Severity.ERROR:
            return finding.message + (f" (fix: {finding.fix})" if finding.fix else "")
    return None


# --- rendering ------------------------------------------------------------------------


def _render_group(findings: list[Finding]) -> list[str]:
    ordered = sorted(findings, key=lambda f: _RANK[f.severity])
    lines: list[str] = []
    for index, finding in enumerate(ordered):
        lines.append(f"  {finding.severity}: {finding.message}")
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        # Five missing packages share one pip command: print it once, after the last.
        if finding.fix and (following is None or following.fix != finding.fix):
            lines.append(f"    fix: {finding.fix}")
    return lines


def _summary(findings: list[Finding], services: int) -> str:
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    parts = [_plural(n, word) for n, word in ((errors, "error"), (warnings, "warning")) if n]
    return f"{', '.join(parts) or 'no problems'} in {_plural(services, 'service')}"


def render_findings(stack: StackSpec, findings: list[Finding], services: Sequence[str] | None = None) -> str:
    """`doctor`'s report: one block per service (errors first, each fix on the line after
    it; "ok" when clean), the stack-wide findings, and a summary line. Plain text.
    `services`: the services that were checked (default: all of the stack)."""
    names = list(services) if services is not None else list(stack.services)
    names += [f.service for f in findings if f.service is not None and f.service not in names]
    names = list(dict.fromkeys(names))
    lines: list[str] = []
    for name in names:
        lines.append(name)
        lines += _render_group([f for f in findings if f.service == name]) or ["  ok"]
    stack_wide = [f for f in findings if f.service is None]
    if stack_wide:
        lines.append("stack-wide")
        lines += _render_group(stack_wide)
    lines += ["", _summary(findings, len(names))]
    return "\n".join(lines) + "\n"
