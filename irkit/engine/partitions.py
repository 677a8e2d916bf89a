"""Streaming load of evidence into hour-partitioned Parquet, with a completion marker.

Layout (the same for every engine, local disk or any fsspec URL)::

    <tables>/events/hour=YYYY-MM-DDTHH/part-FFFFF-BBBBBB.parquet
    <tables>/events/_SUCCESS          # JSON, written last: rows, partitions, files

Why this shape: a whole day of drain logs does not fit in memory, so the loader writes each
batch as soon as it is parsed (memory is bounded by the batch size, not the input), and the
analyses read only the hours and columns they need.  Each part is written to a dot-named temp
file and renamed, so a reader never sees half a file; the ``_SUCCESS`` marker is written after
every part, so a load killed half-way is never mistaken for a complete one
(:func:`open_partitions` refuses a folder without it).

Two extra columns ride along with the canonical ones:

* ``_seq`` — the row's position in load order (``file_index << 40 | row``), so "first value by
  row order" means the same thing out of core as in a pandas frame;
* ``_report_ms`` / ``_report_aws`` — a Lambda ``REPORT`` line's duration and AWS request id,
  so the cross-file REPORT join of :func:`irkit.sources.lambda_report.apply_reports` can be
  finished in SQL (see :mod:`irkit.engine.local`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from irkit import schema
from irkit.errors import InputFormatError, IrkitError
from irkit.sources.lambda_report import ReportLines

MARKER = "_SUCCESS"
FORMAT_VERSION = 1
#: Rows per streamed batch: large enough for Parquet row groups, small enough for bounded RSS.
BATCH_ROWS = 200_000
SEQ_SHIFT = 40
EXTRA_COLUMNS = {"_seq": pa.int64(), "_report_ms": pa.float64(), "_report_aws": pa.string()}

#: progress(stage, done_rows, detail) — called after every written batch.
ProgressFn = Callable[[str, int, str], None]


@dataclass
class FileLoad:
    """What loading one file into partitions produced (picklable: Dask workers return it)."""

    path: str
    format: str
    lines: int
    rows: int
    rejected: int
    hours: dict[str, int] = field(default_factory=dict)
    rejected_frame: pd.DataFrame | None = None

    def report(self) -> dict[str, object]:
        return {"path": self.path, "format": self.format, "lines": self.lines,
                "rows": self.rows, "rejected": self.rejected}


def hour_key(timestamps: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """The partition key of each timestamp: codes into ``YYYY-MM-DDTHH`` labels (UTC), with
    ``none`` for a missing time.  Vectorised in Arrow; each hour is formatted once."""
    hours = pc.floor_temporal(timestamps, unit="hour")
    encoded = hours.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    labels = [ts.strftime("%Y-%m-%dT%H") for ts in encoded.dictionary.to_pylist()]
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.indices.is_valid().to_numpy(zero_copy_only=False),
                     codes, len(labels)).astype(np.int64)
    return codes, [*labels, "none"]


def _arrow_schema() -> pa.Schema:
    from irkit.sources.records import _ARROW_TYPES

    fields = []
    for name, dtype in schema.EVENT_COLUMNS.items():
        target = (pa.timestamp("us", tz="UTC") if isinstance(dtype, pd.DatetimeTZDtype)
                  else _ARROW_TYPES[dtype])
        fields.append(pa.field(name, target))
    fields += [pa.field(k, v) for k, v in EXTRA_COLUMNS.items()]
    return pa.schema(fields)


def _write_atomic(table: pa.Table, target: Path) -> None:
    """Write ``target`` via a dot-named temp file + rename; a full disk is a one-line error."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise IrkitError(f"{target.parent}: disk full while writing partitions "
                             f"(free space, or point the run elsewhere)") from None
        raise IrkitError(f"{target}: cannot write partition: {exc.strerror or exc}") from None


