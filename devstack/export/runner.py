"""`devstack export KIND`: model the stack, render it for the engine, write it or print it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.config.specs import StackSpec
from devstack.export import writer
from devstack.export.model import ExportStack, build
from devstack.export.notes import Notes

Engine = Callable[[ExportStack, writer.Place, Notes], list[writer.Output]]


def _engine(kind: str) -> Engine:
    if kind == "compose":
        from devstack.export import compose

        return compose.render
    if kind == "systemd":
        from devstack.export import systemd

        return systemd.render
    from devstack.export import kubernetes

    return kubernetes.render


@dataclass
class Result:
    stdout: str | None  # the compose file, when it goes to stdout
    written: list[Path] = field(default_factory=list)
    notes: Notes = field(default_factory=Notes)


def export(stack: StackSpec, kind: str, output: Path | None, cwd: Path, os_env: Mapping[str, str]) -> Result:
    place = writer.place(kind, output, cwd, stack.root)
    notes = Notes()
    outputs = _engine(kind)(build(stack, os_env), place, notes)
    if place.stdout:
        main = next(o for o in outputs if o.path == place.single)
        notes.info.append(f"{kind}: the Dockerfiles compose.yaml names are not written when it goes to "
                          f"stdout; `devstack export {kind} -o {writer.shown(place.assets, cwd)}` writes "
                          "them with it")
        return Result(main.text, [], notes)
    written = writer.write(outputs)
    files = "1 file" if len(written) == 1 else f"{len(written)} files"
    notes.info.insert(0, f"wrote {files} under {writer.shown(place.folder, cwd)}")
    return Result(None, written, notes)
