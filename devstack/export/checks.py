"""A service's probe as a command its container image can run: a compose `healthcheck` or a
Kubernetes `exec` probe.

Each image is asked with a tool it surely has, never curl: Python's urllib in a Python image,
Node's fetch in a Node image, `pg_isready` in Postgres' image, and in a Java image a small
checker class compiled into the image (`java_probe.JAVA_PROBE`), since a JRE ships no HTTP
client on the command line. The checks keep devstack's meaning: the statuses that pass (200–399
by default, redirects not followed), `expect_json` as a subset match, `expect_text` as a
substring. A probe an image cannot run comes back as None with the reason, for a warning.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from devstack.config.specs import ProbeKind
from devstack.export.model import DEFAULT_STATUS, ExportService, Probe
from devstack.export.runtime import Kind

PROBE_CLASS_DIR = "/devstack"  # where a Java image keeps the compiled checker

# Programs each image has, for telling whether a cmd probe can run inside it; a program given by
# a path relative to the service's folder is in the image too (the folder is copied).
_IMAGE_TOOLS: Mapping[Kind, frozenset[str]] = {
    Kind.POSTGRES: frozenset({"pg_isready", "psql", "postgres", "bash"}),
    Kind.PYTHON: frozenset({"python", "python3", "pip", "bash"}),
    Kind.NODE: frozenset({"node", "npm", "npx", "bash"}),
    Kind.MAVEN: frozenset({"java", "bash"}),
    Kind.GRADLE: frozenset({"java", "bash"}),
    Kind.OTHER: frozenset({"bash"}),
}
_SHELL_WORDS = frozenset({"sh", "test", "[", "true", "false", "echo", "printf", "cat", "grep", "ls", "exit"})


@dataclass(frozen=True)
class Check:
    argv: tuple[str, ...]  # exec form
    shell: bool = False  # argv is ("/bin/sh", "-c", text): compose writes it as CMD-SHELL


def for_service(svc: ExportService) -> tuple[Check | None, str]:
    """The check, or None and why the image cannot run the probe."""
    probe = svc.probe
    if probe is None:
        return None, "it has no probe"
    if probe.kind is ProbeKind.LOG:
        return None, f"its log probe ({probe.health.target!r}) watches output, which no engine can do"
    if probe.kind is ProbeKind.CMD:
        return Check(("/bin/sh", "-c", probe.health.target), shell=True), ""
    if probe.kind is ProbeKind.TCP:
        return _tcp(svc.runtime.kind, probe)
    return _http(svc.runtime.kind, probe)


def cmd_needs_host(svc: ExportService) -> str | None:
    """For a cmd probe: the program it runs that the image may lack, else None."""
    if svc.probe is None or svc.probe.kind is not ProbeKind.CMD:
        return None
    try:
        words = shlex.split(svc.probe.health.target)
    except ValueError:
        words = svc.probe.health.target.split()
    if not words:
        return None
    word = words[0]
    if "/" in word and not word.startswith("/"):
        return None  # in the service's folder, which the image copies
    name = word.rsplit("/", 1)[-1]
    if name in _IMAGE_TOOLS[svc.runtime.kind] or name in _SHELL_WORDS:
        return None
    return word


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _tcp(kind: Kind, probe: Probe) -> tuple[Check | None, str]:
    host, port, timeout = probe.host or "127.0.0.1", probe.port, probe.health.timeout
    if kind is Kind.PYTHON:
        code = f"import socket;socket.create_connection(({host!r},{port}),{timeout:g}).close()"
        return Check(("python", "-c", code)), ""
    if kind is Kind.NODE:
        options = f"{{host:{json.dumps(host)},port:{port},timeout:{round(timeout * 1000)}}}"
        code = (f"require('net').connect({options})"
                ".on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"
                ".on('timeout',()=>process.exit(1))")
        return Check(("node", "-e", code)), ""
    if kind in (Kind.MAVEN, Kind.GRADLE):
        return Check(("java", "-cp", PROBE_CLASS_DIR, "Probe", f"tcp://{_host(host)}:{port}",
                      str(round(timeout * 1000)))), ""
    if kind is Kind.POSTGRES:
        return Check(("pg_isready", "-q", "-h", host, "-p", str(port), "-t", str(_seconds(timeout)))), ""
    # Debian-based images have bash, whose /dev/tcp opens a connection without any other tool
    return Check(("bash", "-c", f": > /dev/tcp/{host}/{port}")), ""


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _http(kind: Kind, probe: Probe) -> tuple[Check | None, str]:
    url = probe.health.target
    if kind is Kind.PYTHON:
        return Check(("python", "-c", _python_http(probe))), ""
    if kind is Kind.NODE:
        return Check(("node", "-e", _node_http(probe))), ""
    if kind in (Kind.MAVEN, Kind.GRADLE):
        argv = ["java", "-cp", PROBE_CLASS_DIR, "Probe", url, str(round(probe.health.timeout * 1000)),
                probe.status_text()]
        if probe.health.expect_json is not None:
            argv += ["--json", _json(probe.health.expect_json)]
        if probe.health.expect_text is not None:
            argv += ["--text", probe.health.expect_text]
        return Check(tuple(argv)), ""
    return None, f"its image ({kind.value}) has no HTTP client to run its http probe with"


def _json(value: object) -> str:
    return json.dumps(value, default=lambda v: dict(v) if isinstance(v, Mapping) else str(v),
                      separators=(",", ":"), ensure_ascii=False)


def _python_http(probe: Probe) -> str:
    health = probe.health
    # An error processor that hands back every response: no exception for 4xx/5xx, and no
    # redirect followed (devstack takes a 3xx as it is).
    parts = [
        "import json,ssl,sys,urllib.request as u",
        "P=type('P',(u.HTTPErrorProcessor,),"
        "{'http_response':lambda s,q,r:r,'https_response':lambda s,q,r:r})",
        # devstack does not verify a dev server's certificate; neither does the check
        "o=u.build_opener(P,u.HTTPSHandler(context=ssl._create_unverified_context()))",
        f"r=o.open({health.target!r},timeout={health.timeout:g})",
        "b=r.read()",
    ]
    if probe.statuses is None:
        parts.append(f"ok={DEFAULT_STATUS[0]}<=r.status<={DEFAULT_STATUS[1]}")
    else:
        parts.append(f"ok=r.status in {tuple(probe.statuses)!r}")
    if health.expect_json is not None:
        parts.append("m=lambda a,e:all(isinstance(a,dict) and k in a and m(a[k],v) for k,v in e.items()) "
                     "if isinstance(e,dict) else a==e and isinstance(a,bool)==isinstance(e,bool)")
        parts.append(f"ok=ok and m(json.loads(b),json.loads({_json(health.expect_json)!r}))")
    if health.expect_text is not None:
        parts.append(f"ok=ok and {health.expect_text!r} in b.decode('utf-8','replace')")
    parts.append("sys.exit(0 if ok else 1)")
    return ";".join(parts)


def _node_http(probe: Probe) -> str:
    health = probe.health
    if probe.statuses is None:
        status = f"r.status>={DEFAULT_STATUS[0]}&&r.status<={DEFAULT_STATUS[1]}"
    else:
        status = "[" + ",".join(str(c) for c in probe.statuses) + "].includes(r.status)"
    body = [f"let ok={status}"]
    code = ""
    if health.expect_json is not None:
        code += ("const m=(a,e)=>e!==null&&typeof e==='object'&&!Array.isArray(e)"
                 "?a!==null&&typeof a==='object'&&Object.keys(e).every(k=>k in a&&m(a[k],e[k]))"
                 ":JSON.stringify(a)===JSON.stringify(e);")
        body.append(f"ok=ok&&m(JSON.parse(b),{_json(health.expect_json)})")
    if health.expect_text is not None:
        body.append(f"ok=ok&&b.includes({json.dumps(health.expect_text)})")
    if probe.scheme == "https":  # devstack does not verify a dev server's certificate
        code += "process.env.NODE_TLS_REJECT_UNAUTHORIZED='0';"
    code += (f"fetch({json.dumps(health.target)},{{redirect:'manual',"
             f"signal:AbortSignal.timeout({round(health.timeout * 1000)})}})"
             f".then(async r=>{{const b=await r.text();{';'.join(body)};process.exit(ok?0:1)}})"
             ".catch(()=>process.exit(1))")
    return code
