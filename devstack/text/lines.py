"""Text that must fit on one line of a status, an event or a finding."""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"[\r\n\t\v\f]+")
_MEANINGFUL = re.compile(r"[A-Za-z0-9]")


def one_line(text: str, limit: int | None = None) -> str:
    """Every run of whitespace as one space; cut to `limit` characters, ending in "…"."""
    flat = " ".join(text.split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


def no_line_breaks(text: str) -> str:
    """Line breaks and tabs as one space each run, other spacing kept: a finding quotes paths and
    commands to type, where two spaces are two spaces."""
    return _LINE_BREAKS.sub(" ", text)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def last_meaningful_line(lines: list[str]) -> str | None:
    """The last line that says something (not blank, not a caret under a traceback's code), cut
    to 300 characters: what a crashed program last said, when no signature knows it."""
    for line in reversed(lines):
        text = line.strip()
        if _MEANINGFUL.search(text) and not text.startswith("^"):
            return text[:300]
    return None
