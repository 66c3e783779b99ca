"""What a service prints must not drive the terminal (R18); files get the text alone."""

from __future__ import annotations

import pytest

from devstack.logs.ansi import RESET, for_file, for_terminal, needs_cleaning

DANGEROUS = [
    b"\x1b]52;c;ZXZpbA==\x07",  # clipboard write
    b"\x1b]0;pwned\x07",  # window title
    b"\x1b]8;;http://x\x1b\\",  # hyperlink, ST-terminated
    b"\x1b[2J", b"\x1b[H", b"\x1b[5A", b"\x1b[2K", b"\x1b[?1049h",  # clear, home, up, erase, alt screen
    b"\x1bP1$r\x1b\\",  # DCS
    b"\xc2\x9b2J",  # 8-bit CSI, UTF-8 encoded
    b"\x1bc",  # full reset
]


@pytest.mark.parametrize("seq", DANGEROUS)
def test_control_sequences_reach_neither_the_terminal_nor_the_file(seq: bytes) -> None:
    line = b"before " + seq + b"after"
    assert needs_cleaning(line)
    for shown in (for_terminal(line, colour=True), for_terminal(line, colour=False), for_file(line)):
        assert b"\x1b" not in shown.replace(RESET, b"") and b"\x9b" not in shown
        assert shown.startswith(b"before ") and b"after" in shown


def test_colour_is_kept_and_closed_on_a_colour_terminal_only() -> None:
    line = b"\x1b[31mred, never reset"
    assert for_terminal(line, colour=True) == line + RESET
    assert for_terminal(line, colour=False) == b"red, never reset"
    assert for_file(line) == b"red, never reset"


def test_a_progress_bar_shows_its_last_state() -> None:
    assert for_terminal(b"10%\r20%\r30%", colour=False) == b"30%"
    assert for_file(b"10%\r20%\r30%\r") == b"30%"


def test_controls_that_move_the_cursor_are_dropped_on_the_terminal_tabs_stay() -> None:
    assert for_terminal(b"a\x08\x08b\x07\tc", colour=False) == b"ab\tc"


def test_plain_text_and_utf8_need_no_cleaning() -> None:
    assert not needs_cleaning("plain ascii, é, …, 😀 and a\ttab".encode())
