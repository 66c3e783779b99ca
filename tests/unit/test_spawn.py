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


def test_tree_walk_finds_the_same_processes_as_psutil() -> None:
    """spawn.tree() walks /proc/PID/task/TID/children; it must agree with psutil's full scan,
    grandchildren and children of a background subshell included."""
    import subprocess
    import time

    import psutil

    from devstack.spawn import tree

    proc = subprocess.Popen(["sh", "-c", "sleep 60 & (sleep 61 & sleep 62; wait) & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(psutil.Process(proc.pid).children(recursive=True)) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        expected = {proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))}
        assert len(expected) == 5
        assert {p.pid for p in tree(proc.pid)} == expected
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()
