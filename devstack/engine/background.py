"""Becoming the background supervisor of `up -d`: a fork of the CLI, not a new interpreter.

A fresh `python -m devstack _supervise` paid a second interpreter start-up, the imports and the
config parsing again (~0.12 s before the first service could start); the fork has the parsed
stack in hand. The child leaves the terminal's session, appends its output to the supervisor's
log file and is named SUPERVISOR_NAME (`ps -o comm`, `top`, psutil's `name()`); its command
line stays the one the user typed (`devstack up -d`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from devstack.errors import DevstackError

SUPERVISOR_NAME = "devstack-super"  # at most 15 bytes: the kernel's limit for a process name


def fork_supervisor(run: Callable[[], int], root: Path, out: Path) -> int:
    """Fork; return the child's pid. The child (new session, cwd `root`, stdin /dev/null,
    stdout and stderr appended to `out`, no other inherited descriptors) exits with `run()`."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _detach(root, out)
        code = run()
    except DevstackError as exc:  # said as the CLI says it; `up -d` shows the file's last lines
        print(f"Error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        traceback.print_exc()  # a bug: the traceback is the report; the last line says it short
        print(f"devstack hit an internal error ({type(exc).__name__}: {exc})", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # never back into the CLI's code (nor its atexit handlers) in the child


def _detach(root: Path, out: Path) -> None:
    os.setsid()  # no terminal: Ctrl-C or closing it does not reach the services
    os.chdir(root)
    stdin = os.open(os.devnull, os.O_RDONLY)
    output = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    # Whatever the caller's process had open (a test harness's pipes, a shell's extra
    # descriptors) must not be held open for the supervisor's lifetime.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.environ["NO_COLOR"] = "1"  # a file, never a terminal
    name_process(SUPERVISOR_NAME)


def name_process(name: str) -> None:
    """The name `ps -o comm`, `top` and psutil's name() show (the command line stays as typed):
    with setproctitle where it is installed (the `proctitle` extra), else through Linux's
    /proc/self/comm; elsewhere the process keeps its name. Never fails: a name is a courtesy."""
    try:
        import setproctitle
    except ImportError:
        with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
            comm.write(name)
        return
    setproctitle.setthreadtitle(name)
