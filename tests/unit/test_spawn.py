"""How a service's command becomes an argv."""

from __future__ import annotations

import pytest

from devstack.spawn import shell_argv


@pytest.mark.parametrize(("command", "script"), [
    ("uvicorn main:app --port $PORT", "exec uvicorn main:app --port $PORT"),
    ("./run.sh > out.log", "exec ./run.sh > out.log"),
    ("./run.sh 2>&1", "./run.sh 2>&1"),  # conservative: any & keeps the shell
    ("npm run dev", "exec npm run dev"),
    ("cd web && npm start", "cd web && npm start"),
    ("a; b", "a; b"),
    ("sleep 1 | cat", "sleep 1 | cat"),
    ("echo $(date)", "echo $(date)"),
    ("FOO=1 python app.py", "FOO=1 python app.py"),
    ("exec python app.py", "exec python app.py"),
    ("cd /tmp", "cd /tmp"),
    ("if true; then sleep 1; fi", "if true; then sleep 1; fi"),
    ("python -c 'print(1)\nprint(2)'", "python -c 'print(1)\nprint(2)'"),
])
def test_simple_command_strings_are_execd(command: str, script: str) -> None:
    assert shell_argv(command) == ["/bin/sh", "-c", script]


def test_arrays_run_directly() -> None:
    assert shell_argv(("python", "-c", "print(1); print(2)")) == ["python", "-c", "print(1); print(2)"]
