"""A Node too old for what it runs: `node --version` of the service's PATH against the version
needed, and how to run another.

Node says it in many ways, none of them "too old": Vite prints its own "Vite requires Node.js
version 20.19+ or 22.12+", npm with engine-strict refuses with EBADENGINE, an ES module finds no
`styleText` in `node:util`, `CustomEvent is not defined`, `crypto.hash is not a function`. The
version needed comes from that message, else from the `engines.node` of the package whose code
failed (node_modules/<pkg>/package.json), else the project's; the version that ran is the
`node --version` of the first node on the service's PATH (one run, bounded by a timeout). The fix
names a newer Node already installed by a version manager (nvm, fnm, volta, n, asdf: read from
their folders, nothing run), else the one `.nvmrc` asks for.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from devstack.doctor.signatures.base import Context, index_of, read_head, read_json
from devstack.text.lines import one_line

Version3 = tuple[int, int, int]

# Globals later Nodes added, which code written for them uses without a second thought.
NEWER_GLOBALS: Final = {"structuredClone": 17, "fetch": 18, "CustomEvent": 19, "File": 20,
                        "navigator": 21, "WebSocket": 22}
_VERSION: Final = re.compile(r"v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?")
_PACKAGE_DIR: Final = re.compile(r"(?:file://)?(?P<dir>/\S*?/node_modules/(?:@[^/\s]+/)?[^/\s]+)/")
_AT_FRAME: Final = re.compile(r"^\s+at ")


def node_version(path: str | None) -> tuple[Version3, str] | None:
    """(the version, the binary) of the first `node` on `path`, by `node --version`."""
    node = shutil.which("node", path=path)
    if node is None:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=5,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    version = parse(out.strip())
    return (version, node) if version else None


def installed_nodes() -> dict[Version3, Path]:
    """The bin folders of the Nodes version managers installed, by version (their folder names)."""
    home = Path.home()
    patterns = ((home / ".nvm/versions/node", "*/bin"),
                (home / ".local/share/fnm/node-versions", "*/installation/bin"),
                (home / ".fnm/node-versions", "*/installation/bin"),
                (home / ".volta/tools/image/node", "*/bin"),
                (Path("/usr/local/n/versions/node"), "*/bin"),
                (home / ".asdf/installs/nodejs", "*/bin"))
    found: dict[Version3, Path] = {}
    for base, pattern in patterns:
        try:
            folders = sorted(base.glob(pattern)) if base.is_dir() else []
        except OSError:
            continue
        for folder in folders:
            name = folder.relative_to(base).parts[0]
            version = parse(name)
            if version and (folder / "node").exists():
                found.setdefault(version, folder)
    return found


def parse(text: str) -> Version3 | None:
    match = _VERSION.fullmatch(text.strip())
    if not match:
        return None
    return tuple(int(part) if part and part.isdigit() else 0 for part in match.groups())  # type: ignore[return-value]


def satisfies(version: Version3, spec: str) -> bool | None:
    """Whether `version` meets an npm range ("^20.19.0 || >=22.12.0", ">=18", "18.x", "16 - 20");
    None when the range is beyond this small reader."""
    results = [_meets_all(version, part.strip()) for part in spec.split("||")]
    if any(result is None for result in results):
        return None
    return any(results)


def _meets_all(version: Version3, spec: str) -> bool | None:
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", spec)
    if hyphen:
        low, high = _bound(hyphen.group(1)), _bound(hyphen.group(2))
        if low is None or high is None:
            return None
        return low[0] <= version and version[: high[1]] <= high[0][: high[1]]
    checks = [_meets(version, part) for part in re.findall(r"(?:[<>=^~]+\s*)?[^\s<>=^~]+", spec)]
    if any(check is None for check in checks):
        return None
    return all(checks)


def _bound(text: str) -> tuple[Version3, int] | None:
    """(the version, how many of its parts were given) of "20", "20.19", "20.x"."""
    match = _VERSION.fullmatch(text.strip())
    if not match:
        return None
    given = sum(1 for part in match.groups() if part and part.isdigit())
    return tuple(int(p) if p and p.isdigit() else 0 for p in match.groups()), given  # type: ignore[return-value]


def _meets(version: Version3, part: str) -> bool | None:
    match = re.fullmatch(r"([<>=^~]*)\s*(\S+)", part.strip())
    if not match:
        return None
    op, text = match.groups()
    if text in ("*", "x", "X", "latest"):
        return True
    bound = _bound(text)
    if bound is None:
        return None
    want, given = bound
    if op in ("", "="):
        return version[:given] == want[:given]
    if op == ">=":
        return version >= want
    if op == ">":
        return version > want if given == 3 else version[:given] > want[:given]
    if op == "<=":
        return version <= want if given == 3 else version[:given] <= want[:given]
    if op == "<":
        return version < want
    if op == "^":
        return version >= want and version[0] == want[0]
    if op == "~":
        return version >= want and version[:2] == want[:2]
    return None


# --- the explanations -------------------------------------------------------------------------


def vite_requires(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    """Vite's own check: "You are using Node.js 18.12.1. Vite requires Node.js version 20.19+ or
    22.12+."."""
    need = match.group("need")
    ranges = [f">={part.rstrip('+')}" for part in re.findall(r"\d+(?:\.\d+)*\+", need)]
    return too_old(ctx, f"Vite needs Node {need}", " || ".join(ranges) or None, match.group("have"))


