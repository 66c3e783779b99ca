"""Times as text for every line and every probe: strftime is ~8 µs a call, and a relay or a
probe loop asks many times a second, so each format is made once per second."""

from __future__ import annotations

import time


class SecondText:
    """`fmt` (strftime) of a POSIX time's whole second, in UTC or local time, cached per second."""

    __slots__ = ("_fmt", "_second", "_text", "_utc")

    def __init__(self, fmt: str, utc: bool) -> None:
        self._fmt = fmt
        self._utc = utc
        self._second = -1
        self._text = ""

    def __call__(self, second: int) -> str:
        if second != self._second:
            self._second = second
            parts = time.gmtime(second) if self._utc else time.localtime(second)
            self._text = time.strftime(self._fmt, parts)
        return self._text
