"""`devstack export systemd`: units whose start waits for the probe, ordered by depends_on."""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.export.systemd import quote_word
from tests.support.exporting import export, stack_in


def _keys(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_exec_words_escape_what_systemd_would_expand() -> None:
    assert quote_word("/usr/bin/java") == "/usr/bin/java"
    assert quote_word("a b") == '"a b"'
    assert quote_word('say "hi" $HOME 100%') == '"say \\"hi\\" $$HOME 100%%"'
    assert quote_word("") == '""'


def test_a_start_completes_when_devstacks_own_probe_passes(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [stack]
        name = "shop"
        [services.api]
        command = "python app.py --port 8000"
        port = 8000
        stop_signal = "SIGINT"
        stop_timeout = "20s"
        backoff = "2s"
        health = { http = "http://localhost:8000/", start_period = "45s" }
    """)
    files, _ = export("systemd", stack, tmp_path / "out")
    unit = _keys(files["shop-api.service"])
    assert unit["Type"] == ["exec"]
    assert unit["ExecStart"] == [f"{tmp_path}/bin/python app.py --port 8000"]
    assert unit["ExecStartPost"] == [
        f'/bin/sh -c "until {sys.executable} -m devstack -f {tmp_path}/s/stack.toml probe api; '
        'do sleep 1; done"']
    assert unit["TimeoutStartSec"] == ["45s"]
    assert (unit["KillMode"], unit["KillSignal"], unit["TimeoutStopSec"]) == (["mixed"], ["SIGINT"], ["20s"])
    assert (unit["Restart"], unit["RestartSec"], unit["StartLimitBurst"]) == (["on-failure"], ["2s"], ["6"])
    assert unit["WorkingDirectory"] == [f"{tmp_path}/s"]
    assert unit["PartOf"] == ["shop.target"] and unit["WantedBy"] == ["shop.target"]
    assert _keys(files["shop.target"])["Wants"] == ["shop-api.service"]


def test_dependencies_order_and_require_by_condition(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.db]
        command = "python db.py"
        health = { tcp = "127.0.0.1:5432" }
        [services.migrate]
        command = "python migrate.py"
        restart = "always"
        [services.cache]
        command = "python cache.py"
        optional = true
        [services.api]
        command = "python api.py"
        depends_on = { db = "healthy", migrate = "completed", cache = "started" }
    """)
    files, notes = export("systemd", stack, tmp_path / "out")
    api = _keys(files["s-api.service"])
    assert api["Requires"] == ["s-db.service", "s-migrate.service"]
    assert api["Wants"] == ["s-cache.service"]
    assert api["After"] == ["s-db.service", "s-migrate.service"]  # not cache: started only
    migrate = _keys(files["s-migrate.service"])
    assert (migrate["Type"], migrate["RemainAfterExit"]) == (["oneshot"], ["yes"])
    assert migrate["Restart"] == ["on-failure"]
    assert "ExecStartPost" not in migrate
    assert _keys(files["s-cache.service"])["ExecStartPost"] == ["/bin/sleep 1"]  # running after 1 s alive
    assert ("api: starts alongside cache (condition started): a systemd start of cache completes only once "
            "its probe passes") in notes.warnings
    assert any(w.startswith("migrate: restart always: a job others wait on") for w in notes.warnings)
    assert any(w.startswith("cache: optional: its dependents want it (Wants=)") for w in notes.warnings)


def test_env_files_by_reference_plain_env_written_secrets_in_their_own_file(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [stack]
        env_file = "shared.env"
        [services.api]
        command = "python app.py"
        venv = "venv"
        env = { LOG = "50%", API_TOKEN = "t0ken-marker", SHARED = "x" }
    """, {"shared.env": "SHARED=y\nREF=${HOME}\n", ".env": "K=v-marker\n", "venv/pyvenv.cfg": "",
          "venv/bin/python": "#!/bin/sh\n"})
    files, notes = export("systemd", stack, tmp_path / "out")
    text = files["s-api.service"]
    assert "marker" not in text
    unit = _keys(text)
    assert unit["EnvironmentFile"] == [f"{tmp_path}/s/shared.env", f"{tmp_path}/s/.env",
                                       f"{tmp_path}/out/api.secrets.env"]
    assert unit["Environment"] == [f'"VIRTUAL_ENV={tmp_path}/s/venv"',
                                   f'"PATH={tmp_path}/s/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:'
                                   '/usr/bin:/sbin:/bin"', '"LOG=50%%"', '"SHARED=x"', '"PYTHONUNBUFFERED=1"']
    assert unit["ExecStart"] == [f"{tmp_path}/s/venv/bin/python app.py"]
    assert ("api: SHARED is set by an env file and by stack.toml's env: systemd lets the file's value win"
            in notes.warnings)
    # once, for the stack's env file, not per service
    assert f"{tmp_path}/s/shared.env uses ${{VAR}}, which systemd does not expand as devstack does: the " \
           "service gets the text as written" in notes.warnings
    said = "API_TOKEN not written (secret): put API_TOKEN=… in api.secrets.env"
    assert any(said in w for w in notes.warnings)


def test_a_log_probe_and_unhealthy_restarts_are_said(tmp_path: Path) -> None:
    stack = stack_in(tmp_path / "s", """
        [services.api]
        command = "python app.py"
        restart_on_unhealthy = true
        health = { log = "ready" }
        [services.job]
        command = "python job.py"
        restart = "no"
        [services.tool]
        command = "mytool --serve"
        setup = "make"
        required_env = ["LICENSE"]
    """)
    files, notes = export("systemd", stack, tmp_path / "out")
    assert _keys(files["s-api.service"])["ExecStartPost"] == ["/bin/sleep 1"]
    job = _keys(files["s-job.service"])
    assert job["Restart"] == ["no"] and "StartLimitBurst" not in job
    assert any(w.startswith("api: its log probe cannot run outside devstack") for w in notes.warnings)
    assert any(w.startswith("api: restart_on_unhealthy: systemd does not watch") for w in notes.warnings)
    assert _keys(files["s-tool.service"])["ExecStart"] == ["mytool --serve"]
    assert "tool: required_env (LICENSE) is not checked before it starts" in notes.warnings
    assert ("setup (tool): the units do not run it; run `devstack setup` once before starting them"
            in notes.warnings)
    assert any(w.startswith("tool: mytool is not on its PATH here: ExecStart= names it bare")
               for w in notes.warnings)
    assert notes.steps[-2:] == ["sudo systemctl enable --now s.target",
                                "journalctl -u 's-*' -f    # their output"]
