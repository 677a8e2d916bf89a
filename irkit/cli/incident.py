"""``irkit open``, ``demo``, ``verify``, ``note`` and ``status``: incident runs and their archive.

Exit codes: 0 success; 1 a check failed (``verify`` found a changed/missing/extra file or a
broken chain, or ``open``/``demo`` archived the run but a template failed — its notebook holds
the error); 2 bad usage or unreadable input; 3 a secret value was found in the run, which was
discarded.  Progress goes to stderr (rich), results to stdout (``--json`` for scripts).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from irkit.errors import CheckFailed

_path = click.Path(dir_okay=False, path_type=Path)


class _RichProgress:
    """Stage-by-stage progress on stderr: a spinner per running stage, a tick when done."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=self.console,
                                 disable=quiet, transient=False)
        self.tasks: dict[str, Any] = {}
        self.rows: dict[str, Any] = {}
        self.counted: dict[str, tuple[int, float]] = {}

    def count(self, stage: str, rows: int, detail: str = "") -> None:
        """Rows done so far in a long stage, with throughput (the engine calls this per batch)."""
        import time

        from rich.markup import escape

        done, t0 = self.counted.get(stage, (0, time.perf_counter()))
        done += rows
        self.counted[stage] = (done, t0)
        rate = done / max(time.perf_counter() - t0, 1e-6)
        text = (f"  {escape(stage)}: {done:,} rows ({rate:,.0f} rows/s)"
                f"{' — ' + escape(detail[:60]) if detail else ''}")
        if stage not in self.rows:
            self.rows[stage] = self.progress.add_task(text, total=None)
        self.progress.update(self.rows[stage], description=text)

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, stage: str, state: str, detail: str = "") -> None:
        from rich.markup import escape

        text = f"[bold]{escape(stage)}[/bold] {escape(detail)}"
        if state == "start":
            self.tasks[stage] = self.progress.add_task(text, total=1)
            return
        if stage in self.rows:  # the row counter's line ends with the stage
            self.progress.update(self.rows.pop(stage), visible=False)
        mark = "[green]✓[/green]" if state == "done" else "[red]✗[/red]"
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task("", total=1)
        self.progress.update(task, description=f"{mark} {text}", completed=1)


def _report_run(result: Any, as_json: bool) -> None:
    if as_json:
        from irkit.incident.tables import dumps

        click.echo(dumps(result.as_dict()), nl=False)
    else:
        click.echo(f"run: {result.run_dir}")
        for path in result.reports:
            click.echo(f"report: {path}")
        click.echo(f"verify with: irkit verify {result.run_dir}")
    failed = [t for t in result.templates if not t.ok]
    if failed:
        for t in failed:
            click.echo(f"irkit: template {t.name} failed ({t.error}); executed notebook with the "
                       f"error: {result.run_dir / t.notebook}", err=True)
        raise SystemExit(1)


def _run_open(incident_id: str, severity: str, *, quiet: bool, **kwargs: Any) -> None:
    from irkit.incident.runner import open_incident

    as_json = kwargs.pop("as_json")
    with _RichProgress(quiet=quiet) as progress:
        result = open_incident(incident_id, severity, progress=progress,
                               load_progress=None if quiet else progress.count,
                               command=["irkit", *sys.argv[1:]], **kwargs)
    _report_run(result, as_json)


_common_run_options = [
    click.option("--archive", type=click.Path(file_okay=False, path_type=Path),
                 help="Archive folder (default $IRKIT_ARCHIVE or ./incidents)."),
    click.option("--json", "as_json", is_flag=True, help="Print the result object as JSON."),
    click.option("--show-code", is_flag=True, help="Keep code cells in the HTML reports."),
    click.option("--redact", is_flag=True, help="Redact personal data in the reports' tables."),
    click.option("--quiet", "-q", is_flag=True, help="No progress display."),
]


def _with_options(options: list[Any]) -> Any:
    def wrap(fn: Any) -> Any:
        for option in reversed(options):
            fn = option(fn)
        return fn
    return wrap


@click.command("open")
@click.argument("incident_id")
@click.argument("more_logs", nargs=-1, type=_path)
@click.option("--severity", required=True, help="SEV-1 … SEV-4 (playbook).")
@click.option("--logs", multiple=True, type=_path,
              help="Log files (drains, vercel logs output, …); repeat or list several.")
@click.option("--deployments", multiple=True, type=_path, help="Deployments JSON.")
@click.option("--metrics", multiple=True, type=_path, help="Metrics (Prometheus text/JSON).")
@click.option("--traces", multiple=True, type=_path, help="OTLP trace JSON.")
@click.option("--start", "window_start", help="Window start (ISO, UTC); default: first event.")
@click.option("--end", "window_end", help="Window end (ISO, UTC); default: last event.")
@click.option("--engine", type=click.Choice(["local", "dask"]), envvar="IRKIT_ENGINE",
              default=None, help="Where evidence is loaded and reduced: local (default, "
              "out-of-core DuckDB over Parquet) or dask (a dask.distributed cluster).")
@click.option("--scheduler", envvar="IRKIT_SCHEDULER", default=None, metavar="ADDRESS",
              help="Dask scheduler address for --engine dask (e.g. tcp://10.0.0.5:8786).")
@click.option("--memory-limit", envvar="IRKIT_MEMORY_LIMIT", default=None, metavar="SIZE",
              help="Memory for the SQL reductions (default 1GB); past it they spill to disk.")
