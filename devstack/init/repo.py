"""The walked repository as detectors see it: reading its files without ever raising, the notes
that become stderr lines, and the user's `--choose FOLDER=VALUE` picks.

A file that cannot be read or parsed is one note ("skipped it") and no evidence; it never stops
the run. Structured files are parsed here, one function per format, so every detector reports a
malformed file the same way.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

from devstack.init.walk import Tree, join, parent

_T = TypeVar("_T")
MAX_BYTES = 2 << 20  # a config or source file larger than this is not something to read for evidence


class Repo:
    def __init__(self, tree: Tree, choices: Mapping[str, str] | None = None) -> None:
        self.tree = tree
        self.root = tree.root
        self.notes: list[str] = []
        self._choices = dict(choices or {})
        self._used: set[str] = set()
        self._texts: dict[str, str | None] = {}

    # --- the tree ------------------------------------------------------------------

    def files(self, folder: str) -> tuple[str, ...]:
        return self.tree.files.get(folder, ())

    def has(self, folder: str, name: str) -> bool:
        return self.tree.has(folder, name)

    def find_up(self, folder: str, names: Sequence[str]) -> list[str]:
        """The files named `names` in the nearest folder, from `folder` up to the root, that has
        any (relative paths); [] when none has."""
        at: str | None = folder
        while at is not None:
            here = [join(at, name) for name in names if self.has(at, name)]
            if here:
                return here
            at = parent(at)
        return []

    def below(self, folder: str, suffixes: tuple[str, ...]) -> Iterator[str]:
        """Files under `folder` (not in skipped folders) whose names end with one of `suffixes`."""
        prefix = folder + "/"
        for sub in sorted(self.tree.files):
            if folder == "." or sub == folder or sub.startswith(prefix):
                for name in self.tree.files[sub]:
                    if name.endswith(suffixes):
                        yield join(sub, name)

    # --- reading -------------------------------------------------------------------

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def read(self, rel: str) -> str | None:
        """The text of a file, or None (with a note) when it cannot be read as UTF-8 text."""
        if rel in self._texts:
            return self._texts[rel]
        text: str | None = None
        path = self.root / rel
        try:
            if path.stat().st_size > MAX_BYTES:
                self.note(f"{rel} is larger than {MAX_BYTES >> 20} MB; skipped it")
            else:
                text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            self.note(f"{rel} is not UTF-8 text; skipped it")
        except OSError as exc:
            self.note(f"cannot read {rel} ({exc.strerror or exc}); skipped it")
        self._texts[rel] = text
        return text

    def head(self, rel: str, size: int = 4096) -> str:
        """The first `size` bytes of a file as text ("" when unreadable): enough to tell a
        format's version by its header, whatever the file's length (lockfiles grow large)."""
        try:
            with open(self.root / rel, "rb") as file:
                return file.read(size).decode("utf-8", "replace")
        except OSError:
            return ""

    def _parse(self, rel: str, parse: Callable[[str], _T], errors: type[Exception],
               problem: Callable[[Any], str]) -> _T | None:
        """`parse` of the file's text; None, with the note `problem(exception)` says, when it fails."""
        text = self.read(rel)
        if text is None:
            return None
        try:
            return parse(text)
        except errors as exc:
            self.note(f"{rel} is {problem(exc)}; skipped it")
            return None

    def json(self, rel: str) -> dict[str, Any] | None:
        data = self._parse(rel, json.loads, json.JSONDecodeError,
                           lambda exc: f"not valid JSON (line {exc.lineno}: {exc.msg})")
        if data is not None and not isinstance(data, dict):
            self.note(f"{rel} is not a JSON object; skipped it")
            return None
        return data

    def toml(self, rel: str) -> dict[str, Any] | None:
        return self._parse(rel, tomllib.loads, tomllib.TOMLDecodeError, lambda exc: f"not valid TOML ({exc})")

    def xml(self, rel: str) -> ElementTree.Element | None:
        return self._parse(rel, ElementTree.fromstring, ElementTree.ParseError,
                           lambda exc: f"not well-formed XML ({exc})")

    def yaml_documents(self, rel: str) -> list[Any] | None:
        """Every document of a YAML file (Spring's application.yml may hold several)."""
        import yaml  # here: only init reads YAML, and only when a repository has some

        def problem(exc: yaml.YAMLError) -> str:
            mark = getattr(exc, "problem_mark", None)
            return "not valid YAML" + (f" (line {mark.line + 1})" if mark is not None else "")

        return self._parse(rel, lambda text: list(yaml.safe_load_all(text)), yaml.YAMLError, problem)

    # --- the user's picks ----------------------------------------------------------

    def pick(self, folder: str, values: Sequence[str]) -> str | None:
        """The value `--choose FOLDER=VALUE` picked among `values`, if it did."""
        value = self._choices.get(folder)
        if value is not None and value in values:
            self._used.add(folder)
            return value
        return None

    def chosen_port(self, folder: str) -> int | None:
        """A port `--choose FOLDER=PORT` gave the service in `folder`, if it did."""
        value = self._choices.get(folder, "")
        if value.isdigit() and 0 < int(value) < 65536:
            self._used.add(folder)
            return int(value)
        return None

    def unused_choices(self) -> list[str]:
        return [f"{folder}={value}" for folder, value in sorted(self._choices.items())
                if folder not in self._used]


def relative_to(folder: str, rel: str) -> str:
    """`rel` (relative to the root) as seen from `folder`."""
    if folder == ".":
        return rel
    return rel[len(folder) + 1:] if rel.startswith(folder + "/") else str(Path(rel))
