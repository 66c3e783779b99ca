"""`devstack schema`: the JSON Schema of stack.toml agrees with the loader, key for key, and every
stack.toml of the repository (the demo's, the examples', the ones `devstack init` writes for the
fixture repositories, and every example in the docs) validates against it."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devstack.config import probes, stackfile
from devstack.config.schema import HEALTH, SERVICE, STACK, TOP, json_schema
from devstack.config.stackfile import load_stack
from devstack.errors import ConfigError
from devstack.init.detect import run as init_run
from devstack.init.toml_out import render

REPO = Path(__file__).resolve().parents[2]
# A ```toml block preceded by this comment is part of a file, not a whole stack.toml.
FRAGMENT = "<!-- part of a stack.toml -->"


def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(data: dict[str, Any]) -> list[str]:
    found = validator().iter_errors(data)
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found)


def test_the_schema_names_exactly_the_keys_the_loader_knows() -> None:
    assert list(TOP) == list(stackfile.TOP_KEYS)
    assert set(STACK) == set(stackfile.STACK_KEYS)
    assert set(SERVICE) == set(stackfile.SERVICE_KEYS)
    assert set(HEALTH) == set(probes.HEALTH_KEYS)
    defs = json_schema()["$defs"]
    assert list(defs["service"]["properties"]) == list(stackfile.SERVICE_KEYS)
    assert list(defs["health"]["properties"]) == list(probes.HEALTH_KEYS)
    assert list(defs["stack"]["properties"]) == list(stackfile.STACK_KEYS)


def test_a_key_the_loader_learns_without_the_schema_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import devstack.config.schema as schema

    monkeypatch.setattr(schema, "SERVICE_KEYS", (*stackfile.SERVICE_KEYS, "healthcheck"))
    with pytest.raises(AssertionError, match=r"service: the schema lacks \['healthcheck'\]"):
        schema.json_schema()


def test_the_schema_is_valid_draft_2020_12_and_the_shipped_copy_is_current() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())
    shipped = json.loads((REPO / "docs" / "stack.schema.json").read_text())
    assert shipped == json_schema(), "stale: run devstack schema > docs/stack.schema.json"


def stack_files() -> list[Path]:
    skip = {".venv", "node_modules", ".git", ".devstack"}
    return sorted(p for p in REPO.rglob("stack.toml") if not skip & set(p.relative_to(REPO).parts))


def test_every_stack_toml_of_the_repository_validates_and_loads() -> None:
    files = stack_files()
    assert REPO / "stack.toml" in files and REPO / "examples" / "hello" / "stack.toml" in files
    for path in files:
        assert errors(tomllib.loads(path.read_text())) == [], path
        load_stack(path)


def doc_examples() -> list[tuple[str, str]]:
    """(where, text) of every ```toml block of the README and docs/ that is a whole stack.toml."""
    found = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text()
        for match in re.finditer(r"(?m)^```toml\n(.*?)^```", text, re.S):
            before = text[: match.start()].rstrip().splitlines()[-1:]
            if before != [FRAGMENT]:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{doc.relative_to(REPO)}:{line}", match.group(1)))
    return found


def test_every_example_in_the_docs_validates_and_loads(tmp_path: Path) -> None:
    examples = doc_examples()
    assert len(examples) >= 5, examples  # the reference has several
    for where, text in examples:
        assert errors(tomllib.loads(text)) == [], where
        path = tmp_path / "stack.toml"
        path.write_text(text)
        try:
            load_stack(path)
        except ConfigError as exc:
            raise AssertionError(f"{where}: {exc}") from None


@pytest.mark.parametrize("repo", ["vite-fastapi", "spring-postgres"])
def test_what_init_writes_for_the_fixture_repositories_validates(repo: str) -> None:
    result = init_run(REPO / "tests" / "init_fixtures" / repo)
    text = render(result.services)
    assert errors(tomllib.loads(text)) == []


# Each broken file is refused by the loader and by the schema: an editor flags what `up` would.
BROKEN = {
    "no_command": '[services.api]\ncwd = "api"\n',
    "unknown_key": '[services.api]\ncommand = "a"\nhealthcheck = "b"\n',
    "unknown_top_key": 'version = 3\n[services.api]\ncommand = "a"\n',
    "bad_port": '[services.api]\ncommand = "a"\nport = 70000\n',
    "bad_duration": '[services.api]\ncommand = "a"\nstop_timeout = "banana"\n',
    "two_probe_kinds": '[services.api]\ncommand = "a"\nhealth = { tcp = "127.0.0.1:1", cmd = "true" }\n',
    "no_probe_kind": '[services.api]\ncommand = "a"\nhealth = { interval = "1s" }\n',
    "http_key_on_tcp": '[services.api]\ncommand = "a"\nhealth = { tcp = "127.0.0.1:1", expect_text = "x" }\n',
    "bad_condition": '[services.db]\ncommand = "d"\n[services.api]\ncommand = "a"\n'
                     'depends_on = { db = "ready" }\n',
    "bad_restart": '[services.api]\ncommand = "a"\nrestart = "sometimes"\n',
    "bad_name": '[services."my api"]\ncommand = "a"\n',
    "no_services": "[stack]\nname = \"x\"\n[services]\n",
    "venv_true": '[services.api]\ncommand = "a"\nvenv = true\n',
    "blank_command": '[services.api]\ncommand = " "\n',
    "bad_status": '[services.api]\ncommand = "a"\n'
                  'health = { http = "http://x/", expect_status = [200, 99] }\n',
    "bad_url": '[services.api]\ncommand = "a"\nhealth = { http = "localhost:8000/" }\n',
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_what_the_loader_refuses_the_schema_refuses(tmp_path: Path, name: str) -> None:
    text = BROKEN[name]
    path = tmp_path / "stack.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_stack(path)
    assert errors(tomllib.loads(text)) != [], name


def test_compound_durations_validate() -> None:
    for value in ("1h30m", "2m30s", "1d", "250ms", 5, 1.5, "10"):
        assert errors({"services": {"api": {"command": "a", "stop_timeout": value}}}) == [], value
