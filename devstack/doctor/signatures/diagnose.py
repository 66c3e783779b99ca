"""Why a service died, in one line, from the known fatal signatures of its own output.

This module owns the crash signatures of docs/diagnosis.md ("Crash signatures", the list
under it): when a service's process exits or its probe fails, the supervisor hands
`diagnose` the service's last output lines (stdout and stderr in arrival order) and
gets back one line that says what went wrong and the command or setting that fixes it,
or None when nothing known matched (the caller then falls back to the last meaningful
line or the probe's error).

The knowledge lives in one table per ecosystem (python.py, node.py, jvm.py, postgres.py,
generic.py), joined here as `SIGNATURES`: a regular expression for the one line a tool prints
when it gives up, and a function that turns the match into the explanation.
The explanation of the LAST matching line wins, because the final words of a process
are what killed it (a uvicorn that failed to import its app may have logged a port
clash in a previous attempt). To add a signature: capture the tool's real output under
tests/unit/captured/, add a row to its ecosystem's table (specific rows before the generic
ones: for one line, the first row in table order that matches is used), and a case in
tests/unit/test_signatures.py.

Explanations show paths relative to the stack folder (what `cwd`/`venv` in stack.toml
take), name the holder of a port and the process behind a pid through the injected
`Context.port_holder` and `Context.process` (so unit tests need no real port or process), and
do only bounded, cheap work beyond the output: walks of the service's and the stack's folders
(where is main.py, package.json, the entry file), the head of a few files (the module uvicorn
names, package.json and its engines, pyproject.toml, .env.example's names, pyvenv.cfg) and one
`node --version`. A row may decline a line (its explanation returns None); the next row, then
an earlier line, is tried.

`last_words` is the fallback for a crash no row explains: the message line of the stack trace
the output ends with (trace.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final

from devstack.config.specs import ServiceSpec, StackSpec
from devstack.doctor.signatures import generic, jvm, node, postgres, python
from devstack.doctor.signatures.base import MAX_CHARS, Context, Signature
from devstack.doctor.signatures.trace import trace_message
from devstack.env.layers import EnvVar, Layer, ServiceEnv
from devstack.logs.ansi import strip_escapes
from devstack.text.lines import one_line
from devstack.text.places import shown

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _clean(line: str) -> str:
    # A progress bar redraws with "\r": the terminal shows only what follows the last one.
    line = line.rstrip("\r\n").split("\r")[-1]
    # Vite, npm and Spring colour their output when FORCE_COLOR is set, which devstack does
    # for children when the terminal has colour (docs/logs.md).
    return strip_escapes(line).rstrip()


def _one_line(text: str) -> str:
    """The status `error` is one line of at most MAX_CHARS characters."""
    return one_line(_CONTROL.sub(" ", text), MAX_CHARS)


# For one line, the first row in this order that matches is used: each ecosystem's rows are
# specific, generic.py's catch-alls come last.
SIGNATURES: Final[tuple[Signature, ...]] = (
    *python.SIGNATURES,
    *node.SIGNATURES,
    *jvm.SIGNATURES,
    *postgres.SIGNATURES,
    *generic.SIGNATURES,
)


def context_for(stack: StackSpec, spec: ServiceSpec, env: ServiceEnv) -> Context:
    """The failed service as the explanations see it (the real port holder, the real processes)."""
    path = env.get("PATH")
    venv = env.venv if env.venv is not None and env.venv.is_dir() else None
    where = {name: _layer_place(var, stack.root) for name, var in env.variables.items()}
    env_file = spec.env_files[0] if spec.env_files else spec.cwd / ".env"
    return Context(name=spec.name, cwd=spec.cwd, root=stack.root, venv=venv, port=spec.port,
                   port_holder=_holder, has_setup=spec.setup is not None,
                   path=path.value if path else None, env=MappingProxyType(where), env_file=env_file,
                   process=_process)


def _layer_place(var: EnvVar, root: Path) -> str:
    """Where a variable is set, as a reason names it: never its value."""
    if var.layer in (Layer.STACK_ENV_FILE, Layer.SERVICE_ENV_FILE):
        return shown(var.source, root, root.resolve())
    return {Layer.OS: "the environment devstack was started in", Layer.ENV: "stack.toml",
            Layer.DEVSTACK: "devstack's defaults"}[var.layer]


def _holder(port: int) -> str | None:
    """The port's holder; None only when nothing listens on it (another user's process, which
    psutil cannot name, still holds it)."""
    from devstack.process.ports import listening_sockets, port_holder

    holder = port_holder(port)
    if holder is None and listening_sockets(port):
        return "a process devstack cannot see (another user's)"
    return holder


def _process(pid: int) -> str | None:
    import psutil

    from devstack.process.spawn import describe

    try:
        return describe(psutil.Process(pid))
    except psutil.Error:
        return None


def last_words(lines: Sequence[str]) -> str | None:
    """The message line of the stack trace (or error block) the output ends with, as one status
    line: for a crash no signature knows (trace.py)."""
    message = trace_message([_clean(line) for line in lines])
    return None if message is None else _one_line(message)


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
            if text is not None:
                return _one_line(text)
    return None
