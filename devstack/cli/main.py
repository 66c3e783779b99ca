"""The `devstack` command line: finds the stack, talks to the supervisor, renders, and is the only
place that prints errors and picks exit codes (docs/status.md: 0 ok, 1 a service failed, 2 usage/config,
3 no supervisor). One module per command or command family registers on the group (group.py);
heavy modules (asyncio machinery, h11, psutil) are imported only by the commands that need
them, so `status` answers fast.
"""

from __future__ import annotations

import sys
import traceback

import click

# Each module registers its commands on the group when imported.
from devstack.cli import environment, export, init, logs, schema, services, status, up  # noqa: F401
from devstack.cli.group import cli
from devstack.errors import DevstackError


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="devstack", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.UsageError as exc:
        # One line, like every other error of devstack: the usage block is what -h is for.
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DevstackError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as exc:
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"devstack hit an internal error ({type(exc).__name__}: {exc}); "
                       "run again with --debug for the details.", err=True)
        sys.exit(1)
    sys.exit(0)
