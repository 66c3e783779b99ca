"""`devstack config`, `devstack probe` and `devstack export` through the real CLI.

The exports are checked by each engine's own rules, offline (no Docker engine or cluster here):
the Compose Specification's JSON schema (check-jsonschema's vendor.compose-spec), hadolint for
every Dockerfile, `systemd-analyze verify` for every unit, kubernetes-validate (the Kubernetes
API schemas) for every manifest. The demo stack and examples/hello are also compared with golden
files in tests/export_golden/, which DEVSTACK_UPDATE_GOLDEN=1 rewrites (review the diff).
"""

from __future__ import annotations

import json

from harness import HTTP_SERVER, PY, Stack, free_port, q, wait_until

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
        "Error: No service named 'wbe'. Did you mean 'web'? Known services: web, plain.")
