"""The parts of docs/ written from the code, so that they cannot drift from it: stack.toml's key
tables (from devstack/config/schema.py, which the loader's own key lists check) and the
catalogue of crash signatures (from the signature tables and the captured output each one is
tested on, tests/unit/test_signatures.py). Each part sits between

    <!-- generated: NAME (python -m tests.support.docgen) -->
    …
    <!-- end generated -->

in its page. tests/unit/test_docs.py checks every part is current; `python -m
tests.support.docgen` rewrites them after a key, a signature or a case changed.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from devstack.config.schema import HEALTH, SERVICE, STACK, Key

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- generated: {name} (python -m tests.support.docgen) -->\n"
END = "<!-- end generated -->\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def key_table(keys: Mapping[str, Key]) -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, key in keys.items():
        default = f"`{key.default}`" if key.default.startswith(('"', "[", "{")) or key.default[:1].isdigit() \
            or key.default in ("false", "true") else key.default or "—"
        rows.append(f"| `{name}` | {_cell(key.type)} | {_cell(default)} | {_cell(key.text)} |")
    return "\n".join(rows) + "\n"


def catalogue() -> str:
    """One table per ecosystem: each signature, the line of real output it recognised, and what
    devstack said about it (the reason test_signatures asserts word for word)."""
    from devstack.doctor.signatures import generic, jvm, node, postgres, python
    from devstack.doctor.signatures.diagnose import _clean
    from tests.support.captures import capture_stack, load
    from tests.unit.test_signatures import CASES  # the cases the tests assert, word for word

    tables = {"Python": python, "Node": node, "JVM (Java, Spring Boot, Maven)": jvm,
              "PostgreSQL": postgres, "Any program": generic}
    examples: dict[str, list[tuple[str, str]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        stack = capture_stack(Path(folder) / "stack")
        for case in CASES:
            lines = [_clean(line) for line in load(case.capture, stack)]
            found = _first_match(lines)
            if found is not None:
                name, line = found
                example = (line.replace(str(stack), "…"), case.expected)
                if example not in examples.setdefault(name, []):
                    examples[name].append(example)
    out = []
    for title, module in tables.items():
        out += [f"### {title}", "", "| signature | a line it recognises | what devstack says |",
                "|---|---|---|"]
        for signature in module.SIGNATURES:
            seen = examples.get(signature.name) or [("", "")]
            for line, said in seen:
                shown_line = f"`{_code(line)}`" if line else "(no captured example yet)"
                shown_said = _cell(said) if said else "—"
                out.append(f"| `{signature.name}` | {shown_line} | {shown_said} |")
        out.append("")
    return "\n".join(out)


def _first_match(lines: list[str]) -> tuple[str, str] | None:
    """(signature name, line) as diagnose() picks them: the last line that matches, and for it
    the first signature in table order."""
    from devstack.doctor.signatures.diagnose import SIGNATURES

    for line in reversed(lines):
        for signature in SIGNATURES:
            if signature.pattern.search(line):
                return signature.name, line
    return None


def _code(text: str) -> str:
    text = text.strip()
    text = text if len(text) <= 120 else text[:119] + "…"
    return text.replace("`", "'").replace("|", "\\|")


PARTS: dict[str, tuple[str, Callable[[], str]]] = {
    "stack-keys": ("docs/stack-toml.md", lambda: key_table(STACK)),
    "service-keys": ("docs/stack-toml.md", lambda: key_table(SERVICE)),
    "health-keys": ("docs/stack-toml.md", lambda: key_table(HEALTH)),
    "signatures": ("docs/diagnosis.md", catalogue),
}


def _span(text: str, name: str) -> tuple[int, int]:
    begin = text.index(BEGIN.format(name=name)) + len(BEGIN.format(name=name))
    return begin, text.index(END, begin)


def stale() -> list[str]:
    """The parts whose page does not hold what the code says."""
    found = []
    for name, (page, make) in PARTS.items():
        text = (ROOT / page).read_text()
        begin, end = _span(text, name)
        if text[begin:end] != make():
            found.append(f"{page}: {name}")
    return found


def rewrite() -> list[str]:
    changed = []
    for name, (page, make) in PARTS.items():
        path = ROOT / page
        text = path.read_text()
        begin, end = _span(text, name)
        fresh = make()
        if text[begin:end] != fresh:
            path.write_text(text[:begin] + fresh + text[end:])
            changed.append(f"{page}: {name}")
    return changed


def table_keys(text: str, name: str) -> list[str]:
    """The keys a generated key table of a page lists (for the test that they are the loader's)."""
    begin, end = _span(text, name)
    return re.findall(r"(?m)^\| `([a-z_]+)` \|", text[begin:end])


if __name__ == "__main__":
    done = rewrite()
    print("\n".join(f"rewritten: {part}" for part in done) or "docs: every generated part is current")
    sys.exit(0)
