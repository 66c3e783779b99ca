"""Terminal-control bytes in what services print (fault R18 of tests/fault).

A service's output must not drive the developer's terminal: no clipboard writes (OSC 52), no
window titles, no clearing the screen, no cursor moves over other services' lines, no colour
bleeding into the next prefix. Colour (SGR) is kept for a colour terminal and closed at the end
of each line; log files get the text alone. A `\\r` progress bar keeps its last state.

The common case (plain text) must cost almost nothing: `needs_cleaning` is a handful of
memchr scans over a whole chunk, and only a chunk that has one of the bytes is cleaned.
"""

from __future__ import annotations

import re

# ESC, CR, BS, BEL, and 0xC2: the lead byte of the C1 controls (U+0080–U+009F) in UTF-8.
_MARKERS = (b"\x1b", b"\r", b"\x08", b"\x07", b"\xc2")

_SEQUENCE = re.compile(
    rb"""
      \x1b\[ [0-?]* [\x20-/]* [@-~]           # CSI: colours (SGR, final m), cursor moves, erasing
    | \x1b\] [^\x07\x1b]* (?:\x07|\x1b\\)?    # OSC: titles, clipboard, hyperlinks; to BEL or ST
    | \x1b [PX^_] [^\x1b]* (?:\x1b\\)?        # DCS, SOS, PM, APC strings, to ST
    | \x1b [\x20-/]* [0-~]?                   # any other escape (charsets, keypad, reset)
    | \xc2 [\x80-\x9f]                        # C1 controls (8-bit CSI and OSC among them)
    """,
    re.VERBOSE,
)
# The same escapes in text already decoded (what a log probe or a crash diagnosis reads): CSI,
# OSC (to BEL, ST or the end of the line) and two-byte escapes.
_TEXT_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_SGR = re.compile(rb"\x1b\[[0-9;:]*m")
# Controls that move the cursor or ring the bell; tab stays, NUL and the rest show as nothing.
# ESC is not among them: by then every ESC left starts a colour sequence that was kept.
_TERMINAL_CONTROLS = re.compile(rb"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")
RESET = b"\x1b[0m"


def needs_cleaning(block: bytes) -> bool:
    """True when `block` holds a byte that `for_file`/`for_terminal` would change."""
    return any(marker in block for marker in _MARKERS)


def _last_state(line: bytes) -> bytes:
    """`10%\\r20%\\r30%` → `30%`: what a terminal would show after the carriage returns."""
    if b"\r" not in line:
        return line
    segments = [s for s in line.split(b"\r") if s]
    return segments[-1] if segments else b""


def for_file(line: bytes) -> bytes:
    """The line as text: escape sequences and C1 controls removed, a `\\r` bar's last state."""
    return _SEQUENCE.sub(b"", _last_state(line))


def for_terminal(line: bytes, colour: bool) -> bytes:
    """The line safe to print after devstack's prefix: colour kept (and reset at the end) on a
    colour terminal, every other control sequence and control character removed."""
    line = _last_state(line)
    kept_colour = False

    def keep_sgr(match: re.Match[bytes]) -> bytes:
        nonlocal kept_colour
        if colour and _SGR.fullmatch(match.group()):
            kept_colour = True
            return match.group()
        return b""

    line = _SEQUENCE.sub(keep_sgr, line)
    line = _TERMINAL_CONTROLS.sub(b"", line)
    return line + RESET if kept_colour else line


def strip_escapes(text: str) -> str:
    """`text` without its terminal escape sequences (colour codes and the like)."""
    return _TEXT_ESCAPE.sub("", text)
