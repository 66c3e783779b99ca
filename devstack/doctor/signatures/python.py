"""Python's fatal lines: a missing module (this stack's own code run from the wrong folder, or a
package the venv lacks, named with the distribution to pip install), uvicorn's import and bind
errors (an app attribute that is not there: the ASGI apps the module does create), errno's
"address already in use", settings missing from the environment (settings.py), and a Python too
old for the code (pyversion.py).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

from devstack.doctor.signatures.base import (
    Context,
    Signature,
    place,
    port_in_use,
    read_head,
    sig,
    stack_path,
)
from devstack.doctor.signatures.pyversion import pip_requires_python, python_syntax
from devstack.doctor.signatures.search import module_homes
from devstack.doctor.signatures.settings import environ_key_error, pydantic_missing
from devstack.env.venv import venv_bin_dir

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
    homes = module_homes(ctx, top)
    if homes and homes[0] == ctx.cwd:
        return (
            f"{error} ({top} is this stack's own code in {place(ctx.cwd, ctx.root)}, which is not "
            f'on sys.path: set PYTHONPATH = "." in the env of {ctx.name})'
        )
    if homes:
        rel = stack_path(homes[0], ctx.root)
        return f'{error} ({top} is this stack\'s own code in {rel}: set cwd = "{rel}")'
    dist = _distribution(module)
    if ctx.venv is None:
        return (
            f"{error} (no venv is active for this service: set `venv` in stack.toml or create "
            f"venv/ in {place(ctx.cwd, ctx.root)}, then pip install {dist} in it)"
        )
    pip = stack_path(venv_bin_dir(ctx.venv) / "pip", ctx.root)
    return f"{error} (the venv {stack_path(ctx.venv, ctx.root)} lacks it: {pip} install {dist})"


def _uvicorn_import(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    module = match.group("module")
    file = module.replace(".", "/") + ".py"
    where = place(ctx.cwd, ctx.root)
    head = f'uvicorn could not import module "{module}" from {where}'
    homes = module_homes(ctx, module)
    if not homes:
        searched = "" if ctx.cwd == ctx.root else " (nor near it in the stack folder)"
        return f"{head}; no {file} under {where}{searched}"
    if homes[0] == ctx.cwd:
        # It is there, so uvicorn did not run where devstack thinks it did.
        return f"{head}; {file} is there: check that the command does not cd elsewhere or set --app-dir"
    rel = stack_path(homes[0], ctx.root)
    others = f" (and {len(homes) - 1} other place{'s' if len(homes) > 2 else ''})" if len(homes) > 1 else ""
    return f'{head}; {file} is in {rel}{others}: set cwd = "{rel}"'


# A module-level ASGI app: `app = FastAPI(…)`, `api: FastAPI = FastAPI(…)`, Django's
# `application = get_asgi_application()`.
_ASGI_APP: Final = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s*(?::\s*[\w.\[\]]+\s*)?=\s*(?:[\w]+\.)*"
    r"(?P<cls>FastAPI|Starlette|Litestar|Quart|Sanic|ASGIApp|get_asgi_application)\(", re.MULTILINE)


def _uvicorn_attribute(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    attribute, module = match.group("attr"), match.group("module")
    head = f'uvicorn found no "{attribute}" in module "{module}"'
    parts = module.split(".")
    homes = module_homes(ctx, module)
    folder = homes[0] if homes else ctx.cwd
    candidates = (folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__init__.py"))
    file = next((path for path in candidates if path.is_file()), None)
    if file is None:
        return head
    text = read_head(file) or ""
    apps = [(found.group("name"), text.count("\n", 0, found.start()) + 1, found.group("cls"))
            for found in _ASGI_APP.finditer(text)]
    shown = stack_path(file, ctx.root)
    if not apps:
        return (f"{head} ({shown}), and {shown} creates no ASGI app at module level (such as "
                "app = FastAPI()): create one, or point command at the module that does")
    listed = ", ".join(f"{name} (line {line}: {cls}(…))" for name, line, cls in apps)
    noun = "app is" if len(apps) == 1 else "apps are"
    return f'{head} ({shown}); its ASGI {noun} {listed}: put {module}:{apps[0][0]} in command'


SIGNATURES: Final[tuple[Signature, ...]] = (
    sig(
        "python-module-not-found",
        r"ModuleNotFoundError: No module named '(?P<module>[^']+)'",
        _missing_module,
    ),
    sig(
        "uvicorn-attribute-not-found",
        r'Error loading ASGI app\. Attribute "(?P<attr>[^"]+)" not found in module "(?P<module>[^"]+)"',
        _uvicorn_attribute,
    ),
    sig(
        "pydantic-settings-missing",
        r"^(?:[\w.]+\.)?ValidationError: \d+ validation errors? for (?P<model>\w+)$",
        pydantic_missing,
    ),
    sig("python-environ-key-error", r"^KeyError: '(?P<name>[A-Za-z_][A-Za-z0-9_]*)'$", environ_key_error),
    sig("python-syntax-error", r"^SyntaxError: .+$", python_syntax),
    sig(
        "pip-requires-python",
        r"ERROR: Package '(?P<package>[^']+)' requires a different Python: (?P<have>\S+) not in "
        r"'(?P<need>[^']+)'",
        pip_requires_python,
    ),
    sig(
        "uvicorn-could-not-import",
        r'Error loading ASGI app\. Could not import module "(?P<module>[^"]+)"',
        _uvicorn_import,
    ),
    # The line names the port when it can, otherwise the service's `port` is used.
    sig(
        "uvicorn-address-in-use",
        r"error while attempting to bind on address \('[^']*', (?P<port>\d+)[^)]*\): address already in use",
        port_in_use,
    ),
    sig(
        "python-errno-address-in-use",
        r"\[Errno (?:98|48)\] Address already in use|\[WinError 10048\]",
        port_in_use,
    ),
)
