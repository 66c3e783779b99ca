"""How a service's command becomes an argv."""

from __future__ import annotations

import pytest

from devstack.process.spawn import shell_argv


@pytest.mark.parametrize(("command", "script"), [
    ("uvicorn main:app --port $PORT", "exec uvicorn main:app --port $PORT"),
    ("./run.sh > out.log", "exec ./run.sh > out.log"),
    ("./run.sh 2>&1", "./run.sh 2>&1"),  # conservative: any & keeps the shell
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


@pytest.mark.parametrize(("command", "argv"), [
    ("npm run dev", ["npm", "run", "dev"]),
    ("sleep 100000", ["sleep", "100000"]),
    ("  python3 -m http.server 8000 --bind 127.0.0.1 ", ["python3", "-m", "http.server", "8000", "--bind",
                                                          "127.0.0.1"]),
    ("java -Xmx256m -cp app.jar:lib/pg.jar Main", ["java", "-Xmx256m", "-cp", "app.jar:lib/pg.jar", "Main"]),
])
def test_plain_word_commands_skip_the_shell(command: str, argv: list[str]) -> None:
    assert shell_argv(command) == argv


@pytest.mark.parametrize(("command", "script"), [
    ("wait", "exec wait"),
    ("echo ~/x", "exec echo ~/x"),
    ("ls *.py", "exec ls *.py"),
    ("echo 'a  b'", "exec echo 'a  b'"),
    ("echo a\\ b", "exec echo a\\ b"),
])
def test_words_the_shell_would_change_keep_the_shell(command: str, script: str) -> None:
    assert shell_argv(command) == ["/bin/sh", "-c", script]


def test_arrays_run_directly() -> None:
    assert shell_argv(("python", "-c", "print(1); print(2)")) == ["python", "-c", "print(1); print(2)"]