def npm_engine(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    """npm's EBADENGINE: the Required and Actual lines after it."""
    required: dict[str, str] = {}
    actual: dict[str, str] = {}
    for line in lines[index_of(match, lines) :][:12]:
        for key, into in (("Required", required), ("Actual", actual)):
            found = re.search(key + r":\s*(\{.*\})", line)
            if found:
                with contextlib.suppress(ValueError):
                    into.update(json.loads(found.group(1)))
    need = required.get("node")
    if need is None:
        return "npm refused to install: an engines field is not met (engine-strict)"
    return too_old(ctx, f"package.json's engines needs Node {need} (npm's engine-strict)", need,
                   actual.get("node"))


def builtin_missing(match: re.Match[str], ctx: Context, lines: list[str]) -> str | None:
    """An ES module importing a name its Node's built-in module does not have yet."""
    return _engines_reason(match, ctx, lines, f"node:{match.group('module')} has no {match.group('name')}")


def global_missing(match: re.Match[str], ctx: Context, lines: list[str]) -> str | None:
    name = match.group("name")
    return _engines_reason(match, ctx, lines, f"{name} is not defined", fallback=NEWER_GLOBALS[name])


def js_error(match: re.Match[str], ctx: Context, lines: list[str]) -> str | None:
    """Any JavaScript error with frames under it: a Node too old when the failing package's engines
    (or the project's) rule out the node that ran; else None (the trace says the rest)."""
    at = index_of(match, lines)
    if not any(_AT_FRAME.match(line) for line in lines[at + 1 : at + 4]):
        return None
    return _engines_reason(match, ctx, lines, one_line(match.group(0), 90))


def _engines_reason(match: re.Match[str], ctx: Context, lines: list[str], symptom: str,
                    fallback: int | None = None) -> str | None:
    """The too-old reason when the node that ran does not meet what is needed; else None."""
    ran = node_version(ctx.path)
    if ran is None:
        return None
    at = index_of(match, lines)
    for owner, need in _engines(ctx, lines[max(0, at - 3) : at + 4]):
        if satisfies(ran[0], need) is False:
            return too_old(ctx, f"{owner} needs Node {need} ({symptom})", need, None, ran)
    if fallback and ran[0][0] < fallback:
        name = match.group("name")
        return too_old(ctx, f"the code uses {name}, a global of Node {fallback} and newer ({symptom})",
                       f">={fallback}", None, ran)
    return None


def _engines(ctx: Context, near: list[str]) -> list[tuple[str, str]]:
    """(who, range) for the package whose file is named next to the error, then the project."""
    found: list[tuple[str, str]] = []
    folders: list[Path] = []
    for line in near:
        inside = _PACKAGE_DIR.search(line)
        if inside:
            folders.append(Path(inside.group("dir")))
    folders.append(ctx.cwd)
    for folder in dict.fromkeys(folders):
        manifest = read_json(folder / "package.json")
        if manifest is None:
            continue
        engines = manifest.get("engines")
        need = engines.get("node") if isinstance(engines, dict) else None
        if isinstance(need, str):
            package = f"{manifest.get('name', folder.name)} {manifest.get('version', '')}".strip()
            who = "package.json" if folder == ctx.cwd else package
            found.append((who, need))
    return found


def too_old(ctx: Context, needs: str, need: str | None, have: str | None,
            ran: tuple[Version3, str] | None = None) -> str:
    """"NAME runs Node X (its PATH's node), but <what needs what>: <how to run another>"."""
    ran = ran or node_version(ctx.path)
    if ran is not None:
        runs = f"{ctx.name} runs Node {'.'.join(map(str, ran[0]))} ({ran[1]})"
    elif have:
        runs = f"{ctx.name} runs Node {have.lstrip('v')}"
    else:
        runs = f"{ctx.name} runs an older Node"
    return f"{runs}, but {needs}: {select(ctx, need)}"


def select(ctx: Context, need: str | None) -> str:
    """How to run a Node that meets `need`: one already installed, else the one .nvmrc names."""
    fits = sorted((version, folder) for version, folder in installed_nodes().items()
                  if need is None or satisfies(version, need))
    if fits:
        return f'set env = {{ PATH = "{fits[-1][1]}:${{PATH}}" }} for {ctx.name} in stack.toml'
    nvmrc = next((folder / ".nvmrc" for folder in (ctx.cwd, ctx.root) if (folder / ".nvmrc").is_file()), None)
    wanted = (read_head(nvmrc) or "").strip() if nvmrc else ""
    install = f"install Node {wanted} (nvm install: .nvmrc says {wanted})" if wanted else \
        f"install Node {_major(need)} (e.g. nvm install {_major(need)})"
    return f'{install} and put its bin folder first: env = {{ PATH = "…/bin:${{PATH}}" }} for {ctx.name}'


def _major(need: str | None) -> str:
    numbers = [int(n) for n in re.findall(r"(?<![\d.])(\d+)(?:\.\d+)*", need or "")]
    return str(max(numbers)) if numbers else "--lts"
