"""Framing a child's raw output into lines: no line-length limit that drops a line (asyncio's
`readline()` raises past 64 KiB), no byte lost, and a block path for the relay's hot path.

* `LineSplitter` frames a byte stream into lines, cutting only lines longer than `max_line`.
* `prefixed` puts a prefix before every line of a block (the terminal and the log file).
* `decode_lines` turns complete lines into text; invalid UTF-8 becomes U+FFFD.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_MAX_LINE = 1024 * 1024


class LineSplitter:
    """Frames a byte stream into lines without the 64 KiB limit of `StreamReader.readline`.

    `feed()` returns the complete lines a chunk finishes, without their `\\n` and
    without one `\\r` before it; the bytes after the last newline are kept for the next
    feed, and `flush()` returns them at EOF (a last line without a newline is kept).

    A line longer than `max_line` is not dropped: it is emitted in pieces of exactly
    `max_line` bytes as it arrives, the last piece being the remaining 1..max_line
    bytes. Concatenating the pieces gives the line back, so no byte is ever lost and
    memory stays bounded by about `max_line` plus one chunk. `split_lines` counts the
    lines that were cut this way.

    The work per feed is proportional to the chunk, not to the pending tail: the tail is
    kept as a list of chunks and joined only when a newline (or `max_line`) ends it.
    """

    __slots__ = ("_continued", "_parts", "_pending", "max_line", "split_lines")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError(f"max_line must be at least 1, got {max_line}")
        self.max_line = max_line
        self.split_lines = 0
        self._parts: list[bytes] = []  # the pending partial line, as received
        self._pending = 0  # total length of _parts
        self._continued = False  # pieces of the pending line were already emitted

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back (for an idle flush decision)."""
        return self._pending

    def peek(self) -> bytes:
        """The unfinished line so far, without consuming it (e.g. to show a `Password:` prompt)."""
        if len(self._parts) > 1:
            self._parts = [b"".join(self._parts)]
        return self._parts[0] if self._parts else b""

    def feed_block(self, chunk: bytes) -> bytes | None:
        """The complete lines `chunk` finishes as one block, joined by `\\n` (none at its end),
        or None (nothing consumed) where only `feed()` frames right: no newline in the chunk, a
        `\\r` in it, a line that could reach `max_line`, a cut line going on.

        The relay's hot path: a block is framed without one Python object per line.
        """
        end = chunk.rfind(b"\n")
        if (end < 0 or self._continued or self._pending + len(chunk) > self.max_line or b"\r" in chunk
                or (self._parts and self._parts[-1].endswith(b"\r"))):
            return None
        block = chunk[:end]
        if self._parts:
            self._parts.append(block)
            block = b"".join(self._parts)
        tail = chunk[end + 1 :]
        self._parts = [tail] if tail else []
        self._pending = len(tail)
        return block

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
                self._pending += len(chunk)
                if self._pending > self.max_line:
                    return self._cut_pending()
            return []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if self._parts:
            self._parts.append(lines[0])
            lines[0] = b"".join(self._parts)
        # Strip one \r per line. Only the first line can have its \r in an earlier chunk;
        # for the rest a C-level scan of the chunk avoids per-line Python work.
        if lines[0].endswith(b"\r"):
            lines[0] = lines[0][:-1]
        if b"\r\n" in chunk:
            lines[1:] = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines[1:]]
        continued = self._continued
        self._parts = [tail] if tail else []
        self._pending = len(tail)
        self._continued = False
        # Only a line longer than the chunk limit can need cutting: the first one (which may
        # carry a long pending tail) or any when the chunk itself is longer than max_line.
        if len(lines[0]) > self.max_line or len(chunk) > self.max_line or continued:
            lines = self._cut_long(lines, continued)
        if self._pending > self.max_line:
            lines.extend(self._cut_pending())
        return lines

    def flush(self) -> list[bytes]:
        """The unfinished last line (one `\\r` stripped), or nothing; resets the splitter."""
        if not self._parts:
            self._continued = False
            return []
        line = b"".join(self._parts)
        continued = self._continued
        self._parts, self._pending, self._continued = [], 0, False
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line and continued:
            return []  # the \r was all that was left of a cut line
        return [line]

    def _cut_pending(self) -> list[bytes]:
        # Keep 1..max_line bytes back: a line of exactly k*max_line bytes then ends in a
        # full last piece instead of an extra empty line when its newline arrives.
        data = b"".join(self._parts)
        m = self.max_line
        count = (len(data) - 1) // m
        pieces = [data[i * m : (i + 1) * m] for i in range(count)]
        rest = data[count * m :]
        self._parts, self._pending = [rest], len(rest)
        if not self._continued:
            self.split_lines += 1
        self._continued = True
        return pieces

    def _cut_long(self, lines: list[bytes], first_continued: bool) -> list[bytes]:
        m = self.max_line
        out: list[bytes] = []
        for i, line in enumerate(lines):
            if len(line) > m:
                if not (i == 0 and first_continued):
                    self.split_lines += 1
                out.extend(line[j : j + m] for j in range(0, len(line), m))
            elif line or not (i == 0 and first_continued):
                # An empty end of an already-cut line was only its "\r": nothing to emit.
                out.append(line)
        return out


def prefixed(prefix: bytes, block: bytes) -> bytes:
    """Every line of `block` (lines joined by `\\n`) after `prefix`, each ending in `\\n`: one
    replace and one copy, whatever the number of lines (the relay's hot path)."""
    return b"".join((prefix, block.replace(b"\n", b"\n" + prefix), b"\n"))


def decode_lines(lines: Sequence[bytes]) -> list[str]:
    """Complete lines as text; invalid UTF-8 becomes U+FFFD, never an error.

    Decodes the whole batch in one call: 0x0A is never part of a UTF-8 sequence, so the
    decoder cannot swallow a separator and splitting afterwards gives the same lines as
    decoding each one.
    """
    if not lines:
        return []
    out = b"\n".join(lines).decode("utf-8", "replace").split("\n")
    if len(out) != len(lines):  # a line held a newline itself (not from LineSplitter)
        return [line.decode("utf-8", "replace") for line in lines]
    return out
