"""Where the program a service's command runs is, looked up as the child will look it up: the
first word after assignments and `exec`, on the service's PATH (venv first), with the shell's
builtins and expansions left unchecked.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from devstack.env.platform import WINDOWS, env_lookup, path_separator

# Run by the shell itself: they need not be on PATH, so their presence cannot be checked.
_SH_BUILTINS = frozenset(
    {
        ".", ":", "[", "[[", "!", "{", "(", "alias", "bg", "break", "case", "cd", "command", "continue",
        "echo", "eval", "exec", "exit", "export", "false", "fg", "for", "function", "getopts", "if",
        "jobs", "kill", "printf", "pwd", "read", "readonly", "return", "set", "shift", "source", "test",
        "time", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "until", "wait",
        "while",
    }
)


_CMD_BUILTINS = frozenset(
    {
        "assoc", "break", "call", "cd", "chdir", "cls", "color", "copy", "date", "del", "dir", "echo",
        "endlocal", "erase", "exit", "for", "ftype", "goto", "if", "md", "mkdir", "mklink", "move",
        "path", "pause", "popd", "prompt", "pushd", "rd", "rem", "ren", "rename", "rmdir", "set",
        "setlocal", "shift", "start", "time", "title", "type", "ver", "verify", "vol",
    }
)


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


_DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD"


def first_word(command: str | tuple[str, ...], windows: bool) -> tuple[str | None, bool]:
    """(the word naming the program, whether it cannot be checked)."""
    if not isinstance(command, str):
        # Executed directly: no shell, so no builtins, assignments or expansions.
        return (command[0] if command else None), False
    try:
        # cmd.exe does not treat backslashes as escapes; shlex's posix mode would eat them.
        words = shlex.split(command, posix=not windows)
    except ValueError:  # unbalanced quotes: the shell will complain; check what we can
        words = command.split()
    if windows:
        words = [w[1:-1] if len(w) >= 2 and w[0] == w[-1] == '"' else w for w in words]
        if not words:
            return None, False
        word = words[0]
        return word, word.lower() in _CMD_BUILTINS or "%" in word or "!" in word
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]  # `FOO=1 cmd`: the assignments only change cmd's environment
    # `exec cmd …` is common in start scripts, and cmd is what must exist.
    while len(words) >= 2 and words[0] == "exec" and not words[1].startswith("-"):
        words = words[1:]
    if not words:
        return None, False
    word = words[0]
    return word, word in _SH_BUILTINS or any(c in word for c in "$`*?[")


def _executable_at(base: Path, env: Mapping[str, str], windows: bool) -> str | None:
    if windows:
        pathext = env_lookup(env, "PATHEXT", True) or _DEFAULT_PATHEXT
        # Lower-case: Windows matches either case, and the Linux tests' files are lower.
        exts = [e.lower() for e in pathext.split(";") if e]
        # A name with one of the PATHEXT extensions runs as is; any other gets one appended.
        if base.suffix.lower() in exts:
            candidates = [base]
        else:
            candidates = [base.with_name(base.name + ext) for ext in exts]
        return next((str(c) for c in candidates if c.is_file()), None)
    if base.is_file() and os.access(base, os.X_OK):
        return str(base)
    return None


def resolve_executable(
    command: str | tuple[str, ...],
    env: Mapping[str, str],
    cwd: Path,
    *,
    windows: bool = WINDOWS,
) -> str | None:
    """Where the program that `command` runs is, looked up as the child will look it up.

    The first word (after `VAR=value` assignments and `exec` for a shell string) is
    searched on env's PATH; a word with a slash is taken relative to `cwd`. A shell
    builtin, or a word the shell would expand (`$JAVA_HOME/bin/java`), cannot be checked
    and is returned as is. None when nothing executable is found.
    """
    word, unchecked = first_word(command, windows)
    if not word:
        return None
    if unchecked:
        return word
    if isinstance(command, str) and not windows and (word == "~" or word.startswith("~/")):
        home = env_lookup(env, "HOME", False)
        if home is None:
            return word
        word = home + word[1:]
    if "/" in word or (windows and "\\" in word):
        return _executable_at(cwd / word, env, windows)  # an absolute word replaces cwd

    path_value = env_lookup(env, "PATH", windows)
    if path_value is None:
        entries = [] if windows else ["/bin", "/usr/bin"]  # what execvp falls back to
    else:
        entries = path_value.split(path_separator(windows))
    if windows:
        entries = [str(cwd), *entries]  # cmd.exe looks in the current folder first
    for entry in entries:
        if not entry:
            if windows:
                continue
            entry = "."  # an empty POSIX PATH entry means the current folder
        # Relative entries are relative to the child's cwd: it chdirs before exec.
        found = _executable_at(cwd / entry / word, env, windows)
        if found is not None:
            return found
    return None
