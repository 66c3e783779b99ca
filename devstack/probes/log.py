"""The `log` probe: readiness from output. Not polled: the service's lifecycle feeds it each
output line.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a stack without HTTP probes never loads h11
    pass


# Colour codes (CSI sequences) and other escapes that services print when they think
# they talk to a terminal; a user's regex is written against the text they see.
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class LogProbe:
    """Readiness from output: a line of the service's output matches a regex.

    Not polled: the lifecycle feeds it each output line. The regex is searched for
    anywhere in the line (like grep), after colour codes and the line end are removed.
    An invalid regex raises `re.error` here; configuration loading should have
    reported it first.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def matches(self, line: str) -> bool:
        plain = _ANSI_ESCAPE.sub("", line.rstrip("\r\n"))
        return self._regex.search(plain) is not None

    def __repr__(self) -> str:
        return f"LogProbe({self.pattern!r})"
