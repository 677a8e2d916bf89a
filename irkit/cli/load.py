"""``irkit load PATH... [--format F] [--out FILE.parquet] [--json]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from irkit.errors import IrkitError

#: Inputs bigger than this get a progress display (when stderr is a terminal).
PROGRESS_BYTES = 50 * 1024 * 1024


@click.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "format_", default="auto", show_default=True,
              help="Input format name (e.g. drain-ndjson); default: detect by content.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the events table (canonical schema) to this Parquet file.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"rows", "rejected", "files": [...]} as JSON on stdout.')
def load(paths: tuple[Path, ...], format_: str, out: Path | None, as_json: bool) -> None:
    """Load and normalise Vercel logs, deployments and metrics; report rows and rejects."""
    from irkit.sources import expand_paths, load_report

    files = expand_paths(paths)
    total = sum(path.stat().st_size for path in files)
    if sys.stderr.isatty() and total > PROGRESS_BYTES:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("loading", total=total)
            result = load_report(files, format_, on_file=lambda path, _report:
                                 progress.advance(task, path.stat().st_size))
    else:
        result = load_report(files, format_)
    if out is not None:
        _write_parquet(result.events, out)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    else:
        _print_summary(result, out)


def _write_parquet(events, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        events.to_parquet(out, index=False)
    except OSError as exc:
        raise IrkitError(f"{out}: cannot write ({exc.strerror or exc})") from None


def _print_summary(result, out: Path | None) -> None:
    for report in result.files:
        click.echo(f"{report.path}: {report.format}, {report.lines} records, "
                   f"{report.rows} rows, {report.rejected} rejected")
    click.echo(f"total: {result.rows} rows, {len(result.rejected)} rejected"
               + (f"; events written to {out}" if out else ""))
