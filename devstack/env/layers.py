"""The environment a service's processes get, and where each variable came from.

This module owns the layering docs/stack-toml.md describes ("The environment a service gets":
`venv`, `env_file`, `env`, `port`, PYTHONUNBUFFERED, FORCE_COLOR). From lowest to highest:

    OS environment  <  stack env_file  <  service env files  <  `env` table  <  devstack

`build_env` is the one builder used by `up`, `doctor`, `env`, `setup`, `run` and cmd
probes, so that all of them agree on what a service sees. It is pure in the sense that
matters here: it reads .env files and looks at the file system, but never mutates
`os.environ` and never prints. Problems (missing files, unparsable lines) come back as
data for the caller to report; no message built here ever contains a value.

It also owns venv detection/activation and the lookup of a command's executable on the
service's PATH, because "which python does this service run" depends on the same PATH.
The Windows rules (Scripts\\, python.exe, PATHEXT, ';', case-insensitive names) sit
behind a `windows` flag so that they are unit-tested on Linux too.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

# The parser, not dotenv_values(): dotenv_values() interpolates from os.environ (we must
# use the os_env we are given) and reports bad lines through the logging module, with a
# line number that points at the blank lines before the bad one.
from dotenv.parser import Original, parse_stream
from dotenv.variables import Variable, parse_variables

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.env.platform import WINDOWS, path_separator
from devstack.env.secrets import MASK, URL_WITH_PASSWORD, looks_secret
from devstack.env.venv import find_venv, venv_bin_dir
from devstack.text.places import shown


class Layer(StrEnum):
    """Where a variable's value was set, lowest precedence first."""

    OS = "OS"
    STACK_ENV_FILE = "stack .env"
    SERVICE_ENV_FILE = "service .env"
    ENV = "env"
    DEVSTACK = "devstack"


_FILE_LAYERS = frozenset({Layer.STACK_ENV_FILE, Layer.SERVICE_ENV_FILE})
# Layers in which the user chose a value for this service; devstack's defaults
# (PORT, PYTHONUNBUFFERED, FORCE_COLOR) give way to these, but not to the OS layer.
_USER_LAYERS = _FILE_LAYERS | {Layer.ENV}


@dataclass(frozen=True)
class EnvVar:
    """One variable as the service gets it. The value stays out of repr() so that a
    debug dump or traceback cannot leak it."""

    name: str
    value: str = field(repr=False)
    layer: Layer
    source: str  # the file's path for .env layers, "" otherwise
    # True when the value was built from a secret one: env = { URL = "…${DB_PASSWORD}…" }
    # with DB_PASSWORD from a .env file must not be shown either.
    from_secret: bool = False

    @property
    def secret(self) -> bool:
        """Masked by default: it came from a .env file, was built from a secret value,
        has a secret-looking name (`looks_secret`), or is a URL with a password."""
        return (
            self.layer in _FILE_LAYERS
            or self.from_secret
            or looks_secret(self.name)
            or URL_WITH_PASSWORD.search(self.value) is not None
        )


def masked(var: EnvVar, show_values: bool) -> str:
    """The value to display: MASK for secrets unless `show_values`.

    An empty value is shown as empty even when secret: "API_KEY is set but empty" is the
    classic mistake this should reveal, and emptiness gives nothing away.
    """
    if show_values or not var.secret or var.value == "":
        return var.value
    return MASK


@dataclass(frozen=True)
class ServiceEnv:
    """What `build_env` found: the variables and how they came to be."""

    variables: Mapping[str, EnvVar]  # keyed by name (upper-cased on Windows)
    venv: Path | None  # the activated venv, if any (it may not exist: a pre-flight check says so)
    venv_auto: bool  # True when found by auto-detection rather than declared
    missing_env_files: tuple[Path, ...]  # declared env files (or an expected default .env) that are absent
    warnings: tuple[str, ...] = ()  # e.g. "apps/api/.env:3: could not parse this line"; never a value
    env_files: tuple[Path, ...] = ()  # the env files actually read, lowest layer first
    windows: bool = WINDOWS  # names compare case-insensitively
    env_file_values: frozenset[str] = field(default=frozenset(), repr=False)

    def as_dict(self) -> dict[str, str]:
        """The environment to hand to a child process."""
        return {var.name: var.value for var in self.variables.values()}

    def secret_values(self) -> frozenset[str]:
        """Every non-empty value read from a .env file, including ones a higher layer
        overrode, so that output can be redacted of them."""
        return self.env_file_values

    def secrets(self) -> set[str]:
        """Every value devstack must not repeat: the .env files' values and the secret variables'."""
        return set(self.env_file_values) | {var.value for var in self.variables.values() if var.secret}

    def get(self, name: str) -> EnvVar | None:
        return self.variables.get(name.upper() if self.windows else name)

    def missing(self, names: Iterable[str]) -> tuple[str, ...]:
        """The names that are not set at all (for `required_env`); empty counts as set."""
        return tuple(name for name in names if self.get(name) is None)


