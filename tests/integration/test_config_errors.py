"""Bad configuration through the real CLI: exit 2, one plain message, nothing started."""

from __future__ import annotations

import pytest

from tests.support.harness import PY, Stack, q

CASES = {
    "toml_syntax": (
        '[services.api]\ncommand = "python -c\nport = 8000\n',
        "Error: stack.toml:2:{col}: invalid TOML: ",
    ),
    "misspelt_key": (
        f'[services.api]\ncomand = {q(PY)}\n',
        "Error: stack.toml: services.api.comand: unknown key; did you mean 'command'?",
    ),
    "cycle": (
        f'[services.a]\ncommand = {q(PY)}\ndepends_on = ["b"]\n'
        f'[services.b]\ncommand = {q(PY)}\ndepends_on = ["a"]\n',
        "Error: stack.toml: services: dependency cycle: a → b → a",
    ),
    "bad_port": (
        f'[services.api]\ncommand = {q(PY)}\nport = "80a"\n',
        'Error: stack.toml: services.api.port: expected an integer from 1 to 65535, got "80a"',
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_is_one_plain_error_and_exit_2(stack: Stack, case: str) -> None:
    text, expected = CASES[case]
    stack.write("stack.toml", text)
    r = stack.run("up", "-d")
    assert r.code == 2, r
    assert "Traceback" not in r.text
    if "{col}" in expected:
        assert r.err.startswith(expected.split("{col}")[0]), r.err
    else:
        assert expected in r.err.strip().splitlines(), r.err
    assert not (stack.root / ".devstack" / "run" / "control.sock").exists()


def test_debug_shows_the_traceback(stack: Stack) -> None:
    stack.write("stack.toml", '[services.api]\ncomand = "x"\n')
    r = stack.run("--debug", "up", "-d")
    assert r.code == 2 and "Traceback" in r.err


def test_no_stack_file_anywhere(stack: Stack) -> None:
    r = stack.run("status")
    assert r.code == 2
    assert "no stack.toml or Procfile here or in any parent folder" in r.err
