"""`devstack config`, `devstack probe` and `devstack export` through the real CLI.

The exports are checked by each engine's own rules, offline (no Docker engine or cluster here):
the Compose Specification's JSON schema (check-jsonschema's vendor.compose-spec), hadolint for
every Dockerfile, `systemd-analyze verify` for every unit, kubernetes-validate (the Kubernetes
API schemas) for every manifest. The demo stack and examples/hello are also compared with golden
files in tests/export_golden/, which DEVSTACK_UPDATE_GOLDEN=1 rewrites (review the diff).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import yaml

from devstack.config.stackfile import load_stack
from devstack.export import checks
from devstack.export.java_probe import JAVA_PROBE
from devstack.export.model import build
from devstack.probes.http import probe_http
from tests.support.harness import PY, Run, Stack, q
from tests.support.ports import free_port
from tests.support.programs import HTTP_SERVER
from tests.support.waiting import wait_until

MARKER = "zz-secret-marker-zz"


# --- devstack config ----------------------------------------------------------------------------


def test_config_json_is_the_resolved_stack(stack: Stack) -> None:
    stack.write(".env", f"TOKEN={MARKER}\n")
    stack.toml(f"""
        [services.db]
        command = {q(PY + " -c 'import time; time.sleep(60)'")}
        [services.api]
        command = [{q(PY)}, "-m", "http.server", "8000"]
        depends_on = {{ db = "started" }}
        port = 8000
        health = {{ http = "http://localhost:8000/", expect_status = 200 }}
    """)
    r = stack.run("config", "--json")
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert MARKER not in r.text
    api = doc["services"][1]
    assert (api["name"], api["depends_on"], api["port"]) == ("api", {"db": "started"}, 8000)
    assert api["health"]["expect_status"] == [200]
    assert {v["name"]: v["value"] for v in api["env"]}["TOKEN"] == "****"
    # defaults filled in and paths resolved, as devstack will use them
    assert api["cwd"] == str(stack.root.resolve())
    assert doc["source"] == str((stack.root / "stack.toml").resolve())
    assert (api["restart"], api["max_restarts"], api["stop_signal"], api["stop_timeout"]) == \
        ("on-failure", 5, "SIGTERM", 10.0)
    health = api["health"]
    assert (health["interval"], health["retries"], health["start_period"]) == (2.0, 3, 60.0)
    assert doc["start_order"] == ["db", "api"]


def test_config_text_and_a_bad_stack_file(stack: Stack) -> None:
    stack.toml(f"[services.api]\ncommand = {q(PY)}\nport = 8000\n")
    r = stack.run("config")
    assert r.code == 0 and "\napi\n  command      " in r.out, r
    stack.toml(f"[services.api]\ncommand = {q(PY)}\nprot = 8000\n")
    r = stack.run("config")
    assert r.code == 2 and "Traceback" not in r.text
    assert r.err.strip() == "Error: stack.toml: services.api.prot: unknown key; did you mean 'port'?"


# --- devstack probe -----------------------------------------------------------------------------


def test_probe_runs_the_probe_once(stack: Stack) -> None:
    port = free_port()
    stack.write("server.py", HTTP_SERVER)
    stack.toml(f"""
        [services.api]
        command = [{q(PY)}, "server.py", "{port}"]
        health = {{ http = "http://127.0.0.1:{port}/", expect_json = {{ status = "OK" }} }}
    """)
    r = stack.run("probe", "api")
    assert r.code == 1 and r.out.startswith(f"api: connection refused on 127.0.0.1:{port}"), r
    stack.spawn("up")
    wait_until(lambda: stack.run("probe", "api").code == 0, 20, "the probe to pass")
    r = stack.run("probe", "api")
    assert r.out.startswith("api: OK in ") and r.out.rstrip().endswith(f"ms (127.0.0.1:{port})"), r


def test_probe_of_a_cmd_probe_gets_the_services_env_and_masks_it(stack: Stack) -> None:
    stack.write(".env", f"SECRET_VALUE={MARKER}\n")
    stack.toml(f"""
        [services.job]
        command = {q(PY)}
        health = {{ cmd = "echo \\"$SECRET_VALUE is wrong\\"; exit 3" }}
    """)
    r = stack.run("probe", "job")
    assert r.code == 1, r
    assert MARKER not in r.text and "****" in r.out, r


def test_probe_refuses_what_it_cannot_run_once(stack: Stack) -> None:
    stack.toml(f"""
        [services.web]
        command = {q(PY)}
        health = {{ log = "ready" }}
        [services.plain]
        command = {q(PY)}
    """)
    r = stack.run("probe", "web")
    assert r.code == 2, r
    assert r.err.strip() == ("Error: service 'web' has a log probe, which watches the output of the process "
                             "devstack runs; it cannot be run once")
    r = stack.run("probe", "plain")
    assert r.code == 2 and "has no health probe" in r.err, r
    r = stack.run("probe", "wbe")
    assert r.code == 2 and r.err.strip() == (
        "Error: No service named 'wbe'; did you mean 'web'? Known services: web, plain.")


# --- exports of the demo stack and examples/hello -------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "export_golden"
UPDATE = os.environ.get("DEVSTACK_UPDATE_GOLDEN") == "1"
TOOLS = Path(sys.executable).parent  # check-jsonschema, hadolint, kubernetes-validate: the test extra
KINDS = ("compose", "systemd", "kubernetes")
_SKIPPED = shutil.ignore_patterns("node_modules", "venv", ".venv", "target", ".devstack", "__pycache__",
                                  ".env")


@dataclass
class Copy:
    """A copy of a stack in a temporary folder, set up as `devstack setup` leaves it."""

    root: Path
    bin: Path  # the only folder on PATH: stand-ins for the programs the services run

    def run(self, *args: str) -> Run:
        env = {"PATH": str(self.bin), "HOME": str(self.root.parent), "NO_COLOR": "1"}
        proc = subprocess.run([PY, "-m", "devstack", *args], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def normalise(self, text: str) -> str:
        """Without what differs between machines: the folders, the interpreter, the user."""
        text = text.replace(str(self.root), "@ROOT@").replace(str(self.bin), "@BIN@")
        text = text.replace(sys.executable, "@PYTHON@")
        return re.sub(r"^User=.*$", "User=@USER@", text, flags=re.M)


def _stub(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def _copy(tmp_path: Path, name: str) -> Copy:
    root, bin_dir = tmp_path / name, tmp_path / "bin"
    for program in ("java", "npm", "python3", "pg_isready"):
        _stub(bin_dir / program)
    if name == "lifebit":
        root.mkdir()
        shutil.copy(REPO / "stack.toml", root / "stack.toml")
        shutil.copytree(REPO / "demo", root / "demo", ignore=_SKIPPED)
        ai = root / "demo" / "ai-api"
        shutil.copy(ai / ".env.example", ai / ".env")  # as `devstack setup ai-api` does
        (ai / "venv").mkdir()
        (ai / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.7\n")
        _stub(ai / "venv" / "bin" / "uvicorn")
    else:
        shutil.copytree(REPO / "examples" / name, root, ignore=_SKIPPED)
    return Copy(root, bin_dir)


@pytest.fixture(params=["lifebit", "hello"])
def copy(request: pytest.FixtureRequest, tmp_path: Path) -> Copy:
    return _copy(tmp_path, request.param)


def _exported(copy: Copy, kind: str) -> tuple[dict[str, str], str]:
    """{file: text} under deploy/KIND (written by -o for compose), and the export's stderr."""
    r = copy.run("export", kind, *(["-o", "deploy/compose"] if kind == "compose" else []))
    assert r.code == 0 and "Traceback" not in r.err, r
    folder = copy.root / "deploy" / kind
    files = {p.relative_to(folder).as_posix(): p.read_text()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    return files, r.err


def test_exports_match_the_golden_files(copy: Copy) -> None:
    for kind in KINDS:
        files, err = _exported(copy, kind)
        files[f"{kind}.stderr"] = err
        if kind == "compose":
            r = copy.run("export", "compose")
            files["compose.stdout.yaml"], files["compose.stdout.stderr"] = r.out, r.err
        golden = GOLDEN / copy.root.name / kind
        actual = {name: copy.normalise(text) for name, text in files.items()}
        if UPDATE:
            shutil.rmtree(golden, ignore_errors=True)
            for name, text in actual.items():
                (golden / name).parent.mkdir(parents=True, exist_ok=True)
                (golden / name).write_text(text)
        expected = {p.relative_to(golden).as_posix(): p.read_text() for p in golden.rglob("*") if p.is_file()}
        assert sorted(actual) == sorted(expected), f"{kind}: files differ (DEVSTACK_UPDATE_GOLDEN=1 rewrites)"
        for name, text in actual.items():
            assert text == expected[name], f"{kind}/{name} differs from the golden file"


def test_compose_validates_against_the_compose_specification(copy: Copy) -> None:
    _exported(copy, "compose")
    folder = copy.root / "deploy" / "compose"
    r = subprocess.run([TOOLS / "check-jsonschema", "--builtin-schema", "vendor.compose-spec",
                        folder / "compose.yaml"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    stdout = folder.parent / "stdout-compose.yaml"
    stdout.write_text(copy.run("export", "compose").out)
    r = subprocess.run([TOOLS / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", stdout],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_dockerfile_passes_hadolint(copy: Copy) -> None:
    files, _ = _exported(copy, "compose")
    dockerfiles = [copy.root / "deploy" / "compose" / name for name in files if name.endswith("/Dockerfile")]
    assert len(dockerfiles) == (4 if copy.root.name == "lifebit" else 2)
    for dockerfile in dockerfiles:
        r = subprocess.run([TOOLS / "hadolint", "--no-color", dockerfile], capture_output=True, text=True)
        assert (r.returncode, r.stdout + r.stderr) == (0, ""), dockerfile
    # the linter does judge: an instruction it does not know fails it
    bad = copy.root / "Dockerfile.bad"
    bad.write_text("FROM python:3.11-slim\nCOPPY . .\n")
    assert subprocess.run([TOOLS / "hadolint", "--no-color", bad], capture_output=True).returncode != 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian: apt-get install systemd)")
def test_every_unit_passes_systemd_analyze_verify(copy: Copy) -> None:
    files, _ = _exported(copy, "systemd")
    folder = copy.root / "deploy" / "systemd"
    units = [folder / name for name in files]
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    assert {u.suffix for u in units} == {".service", ".target"}


def test_every_manifest_validates_against_the_kubernetes_schemas(copy: Copy) -> None:
    files, _ = _exported(copy, "kubernetes")
    manifests = [copy.root / "deploy" / "kubernetes" / name for name in files]
    r = subprocess.run([TOOLS / "kubernetes-validate", "--strict", "--quiet", *manifests],
                       capture_output=True, text=True)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    single = copy.root / "all.yaml"
    assert copy.run("export", "kubernetes", "-o", str(single)).code == 0
    r = subprocess.run([TOOLS / "kubernetes-validate", "--strict", "--quiet", single], capture_output=True,
                       text=True)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


# --- secrets never leave -----------------------------------------------------------------------


def test_no_value_from_an_env_file_or_of_a_secret_name_reaches_any_output(copy: Copy) -> None:
    toml = copy.root / "stack.toml"
    secret = "lifebit_pass"  # SPRING_DATASOURCE_PASSWORD in the demo's stack.toml
    text = toml.read_text()
    if copy.root.name == "hello":
        text = text.replace("[services.api]", f'[services.api]\nenv = {{ API_TOKEN = "{secret}" }}')
    toml.write_text(text.replace("[stack]", '[stack]\nenv_file = "stack.env"', 1))
    (copy.root / "stack.env").write_text(f"STACK_SETTING={MARKER}-stack\nSHARED_URL=http://localhost:1/{MARKER}\n")
    for folder in {copy.root / s["cwd"] for s in json.loads(copy.run("config", "--json").out)["services"]}:
        relative = folder.relative_to(copy.root)
        (folder / ".env").write_text(f"SETTING={MARKER}-{relative}\nDATABASE_URL=postgres://u:{MARKER}@x/db\n")
    seen = []
    for kind in KINDS:
        files, err = _exported(copy, kind)
        seen += [err, *files.values()]
    r = copy.run("export", "compose")
    seen += [r.out, r.err]
    r = copy.run("config")
    seen += [r.out, r.err]
    for text in seen:
        assert MARKER not in text and secret not in text
    assert any("env_file" in text for text in seen)  # the files are referenced


# --- the round trip: what each engine got, read back, is what devstack config says --------------


def _config(copy: Copy) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in json.loads(copy.run("config", "--json").out)["services"]}


def _statuses(text: str) -> str | list[int]:
    """The statuses a check passes, as `devstack config` writes them."""
    for pattern in (r"(\d{3})<=r\.status<=(\d{3})", r"r\.status>=(\d{3})&&r\.status<=(\d{3})",
                    r"^(\d{3})-(\d{3})$"):
        match = re.search(pattern, text, re.M)
        if match:
            return f"{match.group(1)}-{match.group(2)}"
    match = re.search(r"r\.status in \(([\d, ]+)\)|\[([\d,]+)\]\.includes|^([\d,]+)$", text, re.M)
    assert match, text
    return [int(code) for code in re.findall(r"\d{3}", match.group(0))]


def _http_check(words: list[str], health: dict[str, Any]) -> None:
    text = "\n".join(words)
    url = urlsplit(re.search(r"https?://[^'\"\s]+", text).group(0))  # type: ignore[union-attr]
    assert (url.port, url.path) == (health["port"], health["path"])
    assert _statuses(text) == health["expect_status"]
    if health["expect_json"] is not None:
        assert json.dumps(health["expect_json"], separators=(",", ":")) in text


def test_compose_round_trip(copy: Copy) -> None:
    config = _config(copy)
    _exported(copy, "compose")
    services = yaml.safe_load((copy.root / "deploy" / "compose" / "compose.yaml").read_text())["services"]
    back = {"service_healthy": "healthy", "service_started": "started",
            "service_completed_successfully": "completed"}
    for name, want in config.items():
        svc = services[name]
        depends = {dep: back[d["condition"]] for dep, d in svc.get("depends_on", {}).items()}
        assert depends == want["depends_on"]
        assert svc["restart"] == (f"on-failure:{want['max_restarts']}" if want["restart"] == "on-failure"
                                  else want["restart"])
        assert svc["stop_signal"] == want["stop_signal"]
        assert _duration(svc["stop_grace_period"]) == want["stop_timeout"]
        health, check = want["health"], svc["healthcheck"]
        timing = (_duration(check["interval"]), _duration(check["timeout"]), check["retries"],
                  _duration(check["start_period"]))
        assert timing == (health["interval"], health["timeout"], health["retries"], health["start_period"])
        if health["kind"] == "http":
            _http_check(check["test"], health)
        elif health["kind"] == "cmd":
            assert check["test"] == ["CMD-SHELL", health["target"]]
        else:
            assert str(health["port"]) in " ".join(check["test"])


def test_systemd_round_trip(copy: Copy) -> None:
    config = _config(copy)
    files, _ = _exported(copy, "systemd")
    prefix = json.loads(copy.run("config", "--json").out)["stack"]
    for name, want in config.items():
        unit: dict[str, list[str]] = {}
        for line in files[f"{prefix}-{name}.service"].splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                unit.setdefault(key, []).append(value)
        units = {dep: f"{prefix}-{dep}.service" for dep in want["depends_on"]}
        assert sorted(unit.get("Requires", []) + unit.get("Wants", [])) == sorted(units.values())
        ordered = [u for dep, u in units.items() if want["depends_on"][dep] != "started"]
        assert unit.get("After", []) == ordered
        assert unit["Restart"] == [want["restart"]]
        assert unit["RestartSec"] == [_systemd_span(want["backoff"])]
        assert unit["KillSignal"] == [want["stop_signal"]] and unit["KillMode"] == ["mixed"]
        assert unit["TimeoutStopSec"] == [_systemd_span(want["stop_timeout"])]
        assert unit["TimeoutStartSec"] == [_systemd_span(want["health"]["start_period"])]
        assert unit["ExecStartPost"][0].endswith(f"probe {name}; do sleep 1; done\"")


def test_kubernetes_round_trip(copy: Copy) -> None:
    config = _config(copy)
    files, _ = _exported(copy, "kubernetes")
    for name, want in config.items():
        docs = {d["kind"]: d for d in yaml.safe_load_all(files[f"{name}.yaml"])}
        pod = docs["Deployment"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        health, ready = want["health"], container["readinessProbe"]
        assert (ready["periodSeconds"], ready["timeoutSeconds"], ready["failureThreshold"]) == (
            health["interval"], health["timeout"], health["retries"])
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] == health["start_period"]
        if "httpGet" in ready:
            assert (ready["httpGet"]["port"], ready["httpGet"]["path"]) == (health["port"], health["path"])
            assert health["expect_status"] == "200-399" and health["expect_json"] is None
        elif "tcpSocket" in ready:
            assert ready["tcpSocket"]["port"] == health["port"]
        elif health["kind"] == "cmd":
            assert ready["exec"]["command"] == ["/bin/sh", "-c", health["target"]]
        else:
            _http_check(ready["exec"]["command"], health)
        waited = [c["name"].removeprefix("wait-for-") for c in pod.get("initContainers", [])]
        healthy = [dep for dep, cond in want["depends_on"].items()
                   if cond == "healthy" and config[dep]["port"] and not config[dep]["optional"]]
        assert waited == healthy
        assert pod["terminationGracePeriodSeconds"] == want["stop_timeout"]
        assert ("Service" in docs) == (want["port"] is not None)


def _duration(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


def _systemd_span(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


# --- the generated checks judge as devstack's own probe does ----------------------------------


class _Scenarios(http.server.BaseHTTPRequestHandler):
    ANSWERS: ClassVar[dict[str, tuple[int, str]]] = {
        "/ok": (200, '{"status": "OK", "deep": {"n": 1, "list": [1, 2]}}'),
        "/down": (200, '{"status": "DOWN"}'),
        "/fail": (503, '{"status": "OK"}'),
        "/moved": (302, ""),
        "/text": (200, "hello app"),
    }

    def do_GET(self) -> None:
        status, body = self.ANSWERS.get(self.path, (404, ""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 302:
            self.send_header("Location", "/ok")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


CASES = [  # path, expect_status, expect_json, expect_text
    ("/ok", None, {"status": "OK"}, None), ("/down", None, {"status": "OK"}, None),
    ("/fail", None, None, None), ("/fail", [503], None, None), ("/moved", None, None, None),
    ("/moved", [200], None, None), ("/text", None, None, "app"), ("/text", None, {"status": "OK"}, None),
    ("/ok", None, {"deep": {"n": 1}}, None), ("/ok", None, {"deep": {"n": True}}, None),
    ("/ok", None, {"deep": {"list": [1, 2]}}, None), ("/missing", [404, 410], None, None),
]
# A JVM costs a second of CPU per run: the Java checker gets the cases that exercise each rule once.
JAVA_CASES = {0, 1, 3, 5, 6, 9}


# pytest-timeout: every case runs under each engine's health checker, each run allowed 60 s.
@pytest.mark.timeout(300)
def test_the_health_checks_images_run_agree_with_devstacks_probe(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scenarios)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    java = shutil.which("javac") is not None and shutil.which("java") is not None
    if java:
        (tmp_path / "Probe.java").write_text(JAVA_PROBE)
        subprocess.run(["javac", "-d", tmp_path, tmp_path / "Probe.java"], check=True)
    runtimes = {"py": "requirements.txt", "web": "package.json", "jvm": "pom.xml"}
    runs: list[tuple[list[str], bool, str]] = []  # argv, what devstack's probe said, the case
    try:
        for number, (path, statuses, body, text) in enumerate(CASES):
            health: dict[str, Any] = {"http": f"http://127.0.0.1:{port}{path}", "timeout": 5}
            health.update({k: v for k, v in (("expect_status", statuses), ("expect_json", body),
                                             ("expect_text", text)) if v is not None})
            root = tmp_path / f"case{number}"
            toml = ""
            for name, marker in runtimes.items():
                (root / name).mkdir(parents=True)
                (root / name / marker).write_text("{}" if marker.endswith(".json") else "")
                toml += f'[services.{name}]\ncwd = "{name}"\ncommand = "run"\nhealth = {_inline(health)}\n'
            (root / "stack.toml").write_text(toml)
            stack = build(load_stack(root / "stack.toml"), {})
            expected = asyncio.run(probe_http(stack.service("py").spec.health)).ok  # type: ignore[arg-type]
            for name in runtimes:
                if name == "jvm" and number not in JAVA_CASES:
                    continue
                check, why = checks.for_service(stack.service(name))
                assert check is not None, why
                argv = list(check.argv)
                if argv[0] == "python":
                    argv[0] = sys.executable
                elif argv[0] == "java" and java:
                    argv[2] = str(tmp_path)
                elif shutil.which(argv[0]) is None:
                    continue  # no node or java on this machine
                runs.append((argv, expected, f"{name} {health}"))
        # the JVM takes a second or two to start on a busy machine: several at once
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda run: subprocess.run(run[0], capture_output=True, text=True,
                                                               timeout=60), runs))
        for (_, expected, case), result in zip(runs, results, strict=True):
            assert (result.returncode == 0) == expected, (case, result.stderr)
        assert len(runs) >= len(CASES)
    finally:
        server.shutdown()
        server.server_close()


def _inline(table: dict[str, Any]) -> str:
    """A dict as a TOML inline table (JSON spells TOML's strings, numbers, booleans and arrays)."""
    return "{ " + ", ".join(f"{key} = {_inline(value) if isinstance(value, dict) else json.dumps(value)}"
                           for key, value in table.items()) + " }"


# --- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_one_plain_error_and_exit_2(stack: Stack) -> None:
    stack.toml(f"[services.api]\ncommand = {q(PY)}\n")
    r = stack.run("export", "compse")
    assert (r.code, r.err.strip()) == (2, "Error: cannot export to 'compse'; did you mean 'compose'? Choose "
                                          "compose, systemd or kubernetes.")
    (stack.root / "afile").write_text("")
    r = stack.run("export", "systemd", "-o", "afile/units")
    assert r.code == 2 and "Traceback" not in r.text
    unit = stack.root / "afile" / "units" / f"{stack.root.name}-api.service"
    assert r.err.strip() == (f"Error: cannot write {unit}: {stack.root}/afile is a file, not a folder. "
                             "Name a folder you can write to with -o.")
    r = stack.run("export", "kubernetes", "-o", "/proc/devstack-export")
    assert (r.code, r.err.strip()) == (2, "Error: cannot write /proc/devstack-export: no such file or "
                                          "directory. Name a folder you can write to with -o.")
    stack.toml(f"[services.api]\ncommand = {q(PY)}\nport = 0\n")
    r = stack.run("export", "compose")
    assert (r.code, r.err.strip()) == (2, "Error: stack.toml: services.api.port: expected an integer from "
                                          "1 to 65535, got 0")
