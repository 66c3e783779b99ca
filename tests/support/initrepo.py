"""Small fixture repositories for the `devstack init` unit tests, written to a tmp_path."""

from __future__ import annotations

import json
import textwrap
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.init.detect import Result, run
from devstack.init.model import Service
from devstack.init.toml_out import render

FASTAPI_MAIN = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root():
    return {"status": "OK"}
"""


def make(root: Path, files: Mapping[str, Any]) -> Path:
    """Write `files` (path → text, or a dict written as JSON) under `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(content, indent=2) if isinstance(content, dict) else textwrap.dedent(content)
        path.write_text(text)
    return root


def vite_app(port_line: str = "", dev: str = "vite",
             lock: str | None = "package-lock.json") -> dict[str, Any]:
    files: dict[str, Any] = {
        "package.json": {"name": "web", "scripts": {"dev": dev}, "devDependencies": {"vite": "^5.4.0"}},
        "vite.config.js": f"export default {{ server: {{ {port_line} }} }}\n",
    }
    if lock:
        files[lock] = "{}\n"
    return files


def under(folder: str, files: dict[str, Any]) -> dict[str, Any]:
    return {f"{folder}/{rel}": text for rel, text in files.items()}


def detect(root: Path, **choices: str) -> Result:
    return run(root, {k.replace("__", "/"): v for k, v in choices.items()})


def service(result: Result, name: str) -> Service:
    for s in result.services:
        if s.name == name:
            return s
    raise AssertionError(f"no service {name}: {[s.name for s in result.services]}; notes {result.notes}; "
                         f"questions {result.ambiguities}")


def toml_of(result: Result) -> dict[str, Any]:
    return tomllib.loads(render(result.services))
