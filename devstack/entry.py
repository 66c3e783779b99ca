"""The console entry point. `devstack status` is what scripts and prompts call over and over,
so its common forms are answered here from the control socket alone: no click, no config
parsing, no asyncio (about a third of the full CLI's start-up). Anything else, and `status`
when no supervisor answers (the offline view needs the config), goes to the full CLI.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

FAST_STATUS_ARGS = ({"status"}, {"status", "--json"})


def main() -> NoReturn:
    argv = sys.argv[1:]
    code: int | None = None
    try:
        if len(argv) <= 2 and argv[:1] == ["status"] and set(argv) in FAST_STATUS_ARGS:
            code = fast_status(as_json="--json" in argv)
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


def fast_status(as_json: bool) -> int | None:
    """The exit code after printing the running supervisor's status; None to let the full CLI
    answer (no stack file, no supervisor, or anything unexpected: it reports those properly)."""
    from pathlib import Path

    from devstack.config.locate import nearest_stack_file
    from devstack.control import client
    from devstack.control.paths import StatePaths
    from devstack.errors import DevstackError

    found = nearest_stack_file(Path.cwd())
    if found is None:
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
