"""CPU and memory of a service's processes, for `status`: summed over every process the service
is made of (its tree, and what the subreaper adopted for it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import psutil


@dataclass
class Usage:
    cpu_percent: float = 0.0
    memory_rss: int = 0


class UsageMeter:
    """CPU and memory of a set of processes; psutil needs the same Process objects across calls
    for CPU%."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def measure(self, pids: Iterable[int] | None) -> Usage:
        if pids is None:
            self._procs.clear()
            return Usage()
        current = {}
        for pid in pids:
            proc = self._procs.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                except psutil.Error:
                    continue
            current[pid] = proc
        self._procs = current
        usage = Usage()
        for proc in current.values():
            with contextlib.suppress(psutil.Error):
                usage.cpu_percent += proc.cpu_percent(None)
                usage.memory_rss += proc.memory_info().rss
        usage.cpu_percent = round(usage.cpu_percent, 1)
        return usage
