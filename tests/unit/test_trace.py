"""doctor.signatures.trace: a crash no signature knows is told by its stack trace's own message
line, never by a frame line or a pointer ("see the log", "Background on this error at").

The captures are real (tests/unit/captured/; how each was made is in CASES).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.doctor.signatures.base import MAX_CHARS
from devstack.doctor.signatures.diagnose import last_words
from tests.support.captures import load

CASES = [
    # (capture, how it was made, the message line)
    ("uvicorn_lifespan_error.txt",
     "venv/bin/uvicorn main:app (a lifespan that raises RuntimeError); uvicorn then logs "
     "'Application startup failed. Exiting.'",
     "RuntimeError: REDIS_URL points at a cluster this build cannot talk to"),
    ("npm_script_crash.txt",
     "npm start (node crash.js throws a TypeError)",
     "TypeError: sessionSecret must be a non-empty string"),
    ("java_caused_by.txt",
     "java Main.java (a RuntimeException caused by one caused by a NumberFormatException)",
     'java.lang.NumberFormatException: For input string: "eighty"'),
    ("sqlalchemy_refused.txt",
     "SQLAlchemy 2.1 + psycopg2 to a free port; ends with '(Background on this error at: …)'",
     'sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "127.0.0.1", '
     "port 55499 failed: Connection refused"),
    ("pydantic_settings_missing.txt",
     "pydantic-settings; ends with 'For further information visit …'",
     "pydantic_core._pydantic_core.ValidationError: 2 validation errors for Settings"),
    ("node_pg_password_failed.txt",
     "node-postgres, wrong password; the error's properties and 'Node.js v20' follow it",
     'error: password authentication failed for user "lifebit_user"'),
    ("node_eaddrinuse.txt",
     "node http server on a taken port: frames, then 'Emitted 'error' event on Server', frames",
     "Error: listen EADDRINUSE: address already in use :::3000"),
    ("npm_wrong_folder.txt",
     "npm run dev where there is no package.json; ends with 'A complete log of this run …'",
     "Could not read package.json: Error: ENOENT: no such file or directory, open '$STACK/package.json'"),
    ("asyncpg_timeout.txt",
     "asyncpg.connect(timeout=3) to a port that never answers",
     "TimeoutError"),
    ("uvicorn_syntax_py38.txt",
     "uvicorn on Python 3.8, main.py uses match",
     "SyntaxError: invalid syntax"),
]


@pytest.mark.parametrize(("capture", "how", "message"), CASES, ids=[case[0] for case in CASES])
def test_the_message_line_of_a_real_trace(capture: str, how: str, message: str, tmp_path: Path) -> None:
    said = last_words(load(capture, tmp_path))
    assert said == message.replace("$STACK", str(tmp_path))
    assert len(said) <= MAX_CHARS


def test_output_that_went_on_after_the_trace_says_nothing(tmp_path: Path) -> None:
    """A trace logged while the service kept running is not what killed it."""
    lines = [*load("uvicorn_lifespan_error.txt", tmp_path)[:-2], "INFO:     Started server process [42]"]
    assert last_words(lines) is None


@pytest.mark.parametrize("capture", ["uvicorn_normal_run.txt", "vite_normal_run.txt"])
def test_a_run_that_went_fine_has_no_last_words(capture: str, tmp_path: Path) -> None:
    assert last_words(load(capture, tmp_path)) is None


def test_npm_reporting_a_failed_script_gives_the_scripts_error() -> None:
    """npm 10's block after a script died names only the script: the words are above it."""
    lines = ["Error: boom", "    at Object.<anonymous> (/app/x.js:1:7)", "",
             "npm ERR! code 1", "npm ERR! path /app", "npm ERR! command failed",
             "npm ERR! command sh -c node x.js", "",
             "npm ERR! A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log"]
    assert last_words(lines) == "Error: boom"


def test_an_error_line_alone() -> None:
    assert last_words(["Prisma schema loaded from prisma/schema.prisma",
                       "Error: P1001: Can't reach database server at `localhost:5432`"]) == \
        "Error: P1001: Can't reach database server at `localhost:5432`"
    assert last_words(["listening on 8080", "shutting down"]) is None
