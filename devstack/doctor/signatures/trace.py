"""The message of the stack trace a service died with, when no known signature explains it.

A process that dies of an exception says why in one line of its trace, and rarely in the last
one: Python ends with the exception but SQLAlchemy adds "(Background on this error at: …)",
Node ends with "Node.js v20.20.2" after the error's properties, Java's cause is the innermost
"Caused by:", npm closes with "A complete log of this run can be found in: …". This module finds,
in the output a process ended with, the trace's own message line:

- Python: the exception line under the last traceback (`KeyError: 'DATABASE_URL'`);
- Node and the JVM: the error line above the last block of `at …` frames, or for the JVM the
  innermost `Caused by:` (its text without the prefix);
- npm's `npm error` block: its first line that says something (not `code`, `path`, `errno`, the
  log pointer); a block with none is npm reporting the script it ran, whose output is above it;
- otherwise a last `Error: …` line.

Only a trace the output ENDS with counts: when a line after it looks like a new log record (a
timestamp or an INFO/WARNING/DEBUG prefix), the process went on after it and died of something
else; then there is no answer here (the caller falls back to the last line). Pure: lines in, one
line or None out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

# Lines a process prints after the message that matter less than it: pointers to elsewhere,
# runtime banners, shutdown chatter. Skipped from the end before anything else is looked at.
_TRAILER: Final = re.compile(
    r"^\s*$"
    r"|^Node\.js v\d"
    r"|A complete log of this run can be found in"
    r"|^\(Background on this error at: "
    r"|^\s*For further information visit https?://"
    r"|^(?:ERROR|INFO):\s+(?:Application startup failed\. Exiting\.|Waiting for application shutdown\.|"
    r"Application shutdown complete\.|Finished server process \[\d+\]|Stopping reloader process)"
    r"|^npm (?:error|ERR!)\s*$"
    r"|^npm (?:error|ERR!) (?:code|errno|syscall|path|command|signal|workspace|location|dest|file)\b"
    r"|^npm warn\b"
)
# npm's own block: `npm error <code word>? <text>`. The code words carry no message of their own.
_NPM: Final = re.compile(r"^npm (?:error|ERR!)\s?(?P<text>.*)$")
_NPM_WORD: Final = re.compile(r"^(?:enoent|notsup|engine|eresolve|peer)\s+")
_NPM_NOTHING: Final = re.compile(
    r"^(?:code|errno|syscall|path|command|signal|workspace|location|dest|file)\b|^$|A complete log")

_PY_FRAME: Final = re.compile(r'^\s+File "[^"]*", line \d+')
_AT_FRAME: Final = re.compile(r"^\s+at \S|^\s+\.\.\. \d+ more$")
_CAUSED_BY: Final = re.compile(r"^\s*Caused by: (?P<text>.+)$")
# Node, between the frames of an error and those of the emitter that threw it.
_EMITTED: Final = re.compile(r"^Emitted '[^']+' event on .+ at:$")
_CARET: Final = re.compile(r"^\s*[\^~]+\s*$")
# An error's first line as JavaScript and Java print it: "TypeError: …", "Error [ERR_X]: …",
# "error: password …" (node-postgres), "java.lang.IllegalStateException: …".
_HEADER: Final = re.compile(
    r"^(?:Exception in thread \"[^\"]*\" )?(?:[\w$.]*(?:Error|Exception|error)|AggregateError)"
    r"(?: \[[\w-]+\])?: \S")
_THREAD: Final = re.compile(r'^Exception in thread "[^"]*" ')
_ERROR_LINE: Final = re.compile(r"^(?:[\w$.]*Error|error)(?: \[[\w-]+\])?: \S")
# A new log record: the process went on after the trace.
_LOG_RECORD: Final = re.compile(
    r"^\s*(?:\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\[?\d\d:\d\d:\d\d\b|(?:INFO|DEBUG|WARNING|WARN|TRACE)\b[:\s])")


def trace_message(lines: Sequence[str]) -> str | None:
    """The message line of the trace (or npm error block, or `Error:` line) the output ends with;
    None when it ends with none of them. `lines` are cleaned (no colour codes, no line ends)."""
    end = len(lines)
    while end > 0 and _TRAILER.search(lines[end - 1]) and not _useful_npm(lines[end - 1]):
        end -= 1
    if end == 0:
        return None
    tail = list(lines[:end])
    if _NPM.match(tail[-1]):
        return _npm_message(tail)
    return _frames_message(tail) or _error_line(tail[-1])


def _useful_npm(line: str) -> bool:
    match = _NPM.match(line)
    return match is not None and not _NPM_NOTHING.search(_NPM_WORD.sub("", match.group("text")))


def _npm_message(lines: list[str]) -> str | None:
    start = len(lines)
    while start > 0 and _NPM.match(lines[start - 1]):
        start -= 1
    for line in lines[start:]:
        match = _NPM.match(line)
        text = _NPM_WORD.sub("", match.group("text")).strip() if match else ""
        if text and not _NPM_NOTHING.search(text):
            return text
    # Only npm's report of a script that failed: the script's own words are above it.
    return trace_message(lines[:start]) if start > 0 else None


def _frames_message(lines: list[str]) -> str | None:
    last = next((i for i in range(len(lines) - 1, -1, -1)
                 if _PY_FRAME.match(lines[i]) or _AT_FRAME.match(lines[i])), None)
    if last is None:
        return None
    if any(_LOG_RECORD.match(line) for line in lines[last + 1 :]):
        return None
    if _PY_FRAME.match(lines[last]):
        return _python_exception(lines, last)
    return _at_message(lines, last)


def _python_exception(lines: list[str], frame: int) -> str | None:
    """The first line after the frame (and its indented code and carets) that is not indented."""
    for line in lines[frame + 1 :]:
        if line.strip() and not line[:1].isspace():
            return line.strip()
    return None


def _at_message(lines: list[str], frame: int) -> str | None:
    """Above the frame blocks (and any `Caused by:` between them): the innermost cause, else the
    error line of the paragraph over the first block."""
    top = frame
    causes: list[str] = []
    while top > 0 and (_AT_FRAME.match(lines[top - 1]) or _CAUSED_BY.match(lines[top - 1])
                       or _EMITTED.match(lines[top - 1])):
        top -= 1
        cause = _CAUSED_BY.match(lines[top])
        if cause:
            causes.append(cause.group("text").strip())
    if causes:
        return causes[0]  # walking up: the first one met is the innermost
    paragraph: list[str] = []
    for line in reversed(lines[:top]):
        if not line.strip() or _CARET.match(line) or _AT_FRAME.match(line):
            break
        paragraph.insert(0, line.strip())
    if not paragraph:
        return None
    headers = [line for line in paragraph if _HEADER.match(line)]
    return _THREAD.sub("", headers[-1] if headers else paragraph[0])


def _error_line(line: str) -> str | None:
    text = line.strip()
    return text if _ERROR_LINE.match(text) else None
