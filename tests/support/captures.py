"""The real tools' output captured for the failure-signature tests (tests/unit/captured/).

Temporary paths in a capture were replaced by `$STACK`, which `load` turns into the test's stack
folder; a capture that had to be transcribed rather than captured says so in its first line,
which `load` drops.
"""

from __future__ import annotations

from pathlib import Path

CAPTURED = Path(__file__).resolve().parents[1] / "unit" / "captured"
TRANSCRIBED = "# transcribed"


def load(name: str, stack: Path) -> list[str]:
    """The lines of capture `name`, with `$STACK` standing for `stack`."""
    text = (CAPTURED / name).read_text(encoding="utf-8")
    lines = text.replace("$STACK", str(stack)).splitlines()
    return lines[1:] if lines and lines[0].startswith(TRANSCRIBED) else lines