def write_batch(table: pa.Table, events_dir: Path, file_index: int, batch_index: int,
                first_row: int, arrow_schema: pa.Schema | None = None) -> dict[str, int]:
    """Write one canonical Arrow batch (with its REPORT columns: see
    :func:`irkit.sources.records.canonical_arrow`) as one part per hour it touches; return
    rows per hour."""
    if not table.num_rows:
        return {}
    n = table.num_rows
    seq = (np.int64(file_index) << SEQ_SHIFT) + first_row + np.arange(n, dtype=np.int64)
    table = table.append_column("_seq", pa.array(seq)).select(
        (arrow_schema or _arrow_schema()).names).cast(arrow_schema or _arrow_schema())
    codes, labels = hour_key(table.column("timestamp"))
    if (np.diff(codes) < 0).any():  # hours interleave: one stable sort, then one run per hour
        order = np.argsort(codes, kind="stable")
        table, codes = table.take(pa.array(order)), codes[order]
    # logs arrive in time order, so usually each hour is already one run: zero-copy slices
    starts = [0, *(int(i) + 1 for i in np.flatnonzero(np.diff(codes)))]
    written: dict[str, int] = {}
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        label = labels[codes[start]]
        _write_atomic(table.slice(start, stop - start), events_dir / f"hour={label}" /
                      f"part-{file_index:05d}-{batch_index:06d}.parquet")
        written[label] = stop - start
    return written


def _event_table(frame: pd.DataFrame, lines: ReportLines | None) -> pa.Table:
    """A loader's events frame as a canonical Arrow batch with its REPORT columns."""
    from irkit.sources.lambda_report import REPORT_AWS, REPORT_MS, mark_reports
    from irkit.sources.records import canonical_arrow

    if lines is None:
        frame, lines = mark_reports(frame)
    ms, aws = lines.columns(len(frame))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return canonical_arrow(table.append_column(REPORT_MS, pa.array(ms))
                           .append_column(REPORT_AWS, aws))


def _with_origin(table: pa.Table, origin: str) -> pa.Table:
    """Every row's ``origin_file`` replaced by ``origin`` (the evidence copy's name)."""
    index = table.schema.get_field_index("origin_file")
    names = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)),
                                           pa.array([origin], pa.large_string()))
    return table.set_column(index, "origin_file", names.cast(pa.large_string()))


def load_file(path: str, events_dir: str, file_index: int, *, batch_rows: int = BATCH_ROWS,
              origin: str | None = None, progress: ProgressFn | None = None) -> FileLoad:
    """Load one evidence file into ``events_dir`` partitions, batch by batch.

    Drain NDJSON streams through :func:`irkit.sources.drains.iter_event_tables` (bounded
    memory, Arrow all the way); other event formats (small by nature: CLI output, traces)
    load whole.  Non-event files (deployments, metrics) are not written here — their tables
    are small.
    """
    from irkit.sources import load_file as load_any
    from irkit.sources import registry
    from irkit.sources.base import Rejections
    from irkit.sources.drains import iter_event_tables

    src = Path(path)
    out = Path(events_dir)
    try:
        name: str | None = registry.detect(src).name
    except InputFormatError:
        name = None  # empty or unknown: the ordinary loader says which, per its rules
    result = FileLoad(path=path, format=name or "", lines=0, rows=0, rejected=0)
    arrow_schema = _arrow_schema()

    def batches() -> Iterator[pa.Table]:
        if name == "drain-ndjson":
            sink = Rejections(str(src))
            yield from iter_event_tables(src, batch_rows, sink)
            result.rejected = len(sink)
            result.rejected_frame = sink.frame()
            return
        loaded = load_any(src)
        result.format = loaded.report.format
        result.rejected = loaded.report.rejected
        result.rejected_frame = loaded.rejected
        result.lines = loaded.report.lines
        if loaded.kind == "events" and len(loaded.table):
            yield _event_table(loaded.table, loaded.reports)

    def written(job: Future[dict[str, int]], rows: int) -> None:
        for hour, n in job.result().items():
            result.hours[hour] = result.hours.get(hour, 0) + n
        if progress is not None:
            progress("load", rows, src.name)

    # one batch is written (encoding + compression, GIL released) while the next is parsed;
    # at most one write in flight keeps memory at about two batches
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="irkit-write") as writer:
        pending: tuple[Future[dict[str, int]], int] | None = None
        for b, table in enumerate(batches()):
            if origin is not None:
                table = _with_origin(table, origin)
            job = writer.submit(write_batch, table, out, file_index, b, result.rows,
                                arrow_schema)
            result.rows += table.num_rows
            if pending is not None:
                written(*pending)
            pending = (job, table.num_rows)
        if pending is not None:
            written(*pending)
    if name == "drain-ndjson":
        result.lines = result.rows + result.rejected
    return result


