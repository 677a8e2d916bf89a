"""``irkit lab INCIDENT_ID``: JupyterLab on a working copy of the incident's latest run."""

from __future__ import annotations

import signal
import webbrowser
from types import FrameType

import click


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("lab")
@click.argument("incident_id")
@click.option("--archive", type=click.Path(file_okay=False), default=None,
              help="Archive folder (default $IRKIT_ARCHIVE or ./incidents).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port on 127.0.0.1 (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the URL, do not open a browser.")
def lab(incident_id: str, archive: str | None, port: int | None, no_browser: bool) -> None:
    """Open JupyterLab on a working copy of INCIDENT_ID's latest run.

    The archived run is copied to <archive>/<incident>/work/ and never written; the copy holds
    forensics.ipynb, wired to its tables. The server listens on 127.0.0.1 with a random token
    and runs until Ctrl-C.
    """
    from irkit.incident.lab import prepare_workspace, start_lab

    workspace = prepare_workspace(incident_id, archive)
    click.echo(f"working copy: {workspace.work_dir}")
    click.echo(f"original run (untouched): {workspace.run_dir}")
    server = start_lab(workspace, port=port)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        click.echo(f"JupyterLab: {server.url}", nl=True)
        click.echo("press Ctrl-C to stop the server")
        if not no_browser:
            webbrowser.open(server.url)
        server.process.wait()
    except KeyboardInterrupt:
        click.echo("stopping JupyterLab …", err=True)
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
