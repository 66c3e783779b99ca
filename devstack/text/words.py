"""A command as its words, the way the checks that look at a command (what it runs, which jar,
whether it daemonizes) read it: an array as it is, a shell string split as /bin/sh would, and a
string with unbalanced quotes (refused by the loader, but seen in Procfiles and user input) split
on spaces rather than refused.
"""

from __future__ import annotations

import shlex


def command_words(command: str | tuple[str, ...]) -> list[str]:
    if isinstance(command, tuple):
        return list(command)
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()
