"""JSON records → canonical events, through one duckdb query per format.

Every JSON-shaped log format (drain NDJSON and JSON arrays, runtime-logs streams, request-log
``--json``) is described by a :class:`RecordSpec`: the fields it reads, with their types, and the
SQL select list that maps them onto the canonical columns.  The same query serves two paths:

* **fast path** (NDJSON only): duckdb reads the file itself with explicit column types (so the
  28-digit ``id`` and UUID-like ``requestId`` stay exact strings).  When duckdb raises (malformed
  line, wrong type, invalid UTF-8 …) or its record count differs from the file's line count (blank
  lines), the file goes to the slow path instead, so the fast path never has to be right about
  provenance by luck: record *k* is line *k* only when both counts agree.
* **slow path**: every line / array element is parsed with orjson, type-checked and coerced by
  :func:`sanitize` (timestamps as ISO or numeric strings, status codes as strings …) or rejected
  with a reason; the clean records go to a temporary NDJSON file with their line number and
  through the very same query.  Nothing is lost: ``rows + rejected == records``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from irkit import schema
from irkit.sources.base import (
    FileReport,
    LineScan,
    Loaded,
    Rejections,
    count_lines,
    is_gzip,
)
from irkit.sources.lambda_report import REPORT_AWS, REPORT_MS, ReportLines, report_sql

#: Records larger than this are not read by duckdb (they go to the slow path, which has no
#: limit).  duckdb allocates buffers of twice this size per thread, so it bounds peak memory.
MAX_OBJECT_BYTES = 32 * 1024 * 1024
LINE_FIELD = "_irkit_line"
_INT64 = (-(2**63), 2**63 - 1)
#: Accepted epoch-millisecond range (years 1970..9999); outside it a timestamp becomes NA.
MS_RANGE = (0, 253402300799999)

_DUCK_TYPES = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
               "ms": "BIGINT", "strs": "VARCHAR[]"}


class BadRecord(ValueError):
    """A record that cannot be mapped; the message is the rejection reason."""


@dataclass(frozen=True)
class RecordSpec:
    """How one JSON log format maps onto the canonical events table.

    ``fields`` maps a JSON key to ``"str" | "int" | "float" | "bool" | "ms" | "strs"`` (``ms`` =
    epoch milliseconds, also accepted as ISO-8601 or numeric string; ``strs`` = list of strings,
    a single string accepted), a nested mapping (object) or a one-item list holding a mapping
    (list of objects).  ``select`` is a duckdb select list producing canonical columns from them
    (columns it does not produce are added as NA) from the relation ``r``; ``relation`` wraps the
    reader (``{reader}``), e.g. to unnest a list into one row per item.  ``one_row_per_record``
    allows the fast path.
    """

    fields: Mapping[str, object]
    select: str
    relation: str = "{reader}"
    one_row_per_record: bool = True


# ------------------------------------------------------------------ typing and coercion


def duck_type(kind: object) -> str:
    """The duckdb type for a field description of :class:`RecordSpec`."""
    if isinstance(kind, str):
        return _DUCK_TYPES[kind]
    if isinstance(kind, Mapping):
        inner = ", ".join(f"{quote_ident(k)} {duck_type(v)}" for k, v in kind.items())
        return f"STRUCT({inner})"
    if isinstance(kind, list) and len(kind) == 1:
        return f"{duck_type(kind[0])}[]"
    raise TypeError(f"bad field description {kind!r}")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_ms(value: object) -> int | None:
    """Epoch milliseconds from a number, a numeric string or an ISO-8601 string.

    ISO strings without an offset are taken as UTC; numbers are passed through (the SQL side
    decides seconds vs milliseconds, identically for both paths).  Raises :class:`BadRecord`
    for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadRecord("timestamp is a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
            except ValueError:
                raise BadRecord(f"timestamp {text[:40]!r} is not a time") from None
            if parsed.tzinfo is None:
                return int(pd.Timestamp(parsed, tz="UTC").value // 1_000_000)
            return int(pd.Timestamp(parsed).value // 1_000_000)
    else:
        raise BadRecord(f"timestamp is a {type(value).__name__}")
    if not math.isfinite(number):
        raise BadRecord("timestamp is not finite")
    if not _INT64[0] <= number <= _INT64[1]:
        raise BadRecord("timestamp out of range")
    return int(number)


def _coerce(key: str, kind: object, value: object) -> object:
    if value is None:
        return None
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return orjson.dumps(value).decode()
    if kind in ("int", "float"):
        if isinstance(value, bool):
            raise BadRecord(f"{key} is a boolean")
        if isinstance(value, str):
            try:
                value = float(value.strip()) if kind == "float" or "." in value else int(value)
            except ValueError:
                raise BadRecord(f"{key} {value[:40]!r} is not a number") from None
        if not isinstance(value, int | float):
            raise BadRecord(f"{key} is a {type(value).__name__}, expected a number")
        if kind == "int":
            if isinstance(value, float) and not math.isfinite(value):
                raise BadRecord(f"{key} is not finite")
            value = int(value)
            if not _INT64[0] <= value <= _INT64[1]:
                raise BadRecord(f"{key} out of range")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadRecord(f"{key} is not a boolean")
    if kind == "ms":
        return parse_ms(value)
    if kind == "strs":
        items = value if isinstance(value, list) else [value]
        return [_coerce(key, "str", item) for item in items]
    if isinstance(kind, Mapping):
        if not isinstance(value, dict):
            raise BadRecord(f"{key} is a {type(value).__name__}, expected an object")
        return sanitize(value, kind, prefix=f"{key}.")
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise BadRecord(f"{key} is a {type(value).__name__}, expected a list")
        return [_coerce(key, kind[0], item) for item in value]
    raise TypeError(f"bad field description {kind!r}")


def sanitize(record: object, fields: Mapping[str, object], prefix: str = "") -> dict:
    """The declared fields of ``record`` coerced to their types, or :class:`BadRecord`."""
    if not isinstance(record, dict):
        raise BadRecord(f"not a JSON object ({type(record).__name__})")
    return {key: _coerce(prefix + key, kind, record[key])
            for key, kind in fields.items() if record.get(key) is not None}


# ------------------------------------------------------------------ duckdb → Arrow → pandas

_PANDAS_TYPES = {
    pa.string(): schema.STRING,
    pa.large_string(): schema.STRING,
    pa.int16(): pd.Int16Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}
_ARROW_TYPES = {
    schema.STRING: pa.large_string(),
    pd.Int16Dtype(): pa.int16(),
    pd.Int64Dtype(): pa.int64(),
    pd.Float64Dtype(): pa.float64(),
    pd.BooleanDtype(): pa.bool_(),
}


def event_arrow_types() -> dict[str, pa.DataType]:
    """The Arrow type of every canonical event column (what pandas' canonical dtypes hold)."""
    return {name: (pa.timestamp("us", tz="UTC") if isinstance(dtype, pd.DatetimeTZDtype)
                   else _ARROW_TYPES[dtype])
            for name, dtype in schema.EVENT_COLUMNS.items()}


def canonical_arrow(table: pa.Table) -> pa.Table:
    """Arrow table with (some) canonical event columns → every canonical column, in order and
    with its canonical Arrow type (missing ones all null), plus the REPORT columns if present.

    Casting in Arrow and converting once is several times faster than :func:`schema.conform`
    on a million rows; the result satisfies :func:`schema.validate` (strings are NULLIF'd in SQL).
    """
    n = table.num_rows
    types = event_arrow_types()
    if REPORT_MS in table.column_names:
        types |= {REPORT_MS: pa.float64(), REPORT_AWS: pa.large_string()}
    arrays = [table.column(name).cast(target) if name in table.column_names
              else pa.nulls(n, type=target) for name, target in types.items()]
    return pa.Table.from_arrays(arrays, names=list(types))


def to_events(table: pa.Table) -> tuple[pd.DataFrame, ReportLines]:
    """The canonical events DataFrame of a :func:`canonical_arrow` table (what the fast and
    slow paths return), and where its REPORT lines are."""
    lines = ReportLines.empty()
    if REPORT_MS in table.column_names:
        lines = ReportLines.from_columns(table.column(REPORT_MS), table.column(REPORT_AWS))
        table = table.drop_columns([REPORT_MS, REPORT_AWS])
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get), lines


def _data_errors() -> tuple[type[Exception], ...]:
    """duckdb errors caused by the input's content (not by our SQL): these mean "slow path"."""
    import duckdb

    return (duckdb.InvalidInputException, duckdb.ConversionException,
            duckdb.OutOfRangeException, duckdb.IOException)


def _connect():
    import duckdb

    con = duckdb.connect()
    # large_string is what pandas' Arrow string dtype holds: no copy when converting
    con.execute("SET arrow_large_buffer_size = true")
    # never draw a progress bar on the user's terminal (it would corrupt `irkit load --json`)
    con.execute("SET enable_progress_bar = false")
    threads = os.environ.get("IRKIT_THREADS")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _query(spec: RecordSpec, source: Path, origin_file: str, *, gz: bool, with_line: bool) -> str:
    columns = {key: duck_type(kind) for key, kind in spec.fields.items()}
    if with_line:
        columns[LINE_FIELD] = "BIGINT"
    struct = "{" + ", ".join(f"{quote_literal(k)}: {quote_literal(v)}"
                             for k, v in columns.items()) + "}"
    compression = quote_literal("gzip" if gz else "none")
    reader = (f"read_json({quote_literal(str(source))}, format='newline_delimited', "
              f"records=true, columns={struct}, compression={compression}, "
              f"maximum_object_size={MAX_OBJECT_BYTES})")
    line = f", r.{quote_ident(LINE_FIELD)} AS origin_line" if with_line else ""
    duration = "" if " AS duration_ms" in spec.select else ", NULL::DOUBLE AS duration_ms"
    relation = spec.relation.replace("{reader}", reader)
    inner = (f"SELECT {spec.select}{duration}, {quote_literal(origin_file)} AS origin_file{line} "
             f"FROM {relation} AS r")
    # REPORT lines are found inside the query, on DuckDB's threads (see lambda_report)
    return report_sql(inner) if " AS message" in spec.select else inner


def duckdb_safe(path: Path) -> bool:
    """duckdb expands glob characters in file names: such a name could read *other* files."""
    return not any(char in str(path) for char in "*?[]{}")


def _with_lines(batch: pa.RecordBatch | pa.Table, first: int) -> pa.Table:
    """``origin_line`` numbered from ``first``, and every column canonical (plus REPORT ones)."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    lines = pa.array(np.arange(first, first + table.num_rows, dtype=np.int64))
    return canonical_arrow(table.append_column("origin_line", lines))


# ------------------------------------------------------------------ the two paths


def fast_table(path: Path, spec: RecordSpec, origin_file: str) -> pa.Table | None:
    """The whole NDJSON file through duckdb, or ``None`` if the slow path must take over."""
    if not spec.one_row_per_record or not duckdb_safe(path):
        return None
    gz = is_gzip(path)
    con = _connect()
    # the line count runs beside the query (duckdb and numpy release the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        counting = pool.submit(count_lines, path)
        try:
            query = _query(spec, path, origin_file, gz=gz, with_line=False)
            table = con.sql(query).to_arrow_table()
        except _data_errors():
            return None
        finally:
            con.close()
        counted = counting.result()
    if not counted.complete or counted.lines != table.num_rows:
        return None
    return _with_lines(table, 1)


def iter_fast_tables(path: Path, spec: RecordSpec, origin_file: str,
                     batch_rows: int) -> Iterator[tuple[int, pa.Table | None]]:
    """Stream the fast path: yields ``(next_line, table)``; ``table is None`` means "fall back".

    Tables are canonical Arrow (:func:`canonical_arrow`, with the REPORT columns).  Batches
    come out in file order, and rows yielded are always exactly lines ``1..next_line-1``: a
    :class:`~irkit.sources.base.LineScan` beside the query proves each batch's lines hold one
    record each before the batch is handed out (a blank line, which the parser skips, ends the
    fast path right before it); the caller continues with the slow path from ``next_line``.
    """
    if not spec.one_row_per_record or not duckdb_safe(path):
        yield 1, None
        return
    scan = LineScan(path)
    con = _connect()
    next_line = 1

    def checked(table: pa.Table) -> Iterator[tuple[int, pa.Table | None]]:
        """``table`` (lines from ``next_line`` on), or its part before a blank line + stop."""
        last = next_line + table.num_rows - 1
        blank = scan.clean_through(last)
        if blank is None:
            yield last + 1, _with_lines(table, next_line)
            return
        if blank > next_line:
            yield blank, _with_lines(table.slice(0, blank - next_line), next_line)
        yield blank, None

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="irkit-scan") as pool:
        scanning = pool.submit(scan.run)
        try:
            query = _query(spec, path, origin_file, gz=is_gzip(path), with_line=False)
            reader = con.sql(query).to_arrow_reader(batch_rows)
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            batches = iter(reader)
            while True:
                batch = next(batches, None)
                if batch is not None:
                    pending.append(batch)
                    pending_rows += batch.num_rows
                if pending and (batch is None or pending_rows >= batch_rows):
                    for item in checked(pa.Table.from_batches(pending)):
                        yield item
                        if item[1] is None:
                            return
                        next_line = item[0]
                    pending, pending_rows = [], 0
                if batch is None:
                    break
            counted = scanning.result()
            if not counted.complete or next_line - 1 != counted.lines:
                yield next_line, None  # the unread rest (e.g. a cut gzip) goes the slow way
        except _data_errors():
            yield next_line, None
        finally:
            con.close()


def slow_table(records: Iterable[tuple[int, object]], spec: RecordSpec, origin_file: str,
               rejections: Rejections) -> pa.Table:
    """Type-check parsed records one by one, then run the spec's query over the clean ones.

    ``records`` yields ``(line, parsed_json_or_RawRejection)``; a :class:`RawRejection` (or a
    record :func:`sanitize` refuses) becomes a rejected record with the raw text.  Returns a
    canonical Arrow table like :func:`fast_table`'s.
    """
    with tempfile.TemporaryDirectory(prefix="irkit-load-") as tmp:
        clean = Path(tmp) / "clean.ndjson"
        written = 0
        with open(clean, "wb") as out:
            for line, record in records:
                if isinstance(record, RawRejection):
                    rejections.add(line, record.reason, record.raw)
                    continue
                try:
                    row = sanitize(record, spec.fields)
                except BadRecord as exc:
                    rejections.add(line, str(exc), orjson.dumps(record).decode())
                    continue
                row[LINE_FIELD] = line
                try:
                    data = orjson.dumps(row)
                except orjson.JSONEncodeError as exc:  # e.g. lone surrogate escapes
                    rejections.add(line, f"unencodable text ({exc})", repr(record)[:100_000])
                    continue
                out.write(data)
                out.write(b"\n")
                written += 1
        if not written:
            return canonical_arrow(pa.table({}))
        con = _connect()
        try:
            query = _query(spec, clean, origin_file, gz=False, with_line=True)
            return canonical_arrow(con.sql(query).to_arrow_table())
        finally:
            con.close()


@dataclass(frozen=True)
class RawRejection:
    """A record that failed before it was JSON (malformed line …): reason and raw text."""

    reason: str
    raw: str | None

    @classmethod
    def truncated(cls) -> RawRejection:
        """The record standing for everything after a cut gzip stream."""
        return cls("gzip stream truncated: nothing after this point could be read", None)


def load_records(path: Path, format_name: str, spec: RecordSpec,
                 records: Iterable[tuple[int, object]],
                 fast: pa.Table | None = None) -> Loaded:
    """A :class:`~irkit.sources.base.Loaded` events file from parsed ``records`` (slow path),
    or from an already-loaded ``fast`` table (one row per line, nothing rejected).

    The report's ``lines`` counts distinct input records (lines or array elements), so
    ``rows + rejected == lines`` whenever a record maps to one row.
    """
    origin = str(path)
    rejections = Rejections(origin)
    if fast is not None:
        table, records_seen = fast, fast.num_rows
    else:
        seen: set[int] = set()

        def counted() -> Iterator[tuple[int, object]]:
            for line, record in records:
                seen.add(line)
                yield line, record

        table = slow_table(counted(), spec, origin, rejections)
        records_seen = len(seen)
    events, reports = to_events(table)
    report = FileReport(path=origin, format=format_name, lines=records_seen, rows=len(events),
                        rejected=len(rejections))
    return Loaded(kind="events", table=events, report=report, rejected=rejections.frame(),
                  reports=reports)