# --- building the environment ---------------------------------------------------------


def _binding_line(original: Original) -> int:
    """The line a binding really starts on. python-dotenv counts from the end of the
    previous binding, i.e. from the blank lines and comments-only lines before it."""
    text = original.string
    leading = text[: len(text) - len(text.lstrip())]
    return original.line + len(re.findall(r"\r\n|\n|\r", leading))


class _Builder:
    """The layers applied so far, as one merged view."""

    def __init__(self, root: Path, windows: bool) -> None:
        self.root = root
        self.windows = windows
        self.vars: dict[str, EnvVar] = {}
        self.warnings: list[str] = []
        self.file_values: set[str] = set()

    def key(self, name: str) -> str:
        # Windows names are case-insensitive; like os.environ there, keep them upper-case.
        return name.upper() if self.windows else name

    def get(self, name: str) -> EnvVar | None:
        return self.vars.get(self.key(name))

    def set(self, name: str, value: str, layer: Layer, source: str = "", from_secret: bool = False) -> None:
        key = self.key(name)
        self.vars[key] = EnvVar(key, value, layer, source, from_secret)

    def remove(self, name: str) -> None:
        self.vars.pop(self.key(name), None)

    def set_checked(self, name: str, value: str, layer: Layer, where: str, source: str = "",
                    from_secret: bool = False) -> None:
        """`set`, for user-written names and values, which a child's environment may not
        hold: the OS refuses '=' in a name and NUL anywhere."""
        if not name or "=" in name or "\0" in name:
            self.warnings.append(f"{where}: {name!r} is not a valid variable name; ignored")
        elif "\0" in value:
            self.warnings.append(f"{where}: the value of {name} contains a NUL character; ignored")
        else:
            self.set(name, value, layer, source, from_secret)

    def interpolate(self, raw: str) -> tuple[str, bool]:
        """`${VAR}` / `${VAR:-default}` from the layers so far, with python-dotenv's
        rules (the default applies only when VAR is unset). Also says whether a secret
        value went into the result."""
        parts: list[str] = []
        tainted = False
        for atom in parse_variables(raw):
            if isinstance(atom, Variable):
                var = self.get(atom.name)
                if var is None:
                    parts.append(atom.default or "")
                else:
                    parts.append(var.value)
                    tainted = tainted or var.secret
            else:
                parts.append(atom.resolve({}))
        return "".join(parts), tainted

    def load_file(self, path: Path, layer: Layer) -> None:
        display = shown(path, self.root)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.warnings.append(f"{display}: could not read ({exc.strerror or type(exc).__name__})")
            return
        try:
            # utf-8-sig: editors on Windows add a BOM, which would end up in the first name.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self.warnings.append(f"{display}:{line}: bytes that are not UTF-8 were replaced")
            text = data.decode("utf-8-sig", errors="replace")
        # Universal newlines, as python-dotenv reads its files (open() in text mode): its parser
        # never sees a CRLF, and counts lines wrongly after a bad one when it does.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        for binding in parse_stream(io.StringIO(text)):
            where = f"{display}:{_binding_line(binding.original)}"
            if binding.error:
                self.warnings.append(f"{where}: could not parse this line")
                continue
            if binding.key is None or binding.value is None:
                continue  # blank, comment, or a bare `NAME` without `=`: sets nothing
            # Earlier keys of this file are already in self.vars, on top of the layers
            # below, which is the lookup order python-dotenv uses.
            value, _ = self.interpolate(binding.value)
            if value:
                self.file_values.add(value)
            self.set_checked(binding.key, value, layer, where, str(path))

    def set_by_user(self, name: str) -> bool:
        var = self.get(name)
        return var is not None and var.layer in _USER_LAYERS


