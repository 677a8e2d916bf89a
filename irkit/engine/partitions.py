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

``events_dir`` may be a local path or an fsspec URL (``s3://bucket/prefix``, ``memory://…``):
every operation on the layout goes through :class:`irkit.engine.storage.Storage`, so Dask
workers and ``irkit open`` can share an object store instead of a disk.  Local folders keep
Arrow's native writer and ``os.replace``.

Two extra columns ride along with the canonical ones:

* ``_seq`` — the row's position in load order (``file_index << 40 | row``), so "first value by
  row order" means the same thing out of core as in a pandas frame;
* ``_report_ms`` / ``_report_aws`` — a Lambda ``REPORT`` line's duration and AWS request id,
  so the cross-file REPORT join of :func:`irkit.sources.lambda_report.apply_reports` can be
  finished in SQL (see :mod:`irkit.engine.local`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from irkit.engine.storage import Storage, public_url
from irkit.errors import InputFormatError, IrkitError
from irkit.sources.lambda_report import ReportLines

MARKER = "_SUCCESS"
FORMAT_VERSION = 1
#: Rows per streamed batch: large enough for Parquet row groups, small enough for bounded RSS.
BATCH_ROWS = 100_000
SEQ_SHIFT = 40
EXTRA_COLUMNS = {"_seq": pa.int64(), "_report_ms": pa.float64(), "_report_aws": pa.string()}

#: Footer reads in flight when checking a remote layout against its marker (one request each).
REMOTE_READS = 8

#: progress(stage, done_rows, detail) — called after every written batch.
ProgressFn = Callable[[str, int, str], None]
#: A partition folder: a local path, an fsspec URL, or an open :class:`Storage`.
Location = str | os.PathLike[str] | Storage


def storage(events_dir: Location) -> Storage:
    """The :class:`Storage` of ``events_dir`` (passed through when it already is one)."""
    return events_dir if isinstance(events_dir, Storage) else Storage.of(events_dir)


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
    """The part files' schema: the canonical event columns plus :data:`EXTRA_COLUMNS`."""
    from irkit.sources.records import event_arrow_types

    return pa.schema([*event_arrow_types().items(), *EXTRA_COLUMNS.items()])


def write_batch(table: pa.Table, events_dir: Location, file_index: int, batch_index: int,
                first_row: int, arrow_schema: pa.Schema | None = None) -> dict[str, int]:
    """Write one canonical Arrow batch (with its REPORT columns: see
    :func:`irkit.sources.records.canonical_arrow`) as one part per hour it touches; return
    rows per hour.

    Each part is written atomically (:meth:`Storage.write_parquet`: dot-named temp + rename
    or move); a full disk is one line naming the hour's folder.
    """
    if not table.num_rows:
        return {}
    store = storage(events_dir)
    n = table.num_rows
    seq = (np.int64(file_index) << SEQ_SHIFT) + first_row + np.arange(n, dtype=np.int64)
    target = arrow_schema or _arrow_schema()
    table = table.append_column("_seq", pa.array(seq)).select(target.names).cast(target)
    codes, labels = hour_key(table.column("timestamp"))
    steps = np.diff(codes)
    if (steps < 0).any():  # hours interleave: one stable sort, then one run per hour
        order = np.argsort(codes, kind="stable")
        table, codes = table.take(pa.array(order)), codes[order]
        steps = np.diff(codes)
    # logs arrive in time order, so usually each hour is already one run: zero-copy slices
    starts = [0, *(int(i) + 1 for i in np.flatnonzero(steps))]
    written: dict[str, int] = {}
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        label = labels[codes[start]]
        store.write_parquet(table.slice(start, stop - start), f"hour={label}",
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


def load_file(path: str, events_dir: Location, file_index: int, *,
              batch_rows: int = BATCH_ROWS, origin: str | None = None,
              progress: ProgressFn | None = None) -> FileLoad:
    """Load one evidence file into ``events_dir`` partitions (a path or URL), batch by batch.

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
    out = storage(events_dir)
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


def start_partitions(events_dir: Location) -> Storage:
    """Clear ``events_dir`` of a previous, possibly half-finished load before a new one.

    The marker goes first, so an interrupted clean-up is still an incomplete load; then the
    ``hour=*`` folders.  Only the layout's own names are removed: on a shared bucket the
    prefix may hold other things.
    """
    store = storage(events_dir)
    store.rm(MARKER)
    for hour in store.glob("hour=*"):
        store.rm(hour, recursive=True)
    store.makedirs()
    return store


def finish_partitions(events_dir: Location, loads: Iterable[FileLoad]) -> dict[str, object]:
    """Write the ``_SUCCESS`` marker (last, atomically): row counts per hour and per file."""
    loads = list(loads)
    hours: dict[str, int] = {}
    for item in loads:
        for hour, n in item.hours.items():
            hours[hour] = hours.get(hour, 0) + n
    marker = {"format_version": FORMAT_VERSION, "rows": sum(i.rows for i in loads),
              "rejected": sum(i.rejected for i in loads), "hours": dict(sorted(hours.items())),
              "files": [i.report() for i in loads]}
    storage(events_dir).write_bytes(json.dumps(marker, indent=1).encode("utf-8"), MARKER)
    return marker


@dataclass
class Partitions:
    """A complete partitioned events table: its storage, marker and the parts checked
    against the marker when it was opened (relative names ``hour=…/part-….parquet``)."""

    store: Storage
    marker: Mapping[str, object]
    names: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path | str:
        """The folder: a :class:`~pathlib.Path` when local, else its URL."""
        return Path(self.store.path()) if self.store.is_local else self.store.url()

    @property
    def glob(self) -> str:
        """Every part, as DuckDB reads it (after :meth:`Storage.register` for a URL)."""
        return self.store.url("hour=*", "part-*.parquet")

    @property
    def rows(self) -> int:
        return int(self.marker["rows"])  # type: ignore[arg-type]

    def files(self) -> list[Path] | list[str]:
        """The parts: paths when local (callers stat or remove them), else URLs."""
        if self.store.is_local:
            return [Path(self.store.path(n)) for n in self.names]
        return [self.store.url(n) for n in self.names]

    def by_hour(self) -> dict[str, list[str]]:
        """Part paths or URLs per hour label, in hour order (one Dask task's share each)."""
        out: dict[str, list[str]] = {}
        for name in self.names:
            hour = name.split("/", 1)[0].removeprefix("hour=")
            out.setdefault(hour, []).append(self.store.url(name))
        return dict(sorted(out.items()))


def open_partitions(events_dir: Location) -> Partitions:
    """Open a partitioned events table (a path or URL), refusing one whose load did not finish.

    The marker's per-hour row counts must match the Parquet footers: a part deleted or
    truncated after the load is an error too, not a silently smaller table.
    """
    store = storage(events_dir)
    where = public_url(store.url())
    if not store.isfile(MARKER):
        raise IrkitError(f"{where}: incomplete load (no {MARKER} marker): the load was "
                         "interrupted; load the evidence again")
    try:
        marker = json.loads(store.read_bytes(MARKER).decode("utf-8"))
    except ValueError as exc:
        raise IrkitError(f"{where}/{MARKER}: unreadable completion marker: {exc}") from None
    names = store.glob("hour=*/part-*.parquet")
    if store.is_local:
        counts = [store.parquet_rows(n) for n in names]
    else:  # one round trip per footer: overlap them
        with ThreadPoolExecutor(max_workers=REMOTE_READS) as pool:
            counts = list(pool.map(store.parquet_rows, names))
    found: dict[str, int] = {}
    for name, n in zip(names, counts, strict=True):
        hour = name.split("/", 1)[0].removeprefix("hour=")
        found[hour] = found.get(hour, 0) + n
    if found != {k: v for k, v in marker.get("hours", {}).items() if v}:
        raise IrkitError(f"{where}: partitions do not match the {MARKER} marker's row counts "
                         "(files removed or added after the load)")
    return Partitions(store, marker, names)


def load_partitions(paths: Iterable[str | os.PathLike[str]], events_dir: Location,
                    *, batch_rows: int = BATCH_ROWS, origins: Mapping[str, str] | None = None,
                    progress: ProgressFn | None = None) -> tuple[Partitions, list[FileLoad]]:
    """Load every file into fresh partitions (a path or URL) in this process and mark the
    load complete."""
    store = start_partitions(events_dir)
    loads = []
    for i, p in enumerate(paths):
        origin = (origins or {}).get(str(p))
        loads.append(load_file(str(p), store, i, batch_rows=batch_rows, origin=origin,
                               progress=progress))
    finish_partitions(store, loads)
    return open_partitions(store), loads
