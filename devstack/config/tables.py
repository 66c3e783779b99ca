"""Reading one TOML table of stack.toml: its unknown keys reported with a suggestion, its values
converted, every problem collected (never only the first) and sorted in file order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from devstack.config.values import Invalid, show
from devstack.errors import Problem
from devstack.text.suggest import closest, did_you_mean


def suggest(word: str, known: Sequence[str], what: str) -> str:
    return did_you_mean(word, list(known)) or f"known {what}: {', '.join(known)}"

_T = TypeVar("_T")
_D = TypeVar("_D")


class Problems:
    """The problems found so far in one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(Problem(self.file, key, message))


class Table:
    """One TOML table under a dotted key: reports its unknown keys and converts its values."""

    def __init__(self, problems: Problems, key: str, data: dict[str, object], known: Sequence[str]) -> None:
        self.problems = problems
        self.key = key
        self.data = data
        self.first_problem = len(problems.items)
        self.suggested: set[str] = set()  # known keys that some unknown key was taken for
        for name in data:
            if name in known:
                continue
            self.problems.add(self.at(name), f"unknown key; {suggest(name, known, 'keys')}")
            self.suggested.add(closest(name, list(known)) or "")

    def at(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, convert: Callable[[object], _T], default: _D) -> _T | _D:
        """The converted value of `name`, or `default` when it is absent or invalid (reported)."""
        if name not in self.data:
            return default
        try:
            return convert(self.data[name])
        except Invalid as exc:
            key = self.at(name) + (f".{exc.subkey}" if exc.subkey else "")
            self.problems.add(key, str(exc))
            return default

    def sort_problems(self) -> None:
        """Put this table's problems in the order of its keys in the file (checks run in another)."""
        order = {name: i for i, name in enumerate(self.data)}

        def position(problem: Problem) -> int:
            if not problem.key.startswith(self.at("")):
                return -1  # about the table as a whole
            return order.get(problem.key[len(self.at("")) :].split(".")[0], len(order))

        items = self.problems.items
        items[self.first_problem :] = sorted(items[self.first_problem :], key=position)


def as_table(problems: Problems, key: str, value: object, what: str) -> dict[str, object] | None:
    if isinstance(value, dict):
        return value
    problems.add(key, f"expected {what}, got {show(value)}")
    return None
