"""The other services of a stack, as a diagnosis sees them: a snapshot the engine takes when it
asks why a service failed. Apart from doctor/reach.py so that the engine can build one without
loading reach's patterns, which only a failure needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    """Another service of the stack, as a diagnosis sees it: a snapshot, not the live service."""

    name: str
    port: int | None
    state: str  # the state's name (docs/status.md)
    error: str | None = None  # its own one-line reason, when it has one
    setup: str | None = None  # its setup command: where the stack creates users and databases
