"""Loading Vercel evidence into the canonical tables (see :mod:`irkit.schema`).

Every file is detected by content (:mod:`irkit.sources.registry`), read by its format's loader and
routed to the table of its kind (events, deployments, metrics).  Nothing is lost: each input
record is a row or a rejected record (file, line, reason, raw text), and the per-file report says
how many of each.  Directories are read as every regular, non-hidden file inside them (sorted),
which is how a drain spool written by ``irkit receive`` is loaded.

An empty (or whitespace-only) file is valid evidence of "nothing was logged": it loads as zero
rows with format ``empty`` rather than being an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from irkit import schema
from irkit.errors import InputFormatError, IrkitError
from irkit.sources.arrow_memory import system_allocator
from irkit.sources.base import FileReport, Kind, Loaded, read_head

PathLike = str | Path
Paths = PathLike | Iterable[PathLike]

__all__ = ["LoadResult", "load", "load_deployments", "load_metrics", "load_report"]


@dataclass
class LoadResult:
    """Everything one load produced: the canonical tables, rejected records and file reports."""

    events: pd.DataFrame = field(default_factory=lambda: schema.empty("events"))
    deployments: pd.DataFrame = field(default_factory=lambda: schema.empty("deployments"))
    metrics: pd.DataFrame = field(default_factory=lambda: schema.empty("metrics"))
    rejected: pd.DataFrame = field(default_factory=lambda: schema.empty("rejected"))
    files: list[FileReport] = field(default_factory=list)
    #: the table kind each of ``files`` went to (``None`` for empty files)
    kinds: list[str | None] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(report.rows for report in self.files)

    def as_dict(self) -> dict[str, object]:
        """The object ``irkit load --json`` prints (SPEC)."""
        return {"rows": self.rows, "rejected": len(self.rejected),
                "files": [report.as_dict() for report in self.files]}

    def table(self, kind: Kind) -> pd.DataFrame:
        return getattr(self, kind)


def expand_paths(paths: Paths) -> list[Path]:
    """The files to read: each path as given, directories replaced by their files (sorted)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and not any(part.startswith(".")
                                                      for part in p.relative_to(path).parts))
            if not found:
                raise InputFormatError(f"{path}: directory holds no files to load")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise InputFormatError(f"{path}: not a regular file")
        else:
            raise InputFormatError(f"{path}: no such file")
    if not files:
        raise IrkitError("no input files given")
    return files


def load_file(path: Path, format: str = "auto") -> Loaded:
    """One file through its format's loader (detected by content unless ``format`` is given)."""
    from irkit.sources import registry

    if format == "auto":
        try:
            head = read_head(path)
        except OSError as exc:
            raise InputFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if not head.strip():
            return Loaded(kind="events", table=schema.empty("events"),
                          report=FileReport(str(path), "empty", 0, 0, 0))
        fmt = registry.detect(path)
    else:
        fmt = registry.by_name(format)
    return fmt.read(path)


@system_allocator()
def load_report(paths: Paths, format: str = "auto",
                on_file: Callable[[Path, FileReport], None] | None = None) -> LoadResult:
    """Load every file and route it to the table of its kind; see :class:`LoadResult`.

    ``on_file`` is called after each file (the CLI's progress display uses it).  Lambda
    ``REPORT`` lines are applied across all files at the end, so a request's duration
    reaches its rows even when the REPORT line came in another delivery.  Arrow allocates
    from the system allocator meanwhile (:mod:`irkit.sources.arrow_memory`).
    """
    from irkit.sources.lambda_report import ReportLines, fill_durations, mark_reports

    tables: dict[str, list[pd.DataFrame]] = {"events": [], "deployments": [], "metrics": []}
    rejected: list[pd.DataFrame] = []
    reports: list[tuple[int, ReportLines]] = []
    event_rows = 0
    result = LoadResult()
    for path in expand_paths(paths):
        loaded = load_file(path, format)
        result.files.append(loaded.report)
        result.kinds.append(None if loaded.report.format == "empty" else loaded.kind)
        if on_file is not None:
            on_file(path, loaded.report)
        table = loaded.table
        if loaded.kind == "events" and len(table):
            lines = loaded.reports
            if lines is None:
                table, lines = mark_reports(table)
            reports.append((event_rows, lines))
            event_rows += len(table)
        if len(table):
            tables[loaded.kind].append(table)
        if len(loaded.rejected):
            rejected.append(loaded.rejected)
    for kind, frames in tables.items():
        if frames:
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            setattr(result, kind, frame)
    if rejected:
        result.rejected = pd.concat(rejected, ignore_index=True)
    # a request's REPORT line may sit in another delivery: the join runs once, over all files
    result.events = fill_durations(result.events, ReportLines.concat(reports))
    return result


def _only(result: LoadResult, kind: Kind, hint: str) -> None:
    for report, found in zip(result.files, result.kinds, strict=True):
        if found not in (kind, None):
            raise InputFormatError(f"{report.path}: holds {found} ({report.format}), "
                                   f"not {kind}; {hint}")


def load(paths: Paths, format: str = "auto") -> pd.DataFrame:
    """Load log files (drains, CLI output, runtime/request logs, OTLP traces) into one events table.

    ``df.attrs["irkit"]`` holds ``{"rejected": int, "files": [FileReport.as_dict(), ...]}``; the
    rejected records themselves are in :func:`load_report`'s result.  Deployment or metrics
    files are an error here: use :func:`load_deployments` / :func:`load_metrics`, or
    :func:`load_report` for a mix.
    """
    result = load_report(paths, format)
    _only(result, "events", "use irkit.load_deployments / irkit.load_metrics / load_report")
    events = result.events
    events.attrs["irkit"] = {"rejected": len(result.rejected),
                             "files": [report.as_dict() for report in result.files]}
    return events


def load_deployments(path_or_paths: Paths) -> pd.DataFrame:
    """Load deployment lists (``/v6``/``/v7`` API JSON, ``vercel ls --format json``)."""
    result = load_report(path_or_paths)
    _only(result, "deployments", "use irkit.load for logs")
    return result.deployments


def load_metrics(path_or_paths: Paths) -> pd.DataFrame:
    """Load metrics (Prometheus text exposition, JSON metrics, observability query responses)."""
    result = load_report(path_or_paths)
    _only(result, "metrics", "use irkit.load for logs")
    return result.metrics
