"""devstack as a user installs it: the sdist and wheel a release would build (from the files git
tracks, not this checkout's leftovers), the sdist carrying the docs and examples, the wheel
installed into a fresh venv and run through the README's walk of examples/hello in a fresh
environment; and devstack without setproctitle, which is optional."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import psutil
import pytest

from tests.support.dashboard import Dashboard
from tests.support.harness import PY, Stack, q
from tests.support.ports import free_port
from tests.support.repo import REPO, git_files
from tests.support.waiting import wait_until


def test_devstack_runs_without_setproctitle(stack: Stack) -> None:
    stack.toml(f'[services.idle]\ncommand = {q([PY, "-c", "import time; time.sleep(600)"])}\n')
    without = ("import sys; sys.modules['setproctitle'] = None\n"  # every import of it fails
               "from devstack.entry import main; sys.argv = ['devstack', 'up', '-d']; main()")
    up = subprocess.run([PY, "-c", without], cwd=stack.root, env=stack.env(), capture_output=True,
                        text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    pid = stack.status()["supervisor"]["pid"]
    assert psutil.Process(pid).name() == "devstack-super"  # named through /proc/self/comm instead
    assert stack.service("idle")["state"] == "running"


@pytest.mark.slow
@pytest.mark.timeout(900)  # pytest-timeout: builds the sdist and wheel, installs into a fresh venv
def test_the_sdist_and_wheel_install_and_run_the_readme_walk(tmp_path: Path, no_leftovers: str) -> None:
    source = tmp_path / "source"
    for name in git_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path / "dist"
    built = subprocess.run([PY, "-m", "build", "--outdir", str(dist), str(source)], capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("devstack-*.tar.gz")
    (wheel,) = dist.glob("devstack-*.whl")

    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        tar.extractall(tmp_path / "unpacked", filter="data")
    for wanted in ("LICENSE", "README.md", "docs/stack-toml.md", "docs/stack.schema.json",
                   "docs/diagnosis.md", "examples/hello/stack.toml", "examples/hello/api.py"):
        assert wanted in names, wanted
    assert not any("__pycache__" in name or "/.devstack/" in name for name in names)
    with zipfile.ZipFile(wheel) as whl:
        metadata = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(whl.read(metadata).decode())
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in whl.namelist())
    classifiers = meta.get_all("Classifier") or []
    requires = meta.get_all("Requires-Dist") or []
    assert meta["License-Expression"] == "MIT"
    assert "Operating System :: POSIX" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not [r for r in requires if r.startswith("setproctitle") and "extra" not in r]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                          str(wheel)], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    # A fresh shell: devstack found on PATH, nothing of this test run's own virtualenv.
    env = {"PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "NO_COLOR": "1", "DEVSTACK_TEST_RUN": no_leftovers}
    python3 = shutil.which("python3", path=env["PATH"])
    if python3 is None:
        pytest.skip("examples/hello runs python3, and no python3 is on a plain PATH here")

    def devstack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["devstack", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120)

    version = devstack("--version", cwd=tmp_path)
    assert version.returncode == 0 and "0.1.0" in version.stdout, version
    hello = tmp_path / "unpacked" / sdist.name.removesuffix(".tar.gz") / "examples" / "hello"
    toml = hello / "stack.toml"  # the example's fixed ports, moved to free ones for the test
    toml.write_text(toml.read_text().replace("15432", str(free_port())).replace("18001", str(free_port())))
    try:
        up = devstack("up", "-d", cwd=hello)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "api" in up.stdout and "healthy" in up.stdout
        logs = devstack("logs", "api", cwd=hello)
        assert logs.returncode == 0 and "api: listening on" in logs.stdout, logs
        _analyze_and_dashboard(hello, env)
    finally:
        down = devstack("down", cwd=hello)
    assert down.returncode == 0 and "stack hello is down." in down.stdout, down
    wait_until(lambda: not any(_tagged(no_leftovers)), 10, "no process of the stack left")


def _analyze_and_dashboard(hello: Path, env: dict[str, str]) -> None:
    """The README's "Seeing the stack" on examples/hello, from the installed wheel (whose page
    and its static files must have been packaged)."""
    analyze = subprocess.run(["devstack", "analyze", "--json"], cwd=hello, env=env, capture_output=True,
                             text=True, timeout=60)
    assert analyze.returncode == 0, analyze.stderr
    doc = json.loads(analyze.stdout)
    healthy = {s["name"]: s["healthy_s"] for s in doc["services"]}
    assert doc["critical_chain"] == ["db", "api"] and None not in healthy.values(), doc
    assert doc["ready_s"] == pytest.approx(healthy["api"], abs=0.002)
    ui = Dashboard(["devstack"], hello, env, "--port", "0")
    try:
        states = {s["name"]: s["state"] for s in ui.request("GET", "/api/v1/status").json()["services"]}
        assert states == {"db": "healthy", "api": "healthy"}
        assert b'<table id="services">' in ui.request("GET", "/", token=False).body
    finally:
        ui.stop()


def _tagged(tag: str) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get("DEVSTACK_TEST_RUN") == tag:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found
