"""Whose line it is: the `name |` prefix before every line devstack shows (foreground `up`,
`devstack logs`), coloured per service on a colour terminal, and when a terminal has colour."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

COLOURS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]
DEVSTACK_COLOUR = "1;37"
OTHER_COLOUR = "37"  # a name with no colour of its own


def use_colour(stream: BinaryIO | None = None, mode: str = "auto") -> bool:
    """Whether devstack colours what it writes to `stream` (default: stdout). `mode` is --ansi:
    "always" and "never" decide; "auto" means never when NO_COLOR is set (no-color.org), always
    when FORCE_COLOR is (and is not "0", as Node reads it), else only on a terminal. NO_COLOR wins
    over FORCE_COLOR: the opt-out is the user's, the force is often a CI default."""
    if mode != "auto":
        return mode == "always"
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force:
        return force != "0"
    out = stream or sys.stdout.buffer
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def palette(names: list[str]) -> dict[str, str]:
    """Each service's colour, in stack order (the same in `up` and `logs`)."""
    return {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}


def name_prefix(name: str, width: int, colour: str | None) -> str:
    """`api      | `: the name padded to `width`, in `colour` (an SGR code) unless None."""
    padded = name.ljust(width)
    return f"\x1b[{colour}m{padded} |\x1b[0m " if colour else f"{padded} | "