def _service_env_files(service: ServiceSpec) -> tuple[list[Path], list[Path]]:
    """(files to read, files missing) for the service layer."""
    if service.env_files is not None:
        declared = list(service.env_files)
        return [p for p in declared if p.exists()], [p for p in declared if not p.exists()]
    default = service.cwd / ".env"
    if default.exists():
        return [default], []
    # An absent default .env is only worth reporting when the service shows it expects
    # one (the .env.example beside it is named as the file to copy).
    if (service.cwd / ".env.example").exists():
        return [], [default]
    return [], []


def _env_files(stack: StackSpec, service: ServiceSpec) -> tuple[list[tuple[Path, Layer]], list[Path]]:
    """(files to read with their layers, lowest first; declared or expected files that are absent)."""
    to_read: list[tuple[Path, Layer]] = []
    missing: list[Path] = []
    if stack.env_file is not None:
        if stack.env_file.exists():
            to_read.append((stack.env_file, Layer.STACK_ENV_FILE))
        else:
            missing.append(stack.env_file)
    found, absent = _service_env_files(service)
    return to_read + [(p, Layer.SERVICE_ENV_FILE) for p in found], missing + absent


def _read_env_files(b: _Builder, to_read: list[tuple[Path, Layer]]) -> list[Path]:
    """Load each file into `b`; the files read. A file is read once, at its lowest layer: with
    cwd = "." the service's default .env is usually the stack's env_file itself."""
    seen: set[Path] = set()
    read: list[Path] = []
    for path, layer in to_read:
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        read.append(path)
        b.load_file(path, layer)
    return read


def _activate(b: _Builder, venv: Path, windows: bool) -> None:
    """What activating `venv` does: its bin folder first on PATH, VIRTUAL_ENV set."""
    bin_dir = str(venv_bin_dir(venv, windows))
    below = b.get("PATH")
    sep = path_separator(windows)
    new_path = bin_dir if below is None or not below.value else bin_dir + sep + below.value
    b.set("PATH", new_path, Layer.DEVSTACK, from_secret=below is not None and below.secret)
    b.set("VIRTUAL_ENV", str(venv), Layer.DEVSTACK)
    # A PYTHONHOME from the outside would make the venv's python load another
    # installation's standard library.
    b.remove("PYTHONHOME")


def _defaults(b: _Builder, service: ServiceSpec, color: bool) -> None:
    """devstack's defaults, each giving way to a value the user chose for the service."""
    if service.port is not None and not b.set_by_user("PORT"):
        b.set("PORT", str(service.port), Layer.DEVSTACK)
    # Children write into pipes; without this, Python buffers their output and logs
    # arrive late or, on a crash, never.
    if not b.set_by_user("PYTHONUNBUFFERED"):
        b.set("PYTHONUNBUFFERED", "1", Layer.DEVSTACK)
    if color and not b.set_by_user("FORCE_COLOR"):
        b.set("FORCE_COLOR", "1", Layer.DEVSTACK)


def build_env(
    stack: StackSpec,
    service: ServiceSpec,
    os_env: Mapping[str, str],
    *,
    color: bool = False,
    extra: Mapping[str, str] | None = None,
    windows: bool = WINDOWS,
) -> ServiceEnv:
    """The environment `service` runs in, each variable tagged with its layer.

    `os_env` is the OS layer (usually os.environ; it is only read). `color`: devstack's
    terminal shows colour, so children get FORCE_COLOR=1. `extra`: devstack's own tags,
    set last.
    """
    b = _Builder(stack.root, windows)
    for name, value in os_env.items():
        b.set(name, value, Layer.OS)
    to_read, missing = _env_files(stack, service)
    read = _read_env_files(b, to_read)
    for name, raw in service.env.items():
        value, tainted = b.interpolate(raw)
        b.set_checked(name, value, Layer.ENV, f"env of {service.name}", from_secret=tainted)
    venv, venv_auto = find_venv(service)
    if venv is not None:
        _activate(b, venv, windows)
    _defaults(b, service, color)
    for name, value in (extra or {}).items():
        b.set(name, value, Layer.DEVSTACK)
    return ServiceEnv(
        variables=MappingProxyType(b.vars),
        venv=venv,
        venv_auto=venv_auto,
        missing_env_files=tuple(missing),
        warnings=tuple(b.warnings),
        env_files=tuple(read),
        windows=windows,
        env_file_values=frozenset(b.file_values),
    )
