"""Helpers for the export unit tests: a stack written into a folder, exported into another."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from devstack.config.stackfile import load_stack
from devstack.export import writer, yamlout
from devstack.export.model import ExportStack, build
from devstack.export.notes import Notes
from tests.support.files import write

PROGRAMS = ("python", "python3", "node", "npm", "java", "postgres", "uvicorn")


def stack_in(root: Path, toml: str, files: dict[str, str] | None = None) -> ExportStack:
    """The model of the stack.toml `toml` in `root`, with `files` written beside it first. The
    services' PATH is a folder of stand-ins for the usual programs: `root.parent/bin`."""
    root.mkdir(parents=True, exist_ok=True)
    bin_dir = root.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    for program in PROGRAMS:
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    for name, text in (files or {}).items():
        path = root / name
        write(path, text, 0o755 if path.parent.name == "bin" else None)
    write(root / "stack.toml", toml)
    return build(load_stack(root / "stack.toml"), {"PATH": str(bin_dir), "HOME": "/home/u"})


def export(kind: str, stack: ExportStack, out: Path) -> tuple[dict[str, str], Notes]:
    """{path relative to `out`: text} of an export into the folder `out`, and its notes."""
    place = writer.place(kind, out, out, stack.spec.root)
    notes = Notes()
    outputs = importlib.import_module(f"devstack.export.{kind}").render(stack, place, notes)
    return {o.path.relative_to(out).as_posix(): o.text for o in outputs}, notes


def compose_doc(stack: ExportStack, out: Path) -> tuple[dict[str, Any], dict[str, str], Notes]:
    files, notes = export("compose", stack, out)
    return yamlout.load_all(files["compose.yaml"])[0], files, notes