def start_partitions(events_dir: Path) -> None:
    """Empty ``events_dir`` (a previous, possibly half-finished load) before a new load."""
    if events_dir.exists():
        shutil.rmtree(events_dir)
    events_dir.mkdir(parents=True)


def finish_partitions(events_dir: Path, loads: Iterable[FileLoad]) -> dict[str, object]:
    """Write the ``_SUCCESS`` marker (last): row counts per hour and per file."""
    loads = list(loads)
    hours: dict[str, int] = {}
    for item in loads:
        for hour, n in item.hours.items():
            hours[hour] = hours.get(hour, 0) + n
    marker = {"format_version": FORMAT_VERSION, "rows": sum(i.rows for i in loads),
              "rejected": sum(i.rejected for i in loads), "hours": dict(sorted(hours.items())),
              "files": [i.report() for i in loads]}
    tmp = events_dir / f".{MARKER}.tmp"
    try:
        tmp.write_text(json.dumps(marker, indent=1), encoding="utf-8")
        os.replace(tmp, events_dir / MARKER)
    except OSError as exc:
        raise IrkitError(f"{events_dir}: cannot write the completion marker: "
                         f"{exc.strerror or exc}") from None
    return marker


@dataclass
class Partitions:
    """A complete partitioned events table: its folder, marker and Parquet glob."""

    root: Path
    marker: Mapping[str, object]

    @property
    def glob(self) -> str:
        return str(self.root / "hour=*" / "part-*.parquet")

    @property
    def rows(self) -> int:
        return int(self.marker["rows"])  # type: ignore[arg-type]

    def files(self) -> list[Path]:
        return sorted(self.root.glob("hour=*/part-*.parquet"))


def open_partitions(events_dir: str | os.PathLike[str]) -> Partitions:
    """Open a partitioned events table, refusing one whose load did not finish.

    The marker's per-hour row counts must match the Parquet footers: a part deleted or
    truncated after the load is an error too, not a silently smaller table.
    """
    root = Path(events_dir)
    marker_path = root / MARKER
    if not marker_path.is_file():
        raise IrkitError(f"{root}: incomplete load (no {MARKER} marker): the load was "
                         "interrupted; load the evidence again")
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IrkitError(f"{marker_path}: unreadable completion marker: {exc}") from None
    parts = Partitions(root, marker)
    found: dict[str, int] = {}
    for part in parts.files():
        hour = part.parent.name.removeprefix("hour=")
        try:
            found[hour] = found.get(hour, 0) + pq.ParquetFile(part).metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise IrkitError(f"{part}: damaged partition: {exc}") from None
    if found != {k: v for k, v in marker.get("hours", {}).items() if v}:
        raise IrkitError(f"{root}: partitions do not match the {MARKER} marker's row counts "
                         "(files removed or added after the load)")
    return parts


def load_partitions(paths: Iterable[str | os.PathLike[str]], events_dir: str | os.PathLike[str],
                    *, batch_rows: int = BATCH_ROWS, origins: Mapping[str, str] | None = None,
                    progress: ProgressFn | None = None) -> tuple[Partitions, list[FileLoad]]:
    """Load every file into fresh partitions in this process and mark the load complete."""
    root = Path(events_dir)
    start_partitions(root)
    loads = []
    for i, p in enumerate(paths):
        origin = (origins or {}).get(str(p))
        loads.append(load_file(str(p), str(root), i, batch_rows=batch_rows, origin=origin,
                               progress=progress))
    finish_partitions(root, loads)
    return open_partitions(root), loads
