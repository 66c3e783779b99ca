"""YAML as the exports write it, through PyYAML (the only module that imports it).

Block style, keys in the order the engines' documentation shows them, no anchors or aliases
(a repeated mapping is written out again: engines and people read it more easily), and strings
that YAML 1.1 would read as something else ("no", "on", "0755") quoted by PyYAML's resolver.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

# Long values (a health check's one-line program) stay on one line: folded lines are valid YAML
# but hard to read and to search.
_NO_WRAP = 1 << 20


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # lists indented under their key, as kubectl and compose documentation write them
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # a multi-line value (a script) as a literal block, readable as it will run
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=_NO_WRAP)


def dump_all(documents: Iterable[Any]) -> str:
    return yaml.dump_all(list(documents), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=_NO_WRAP, explicit_start=True)


def load_all(text: str) -> list[Any]:
    """For the tests' round trips: every document of a YAML text."""
    return list(yaml.safe_load_all(text))
