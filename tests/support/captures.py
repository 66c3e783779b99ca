"""The real tools' output captured for the failure-signature tests (tests/unit/captured/).

Temporary paths in a capture were replaced by `$STACK`, which `load` turns into the test's stack
folder (`capture_stack` lays it out); a capture that had to be transcribed rather than captured
says so in its first line, which `load` drops.
"""

from __future__ import annotations

from pathlib import Path

CAPTURED = Path(__file__).resolve().parents[1] / "unit" / "captured"
TRANSCRIBED = "# transcribed"


def load(name: str, stack: Path) -> list[str]:
    """The lines of capture `name`, with `$STACK` standing for `stack`."""
    text = (CAPTURED / name).read_text(encoding="utf-8")
    lines = text.replace("$STACK", str(stack)).splitlines()
    return lines[1:] if lines and lines[0].startswith(TRANSCRIBED) else lines


def capture_stack(root: Path) -> Path:
    """`root` laid out as the folders the captures were made in (test_signatures.py's docstring
    says what each holds)."""
    (root / "apps/ai-api/venv").mkdir(parents=True)
    (root / "apps/ai-api/venv/pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.7\n")
    (root / "apps/ai-api/main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    (root / "apps/ai-api/auth.py").write_text("import os\n")
    (root / "apps/ai-api/.env.example").write_text("DATABASE_URL=\nOPENAI_API_KEY=\n")
    (root / "apps/py-old/venv").mkdir(parents=True)
    (root / "apps/py-old/venv/pyvenv.cfg").write_text("home = /root/.pyenv/versions/3.8.18/bin\n"
                                                      "version = 3.8.18\n")
    (root / "apps/py-old/pyproject.toml").write_text(
        '[project]\nname = "py-old"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n')
    for npm in ("nodeapp", "web", "ssr"):
        (root / npm).mkdir()
        (root / npm / "package.json").write_text('{"private": true}\n')
    (root / "nodeapp/server.js").write_text("require('http').createServer().listen(3000)\n")
    (root / "ssr/package.json").write_text('{"private": true, "devDependencies": {"vite": "^8.4.1"}}\n')
    for package, version in (("vite", "7.3.8"), ("rolldown", "1.3.4")):
        (root / "web/node_modules" / package).mkdir(parents=True)
        (root / "web/node_modules" / package / "package.json").write_text(
            f'{{"name": "{package}", "version": "{version}", "engines": {{"node": "^20.19.0 || '
            f'>=22.12.0"}}}}\n')
    (root / "pg").mkdir()
    (root / "java").mkdir()
    return root
