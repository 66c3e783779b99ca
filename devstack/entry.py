"""The console entry point. `devstack status` is what scripts and prompts call over and over,
so its common forms (`status` or `ps`, `--json`, the stack named by `-f PATH`, `-f DIR` or
DEVSTACK_FILE, `--ansi`) are answered here from the control socket alone: no click, no config
parsing, no asyncio (about a third of the full CLI's start-up). Anything else, and `status`
when no supervisor answers (the offline view needs the config), goes to the full CLI.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

STATUS_NAMES = ("status", "ps")
ANSI_MODES = ("auto", "always", "never")  # the status table has no colour: accepted, not used


def main() -> NoReturn:
    argv = sys.argv[1:]
    code: int | None = None
    try:
        fast = fast_status_args(argv)
        if fast is not None:
            code = fast_status(*fast)
        if code is None:
            from devstack.cli.main import main as full_cli

            full_cli()
            code = 0
    except SystemExit as exc:
        code = exit_code(exc)
    leave(code)


def exit_code(exc: SystemExit) -> int:
    """What the interpreter would exit with for `exc` (printing a message code, as it does)."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1


def leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown (~15-25 ms with the supervisor's modules loaded,
    which `up -d` has imported to fork the supervisor): a CLI run holds nothing but its output,
    flushed here. Every command ends here, so a script calling devstack in a loop gains it too."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the reader went away (`devstack logs | head`): nothing to save
        pass
    os._exit(code)


def fast_status_args(argv: list[str]) -> tuple[str | None, bool] | None:
    """(the -f value, --json) when `argv` is a form of status the fast path answers, else None.

    The forms: [-f PATH | --file PATH | --file=PATH] [--ansi MODE] (status | ps) [--json]
    [--ansi MODE], in click's order (group options before the command's name)."""
    file: str | None = None
    as_json = command = False
    args = iter(argv)
    for arg in args:
        if arg in STATUS_NAMES and not command:
            command = True
        elif arg == "--json" and command:
            as_json = True
        elif arg in ("-f", "--file") and not command:
            file = next(args, None)
            if file is None:
                return None
        elif arg.startswith("--file=") and not command:
            file = arg.removeprefix("--file=")
        elif arg == "--ansi":
            if next(args, None) not in ANSI_MODES:
                return None
        elif not (arg.startswith("--ansi=") and arg.removeprefix("--ansi=") in ANSI_MODES):
            return None
    return (file, as_json) if command else None


def fast_status(file: str | None, as_json: bool) -> int | None:
    """The exit code after printing the running supervisor's status; None to let the full CLI
    answer (no stack file, no supervisor, or anything unexpected: it reports those properly)."""
    from pathlib import Path

    from devstack.config.locate import FILE_VAR, named_stack_file, nearest_stack_file
    from devstack.control import client
    from devstack.control.paths import StatePaths
    from devstack.errors import DevstackError

    file = file or os.environ.get(FILE_VAR) or None  # -f wins, as in the full CLI
    found = named_stack_file(Path.cwd(), Path(file)) if file else nearest_stack_file(Path.cwd())
    if found is None or not found.is_file():
        return None
    try:
        data = client.call(StatePaths.of(found.parent).socket, "status", io_timeout=10)
    except (DevstackError, OSError, ValueError):
        return None
    from devstack.cli.render import status_code, status_table

    if as_json:
        import json

        text = json.dumps(data, indent=2)
    else:
        text = status_table(data)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return status_code(data)
