"""config.diff: what `up` after an edit of stack.toml restarts, starts and stops, as a table of
edits (each side read by the real loader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config.diff import StackChanges, diff_stacks
from devstack.config.specs import StackSpec
from devstack.config.stackfile import load_stack

BASE = """
[services.db]
command = "db --port 5432"
port = 5432
health = { tcp = "127.0.0.1:5432" }

[services.api]
cwd = "api"
command = ["uvicorn", "main:app"]
depends_on = ["db"]
env = { MODE = "dev" }
"""

# (name, old text, new text, added, removed, changed)
EDITS: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]]]] = [
    ("nothing", BASE, BASE, (), (), {}),
    ("comments_and_order_of_keys", BASE, "# a comment\n" + BASE.replace(
        'port = 5432\nhealth = { tcp = "127.0.0.1:5432" }',
        'health = { tcp = "127.0.0.1:5432" }\nport = 5432'), (), (), {}),
    ("a_port", BASE, BASE.replace("port = 5432", "port = 5433"), (), (), {"db": ("port",)}),
    ("a_probe_timing", BASE, BASE.replace('5432" }', '5432", interval = "1m" }'), (), (),
     {"db": ("health",)}),
    ("a_default_written_out", BASE, BASE.replace("port = 5432", 'port = 5432\nstop_timeout = "10s"'),
     (), (), {}),
    ("an_env_value", BASE, BASE.replace('"dev"', '"prod"'), (), (), {"api": ("env",)}),
    ("two_keys_in_file_order", BASE, BASE.replace('cwd = "api"', 'cwd = "app"').replace('"dev"', '"x"'),
     (), (), {"api": ("cwd", "env")}),
    ("string_to_array_same_words", BASE, BASE.replace('command = "db --port 5432"',
                                                      'command = ["db", "--port", "5432"]'),
     (), (), {"db": ("command",)}),
    ("venv_off", BASE, BASE.replace('cwd = "api"', 'cwd = "api"\nvenv = false'), (), (),
     {"api": ("venv",)}),
    ("env_file", BASE, BASE.replace('cwd = "api"', 'cwd = "api"\nenv_file = "dev.env"'), (), (),
     {"api": ("env_file",)}),
    ("a_new_service", BASE, BASE + '\n[services.web]\ncommand = "web"\n', ("web",), (), {}),
    ("a_removed_service", BASE, '[services.api]\ncwd = "api"\ncommand = ["uvicorn", "main:app"]\n'
     'env = { MODE = "dev" }\n', (), ("db",), {"api": ("depends_on",)}),
    ("a_renamed_service", BASE,
     BASE.replace("[services.db]", "[services.pg]").replace('["db"]', '["pg"]'),
     ("pg",), ("db",), {"api": ("depends_on",)}),
    ("the_stack_env_file_reaches_everyone", BASE, '[stack]\nenv_file = ".env"\n' + BASE, (), (),
     {"db": ("stack.env_file",), "api": ("stack.env_file",)}),
    ("the_stack_name_alone", BASE, '[stack]\nname = "other"\n' + BASE, (), (), {}),
]


@pytest.mark.parametrize(("name", "old", "new", "added", "removed", "changed"), EDITS,
                         ids=[e[0] for e in EDITS])
def test_diff(tmp_path: Path, name: str, old: str, new: str, added: tuple[str, ...],
              removed: tuple[str, ...], changed: dict[str, tuple[str, ...]]) -> None:
    got = diff_stacks(read(tmp_path / "old", old), read(tmp_path / "new", new))
    assert got == StackChanges(added, removed, changed)
    assert got.empty == (not (added or removed or changed))


def read(folder: Path, text: str) -> StackSpec:
    # Both readings from one folder, as `up` reads the same file twice: paths compare equal.
    folder = folder.parent / "stack"
    folder.mkdir(exist_ok=True)
    (folder / "stack.toml").write_text(text)
    return load_stack(folder / "stack.toml")
