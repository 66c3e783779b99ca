"""Procfile loading: read as honcho reads it, except that no line is dropped in silence."""

from __future__ import annotations

from pathlib import Path

import pytest
from honcho.environ import parse_procfile

from devstack.config.procfile import load_procfile
from devstack.config.specs import Restart, ServiceSpec
from devstack.errors import ConfigError
from tests.support.files import write

GOOD = """\
# the usual two
web: python -m http.server $PORT

worker:python worker.py --queue "a: b"
   # an indented comment
clock_2: sh -c 'sleep 1; echo tick'
"""


def problems_of(path: Path) -> str:
    with pytest.raises(ConfigError) as excinfo:
        load_procfile(path)
    return str(excinfo.value)


def test_each_line_is_a_service(tmp_path: Path) -> None:
    stack = load_procfile(write(tmp_path / "Procfile", GOOD))
    root = tmp_path.resolve()
    assert (stack.name, stack.root, stack.source, stack.from_procfile, stack.env_file) == (
        tmp_path.name,
        root,
        root / "Procfile",
        True,
        None,
    )
    assert list(stack.services) == ["web", "worker", "clock_2"]
    assert stack.services["web"] == ServiceSpec(
        name="web",
        command="python -m http.server $PORT",
        cwd=root,
        restart=Restart.ON_FAILURE,
        env={"PORT": "5000"},
    )
    assert stack.services["worker"].command == 'python worker.py --queue "a: b"'
    assert [s.env["PORT"] for s in stack.services.values()] == ["5000", "5100", "5200"]
    assert all(s.health is None and s.port is None and not s.depends_on for s in stack.services.values())


def test_commands_are_what_honcho_reads(tmp_path: Path) -> None:
    stack = load_procfile(write(tmp_path / "Procfile", GOOD))
    assert {n: s.command for n, s in stack.services.items()} == dict(parse_procfile(GOOD).processes)


def test_a_dotenv_beside_it_is_the_stack_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\n")
    assert load_procfile(write(tmp_path / "Procfile", "web: a\n")).env_file == tmp_path.resolve() / ".env"


def test_windows_line_endings(tmp_path: Path) -> None:
    stack = load_procfile(write(tmp_path / "Procfile", "web: a\r\nworker: b\r\n"))
    assert {n: s.command for n, s in stack.services.items()} == {"web": "a", "worker": "b"}


def test_bad_lines_are_named_not_dropped(in_tmp: Path) -> None:
    text = "web: a\nworker python worker.py\n  indented: b\nempty:\nblank:   \nweb: again\n-dash: c\n"
    assert problems_of(write(in_tmp / "Procfile", text)) == "\n".join(
        [
            "Procfile:2: not a Procfile line; expected 'name: command'",
            "Procfile:3: not a Procfile line; expected 'name: command'",
            "Procfile:4: not a Procfile line; expected 'name: command'",
            "Procfile:5: not a Procfile line; expected 'name: command'",
            "Procfile:6: process 'web' is already defined on line 1",
            "Procfile:7: process name '-dash' must start with a letter or digit",
        ]
    )


def test_a_name_honcho_cannot_read(in_tmp: Path) -> None:
    assert problems_of(write(in_tmp / "Procfile", "web.1: a\n")) == (
        "Procfile:1: not a Procfile line; expected 'name: command'"
    )


def test_an_empty_procfile(in_tmp: Path) -> None:
    assert problems_of(write(in_tmp / "Procfile", "# nothing yet\n\n")) == (
        "Procfile: no processes defined; add a line like 'web: python app.py'"
    )


def test_a_missing_procfile(in_tmp: Path) -> None:
    assert problems_of(in_tmp / "Procfile") == "Procfile: cannot read: No such file or directory"


def test_problems_have_line_numbers(in_tmp: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_procfile(write(in_tmp / "Procfile", "web: a\nnope\n"))
    [problem] = excinfo.value.problems
    assert (problem.file, problem.key, problem.line, problem.column) == ("Procfile", "", 2, None)
