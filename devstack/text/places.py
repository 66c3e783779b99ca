"""Paths as messages show them: relative to the folder the user thinks in (the stack folder, the
working folder) when they lie inside it, so that a fix can be typed there as is."""

from __future__ import annotations

from pathlib import Path


def relative(path: Path | str, *bases: Path) -> str | None:
    """`path` relative to the first of `bases` it lies in ("." for a base itself); None when
    it lies in none of them."""
    for base in bases:
        try:
            return str(Path(path).relative_to(base))
        except ValueError:
            continue
    return None


def shown(path: Path | str, *bases: Path) -> str:
    """`path` relative to the first of `bases` it lies in, else as it is."""
    found = relative(path, *bases)
    return str(path) if found is None else found
