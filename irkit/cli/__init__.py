"""The ``irkit`` command line.

Commands live in small modules next to each other and are imported only when invoked, so
``irkit patterns`` does not pay for papermill and ``irkit --help`` is instant.  Every failure the
user can act on is an :class:`irkit.errors.IrkitError`: it is printed as one line naming the
file or argument, with exit code 2 (1 for a failed check), never as a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from irkit import __version__
from irkit.errors import IrkitError

#: command name -> "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "load": "irkit.cli.load:load",
    "patterns": "irkit.cli.patterns:patterns",
    "open": "irkit.cli.incident:open_",
    "demo": "irkit.cli.incident:demo",
    "verify": "irkit.cli.incident:verify",
    "note": "irkit.cli.incident:note",
    "status": "irkit.cli.incident:status",
    "lab": "irkit.cli.lab:lab",
    "collect": "irkit.cli.capture:collect",
    "probe": "irkit.cli.capture:probe",
    "receive": "irkit.cli.capture:receive",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="irkit")
def cli() -> None:
    """irkit: turn Vercel logs, deployments and metrics into incident evidence and reports."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning known errors into one-line messages."""
    try:
        return cli.main(args=argv, prog_name="irkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("irkit: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except IrkitError as exc:
        click.echo(f"irkit: error: {one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("irkit: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: never a bare traceback
        if os.environ.get("IRKIT_DEBUG"):
            raise
        click.echo(
            f"irkit: internal error: {type(exc).__name__}: {one_line(str(exc))} "
            "(set IRKIT_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(2)


def one_line(text: str) -> str:
    """Collapse a message to a single line."""
    return " ".join(text.split())
