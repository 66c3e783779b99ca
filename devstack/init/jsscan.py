"""Values read out of a JavaScript or TypeScript config (vite.config.*) without running it.

Comments are removed and strings masked, so that braces and commas inside them do not count;
an object literal is then found by its key (`server: {`) and matched brace for brace, and its
top-level entries split at commas outside brackets. Limits, on purpose: nothing is evaluated.
A value computed by code (a variable, `process.env.X || 3000`, a spread, a helper imported from
another file) is seen only as its text; a regular-expression literal holding a quote or `//`
can confuse the masking; two objects with the same key (two `server:` blocks behind a
condition) are both returned, and the caller says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = "{[("
_CLOSE = "}])"


@dataclass(frozen=True)
class Source:
    """A config's text twice, position for position: `text` without comments, and `masked`
    without comments or string contents (each string's characters replaced by "_")."""

    text: str
    masked: str


def scan(src: str) -> Source:
    text = list(src)
    masked = list(src)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith(("//", "/*"), i):
            end = src.find("\n" if src[i + 1] == "/" else "*/", i + 2)
            end = n if end < 0 else end + (0 if src[i + 1] == "/" else 2)
            for k in range(i, end):
                if src[k] != "\n":
                    text[k] = masked[k] = " "
            i = end
        elif c in "'\"`":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                if src[k] != "\n":
                    masked[k] = "_"
            i = j + 1
        else:
            i += 1
    return Source("".join(text), "".join(masked))


def _match_close(masked: str, start: int) -> int:
    """The index just after the bracket that closes the one at `start` (or the end of text)."""
    depth = 0
    for i in range(start, len(masked)):
        ch = masked[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
    return len(masked)


def objects(source: Source, key: str, within: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """(start, end) of every object literal written as the value of `key` (`key: { … }`),
    optionally only those inside the span `within`."""
    start, end = within or (0, len(source.masked))
    found = []
    # The key may be quoted ("server": {): a masked string keeps its length, hence the `_`s.
    pattern = re.compile(rf"(?<![\w$.])(?:{re.escape(key)}|(['\"`]){'_' * len(key)}\1)\s*:\s*\{{")
    for match in pattern.finditer(source.masked, start, end):
        if match.group(1) and source.text[match.start() + 1: match.start() + 1 + len(key)] != key:
            continue
        brace = match.end() - 1
        found.append((brace, _match_close(source.masked, brace)))
    return found


def entries(source: Source, span: tuple[int, int]) -> dict[str, str]:
    """The top-level `key: value` entries of the object literal at `span`, values as source text
    without comments (a shorthand `port,` maps to "port")."""
    start, end = span
    result: dict[str, str] = {}
    depth = 0
    piece_start = start + 1
    for i in range(start + 1, end):
        ch = source.masked[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        if (ch == "," and depth == 0) or depth < 0:
            _add_entry(source, piece_start, i, result)
            piece_start = i + 1
            if depth < 0:
                break
    return result


def _add_entry(source: Source, start: int, end: int, into: dict[str, str]) -> None:
    colon = source.masked.find(":", start, end)
    if colon < 0:
        name = source.text[start:end].strip()
        if re.fullmatch(r"[\w$]+", name):
            into[name] = name
        return
    name = source.text[start:colon].strip().strip("'\"`")
    if name:
        into[name] = source.text[colon + 1: end].strip()


def strings(text: str) -> list[str]:
    """The contents of the string literals in `text`."""
    return [m.group(2) for m in re.finditer(r"(['\"`])((?:\\.|(?!\1).)*)\1", text)]
