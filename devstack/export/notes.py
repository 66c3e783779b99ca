"""What an export tells the user besides its files: warnings and next steps, one line each.

Every setting an engine cannot carry becomes a warning here, never a silent drop; the steps are
the commands to run next (install the units, create the Secrets from the env files).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
