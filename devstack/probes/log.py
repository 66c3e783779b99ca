"""The `log` probe: readiness from output. Not polled: the service's lifecycle feeds it each
output line.
"""

from __future__ import annotations

import re

from devstack.logs.ansi import strip_escapes


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
        plain = strip_escapes(line.rstrip("\r\n"))
        return self._regex.search(plain) is not None

    def __repr__(self) -> str:
        return f"LogProbe({self.pattern!r})"
