"""The Windows rules of a service's environment behind a `windows` flag, so that they are
unit-tested on Linux too: the PATH separator and case-insensitive variable names.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

WINDOWS = sys.platform == "win32"


def path_separator(windows: bool) -> str:
    # Not os.pathsep: the flag, not the running platform, decides (tests run on Linux).
    return ";" if windows else ":"


def env_lookup(env: Mapping[str, str], name: str, windows: bool) -> str | None:
    if not windows:
        return env.get(name)
    for key, value in env.items():
        if key.upper() == name.upper():
            return value
    return None
