"""What an export tells the user besides its files: warnings and next steps, one line each.

Every setting an engine cannot carry becomes a warning here, never a silent drop; the steps are
the commands to run next (install the units, create the Secrets from the env files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.export.model import ExportService
    from devstack.export.writer import Place


@dataclass
class Notes:
    info: list[str] = field(default_factory=list)  # what was done, said first
    warnings: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def warn(self, text: str, service: str | None = None) -> None:
        line = f"{service}: {text}" if service else text
        if line not in self.warnings:  # one line per fact, even when two paths find it
            self.warnings.append(line)

    def step(self, command: str) -> None:
        if command not in self.steps:
            self.steps.append(command)

    def lines(self) -> list[str]:
        """What goes to stderr, warnings first."""
        out = [*self.info, *(f"warning: {w}" for w in self.warnings)]
        if self.steps:
            out.append("next:")
            out += [f"  {s}" for s in self.steps]
        return out


def env_warnings(svc: ExportService, place: Place, notes: Notes, inside: str | None = None,
                 name_of: Callable[[str], str] = str) -> None:
    """What every engine says of a service's env: values `${…}` took from this machine; and where
    services run in a network of their own (`inside`: "container", "pod"), an env file's value
    reaching another service through localhost, which the export cannot rewrite."""
    for var in svc.env.interpolated:
        notes.warn(f"{var} is written as ${{…}} gave it on this machine", svc.name)
    if svc.spec.required_env:
        notes.warn(f"required_env ({', '.join(svc.spec.required_env)}) is not checked before it starts",
                   svc.name)
    if inside is None:
        return
    for ref in svc.env.file_links:
        notes.warn(f"{ref.variable} in {place.shown(ref.file)} reaches {ref.service} through localhost, "
                   f"which in a {inside} is the {inside} itself: change it there to name "
                   f"{name_of(ref.service)}", svc.name)


def env_file_warnings(svc: ExportService, place: Place, notes: Notes, reader: str) -> None:
    """An env file using `${VAR}`, which devstack expands and `reader` (systemd, kubectl) does not;
    said once for the stack's own env file, which every service reads."""
    from devstack.env.layers import Layer

    for env_file in svc.env.files:
        if env_file.interpolates:
            service = None if env_file.layer is Layer.STACK_ENV_FILE else svc.name
            notes.warn(f"{place.shown(env_file.path)} uses ${{VAR}}, which {reader} does not expand as "
                       "devstack does: the service gets the text as written", service)


def secrets_warning(notes: Notes, service: str, names: Sequence[str], where: str, how: str) -> None:
    """The secret-looking variables not written, and the file the user puts them in."""
    notes.warn(f"{', '.join(names)} not written (secret): put {' '.join(n + '=…' for n in names)} in "
               f"{where} ({how})", service)