@click.option("--partitions", envvar="IRKIT_PARTITIONS", default=None, metavar="URL",
              help="Shared storage for the event partitions (path or fsspec URL, e.g. "
              "s3://bucket/prefix; credentials from the environment). Default: the run's "
              "tables/events/.")
@_with_options(_common_run_options)
def open_(incident_id: str, more_logs: tuple[Path, ...], severity: str, logs: tuple[Path, ...],
          deployments: tuple[Path, ...], metrics: tuple[Path, ...], traces: tuple[Path, ...],
          window_start: str | None, window_end: str | None, engine: str | None,
          scheduler: str | None, memory_limit: str | None, partitions: str | None,
          archive: Path | None, as_json: bool, show_code: bool, redact: bool,
          quiet: bool) -> None:
    """Ingest evidence, run the three templates, render reports, write findings and manifest."""
    all_logs = [*logs, *more_logs]
    if not all_logs:
        from irkit.errors import IrkitError

        raise IrkitError("--logs: at least one log file is required")
    _run_open(incident_id, severity, quiet=quiet, logs=all_logs, deployments=deployments,
              metrics=metrics, traces=traces, archive=archive, window_start=window_start,
              window_end=window_end, engine=engine, scheduler=scheduler,
              memory_limit=memory_limit, partitions=partitions,
              show_code=show_code, redact=redact, as_json=as_json)


@click.command("demo")
@click.option("--severity", default="SEV-2", show_default=True)
@click.option("--scenario", default="default", show_default=True,
              help="default, latency_creep, no_deployment, low_traffic, quiet.")
@click.option("--events", "n_events", type=int, default=100_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--incident-id", help="Default: the next free incident-<today>-NNN.")
@_with_options(_common_run_options)
def demo(severity: str, scenario: str, n_events: int, seed: int, incident_id: str | None,
         archive: Path | None, as_json: bool, show_code: bool, redact: bool,
         quiet: bool) -> None:
    """``irkit open`` on the bundled, generated demo incident (a new incident each time)."""
    from irkit.demo import generate, scribe_notes
    from irkit.incident.archive import archive_root
    from irkit.incident.ids import next_incident_id
    from irkit.incident.notes import add_note

    root = archive_root(archive)
    incident_id = incident_id or next_incident_id(root)
    with tempfile.TemporaryDirectory(prefix="irkit-demo-") as tmp:
        incident = generate(Path(tmp), seed=seed, events=n_events, scenario=scenario)
        for entry in scribe_notes(incident.truth):
            add_note(root, incident_id, entry["text"], author="demo-scribe",
                     kind=entry["kind"], at=entry["at"])
        _run_open(incident_id, severity, quiet=quiet, logs=list(incident.logs),
                  deployments=[incident.deployments], metrics=[incident.metrics],
                  traces=[incident.traces], archive=root, show_code=show_code,
                  redact=redact, as_json=as_json)


@click.command("verify")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def verify(folder: Path, as_json: bool) -> None:
    """Re-hash a run (or every run of an incident): exit 0 intact, 1 naming each problem."""
    from irkit.incident.manifest import verify_path

    checks = verify_path(folder)
    if as_json:
        click.echo(json.dumps({"ok": all(c.ok for c in checks),
                               "runs": [c.as_dict() for c in checks]}, indent=2))
    else:
        for check in checks:
            if check.ok:
                click.echo(f"intact: {check.run_dir}")
            for line in check.lines():
                click.echo(line)
    bad = [c for c in checks if not c.ok]
    if bad:
        n = sum(len(c.lines()) for c in bad)
        raise CheckFailed(f"verify {folder}: {n} problem(s) in {len(bad)} of {len(checks)} run(s)")


@click.command("note")
@click.argument("incident_id")
@click.argument("text", nargs=-1, required=True)
@click.option("--author", help="Default: $USER.")
@click.option("--kind", default="note", show_default=True,
              help="note, alert, ic, action, next, eta, root-cause, mitigation, resolved, "
                   "resolution, went-well, went-badly, lucky, action-item.")
@click.option("--at", "at", help="When (ISO; naive = UTC). Default: now.")
@click.option("--archive", type=click.Path(file_okay=False, path_type=Path))
def note(incident_id: str, text: tuple[str, ...], author: str | None, kind: str,
         at: str | None, archive: Path | None) -> None:
    """Append a timestamped scribe entry to the incident timeline."""
    from irkit.incident.archive import archive_root
    from irkit.incident.notes import add_note

    entry = add_note(archive_root(archive), incident_id, " ".join(text), author=author,
                     kind=kind, at=at)
    click.echo(f"{entry['time']} [{entry['kind']}] {entry['author']}: {entry['text']}")


@click.command("status")
@click.argument("incident_id")
@click.option("--set", "new_status",
              type=click.Choice(["investigating", "identified", "mitigating", "monitoring",
                                 "resolved"]),
              help="Change the status first (recorded in the timeline).")
@click.option("--author", help="Default: $USER.")
@click.option("--archive", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def status(incident_id: str, new_status: str | None, author: str | None, archive: Path | None,
           as_json: bool) -> None:
    """Print the playbook's STATUS UPDATE block and the status-page text."""
    from irkit.incident.archive import archive_root
    from irkit.incident.ids import validate_incident_id
    from irkit.incident.status import format_status, set_status, status_update

    validate_incident_id(incident_id)
    root = archive_root(archive)
    if new_status:
        set_status(root, incident_id, new_status, author=author)
    update = status_update(root, incident_id)
    click.echo(json.dumps(update, indent=2) if as_json else format_status(update))
