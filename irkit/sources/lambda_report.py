"""AWS Lambda ``REPORT`` lines: request durations hiding inside log messages.

Vercel's lambda logs (drains with ``source=lambda``, legacy ``vercel logs`` output) can carry the
runtime's ``START``/``END``/``REPORT`` lines.  A ``REPORT`` line is not an error and not a log
message anyone wrote: it is the request's duration.  Two steps handle it:

1. **Row-local** (per file, while loading): a REPORT row gets its own duration in
   ``duration_ms``, a row holding nothing but runtime bookkeeping becomes ``info`` (so it never
   counts as an error or forms an error pattern), and the row's position, duration and AWS
   ``RequestId`` are kept as :class:`ReportLines`.  The JSON loaders do this inside their DuckDB
   query (:func:`report_sql`, parallel with the parse); other tables go through
   :func:`mark_reports` (Arrow compute).  Both use the same RE2 patterns.
2. **Across rows** (once, over every file): :func:`fill_durations` gives every other row of the
   request the duration of its first REPORT line, joined on ``request_id`` (the AWS
   ``RequestId`` inside the line is a second key).

:func:`apply_reports` is both steps on one frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: The §4 regex of vercel-formats.md in RE2 syntax, tolerant of tabs/spaces; the
#: ``REPORT RequestId:`` prefix is optional because the legacy CLI cuts it off (and drops
#: ``Init Duration``).  ``Billed Duration`` must follow, so prose mentioning "Duration:" is not
#: a REPORT line.
REPORT_RE2 = (r"(?:REPORT\s+RequestId:\s*(?P<aws_id>\S+)\s+|^|[^A-Za-z])"
              r"Duration:\s*(?P<duration>[0-9]+(?:\.[0-9]+)?)\s*ms\s+Billed Duration:")
#: The same match for the common case, a message that *starts* with the REPORT line.  Anchored,
#: RE2 gives up on other messages at the first byte, which makes it about 3x faster than the
#: unanchored search; on a message it matches, :data:`REPORT_RE2`'s leftmost match is the same.
REPORT_AT_START_RE2 = (r"^REPORT\s+RequestId:\s*(?P<aws_id>\S+)\s+"
                       r"Duration:\s*(?P<duration>[0-9]+(?:\.[0-9]+)?)\s*ms\s+Billed Duration:")
#: A message made only of runtime lines, separated by real or literal (backslash-n) newlines.
_LINE = r"(?:[^\n\\]|\\[^n])*"
BOOKKEEPING_RE2 = (r"^(?:[ \t\r]*(?:START RequestId:" + _LINE + "|END RequestId:" + _LINE
                   + "|XRAY TraceId:" + _LINE + r"|(?:REPORT[ \t]+RequestId:[ \t]*\S+[ \t]+)?"
                   r"Duration:" + _LINE + r")?[ \t\r]*(?:\n|\\n|$))+$")

#: Extra columns a loader's Arrow table may carry: each row's REPORT duration and AWS id.
REPORT_MS, REPORT_AWS = "_report_ms", "_report_aws"


def parse_report(message: str) -> tuple[float, str | None] | None:
    """``(duration_ms, aws_request_id)`` from a message holding a REPORT line, else ``None``."""
    found = pc.extract_regex(pa.array([message]), REPORT_RE2)[0]
    if not found.is_valid:
        return None
    parts = found.as_py()
    return float(parts["duration"]), parts["aws_id"] or None


def is_bookkeeping(message: str) -> bool:
    """True when every line of ``message`` is START/END/REPORT/XRAY runtime output.

    Lines may be joined by real newlines or by a literal backslash-n (seen in real payloads).
    """
    return bool(pc.match_substring_regex(pa.array([message]), BOOKKEEPING_RE2)[0].as_py())


# ------------------------------------------------------------------ where the REPORT lines are


@dataclass(frozen=True)
class ReportLines:
    """A table's REPORT lines: row positions, durations (ms) and AWS request ids (or null)."""

    rows: np.ndarray
    ms: np.ndarray
    aws: pa.Array

    @classmethod
    def empty(cls) -> ReportLines:
        return cls(np.empty(0, np.int64), np.empty(0, np.float64),
                   pa.array([], pa.large_string()))

    @classmethod
    def from_columns(cls, ms: pa.Array | pa.ChunkedArray,
                     aws: pa.Array | pa.ChunkedArray) -> ReportLines:
        """From per-row ``_report_ms`` / ``_report_aws`` columns (null where no REPORT)."""
        values = ms.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)  # null: NaN
        found = ~np.isnan(values)
        rows = np.flatnonzero(found)
        if not len(rows):
            return cls.empty()
        return cls(rows.astype(np.int64), values[rows],
                   _flat(aws.filter(pa.array(found))).cast(pa.large_string()))

    @classmethod
    def concat(cls, parts: Sequence[tuple[int, ReportLines]]) -> ReportLines:
        """Several tables' lines as one, each shifted by its table's first row in the whole."""
        parts = [(offset, p) for offset, p in parts if len(p.rows)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.rows + offset for offset, p in parts]),
                   np.concatenate([p.ms for _, p in parts]),
                   pa.concat_arrays([p.aws for _, p in parts]))

    def columns(self, n: int) -> tuple[np.ndarray, pa.Array]:
        """Back to per-row ``_report_ms`` (NaN) / ``_report_aws`` (null) columns of ``n`` rows."""
        ms = np.full(n, np.nan)
        ms[self.rows] = self.ms
        positions = np.full(n, -1, dtype=np.int64)
        positions[self.rows] = np.arange(len(self.rows))
        aws = self.aws.take(pa.array(positions, mask=positions < 0))
        return ms, aws


def _flat(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _arrow(series: pd.Series) -> pa.ChunkedArray:
    """The Arrow data behind a string column, without copying (chunked or not)."""
    if hasattr(series.array, "_pa_array"):
        return series.array._pa_array
    return pa.chunked_array([pa.array(series.array, type=pa.large_string())])


def _matches(messages: pa.ChunkedArray, rows: np.ndarray, pattern: str
             ) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """``pattern`` over ``messages[rows]``: the rows it matched, their matches, the rest."""
    found = _flat(pc.extract_regex(messages.take(pa.array(rows)), pattern))
    ok = pc.is_valid(found).to_numpy(zero_copy_only=False)
    return rows[ok], found.filter(pa.array(ok)), rows[~ok]


def _extract(messages: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """The rows holding a REPORT line (ascending) and their ``aws_id``/``duration`` matches."""
    cand = pc.fill_null(pc.match_substring(messages, "Duration:"), False)
    if not pc.any(cand).as_py():
        return np.empty(0, np.int64), pa.array([], pa.struct([]))
    led = pc.fill_null(pc.starts_with(messages, "REPORT"), False).to_numpy(zero_copy_only=False)
    cand = cand.to_numpy(zero_copy_only=False)
    rows1, hits1, missed = _matches(messages, np.flatnonzero(cand & led), REPORT_AT_START_RE2)
    # a REPORT-led message whose line is cut, and every other candidate: the general pattern
    rest = np.sort(np.concatenate([np.flatnonzero(cand & ~led), missed]))
    rows2, hits2, _ = (_matches(messages, rest, REPORT_RE2) if len(rest)
                       else (rest, hits1.slice(0, 0), rest))
    rows = np.concatenate([rows1, rows2]).astype(np.int64)
    order = np.argsort(rows, kind="stable")
    return rows[order], pa.concat_arrays([hits1, hits2.cast(hits1.type)]).take(pa.array(order))


def mark_reports(events: pd.DataFrame) -> tuple[pd.DataFrame, ReportLines]:
    """Step 1 on a frame: own durations and bookkeeping levels set, REPORT lines located.

    Returns a new frame (the input is not modified).  For tables that did not come through a
    DuckDB query with :func:`report_sql` (traces, merged frames, user frames).
    """
    if events.empty:
        return events, ReportLines.empty()
    messages = _arrow(events["message"])
    rows, hits = _extract(messages)
    if not len(rows):
        return events, ReportLines.empty()
    aws = pc.struct_field(hits, "aws_id")
    lines = ReportLines(rows,
                        pc.cast(pc.struct_field(hits, "duration"), pa.float64())
                        .to_numpy(zero_copy_only=False),
                        pc.if_else(pc.equal(aws, ""), pa.scalar(None, aws.type), aws)
                        .cast(pa.large_string()))
    out = events.copy(deep=False)  # copy-on-write: only the replaced columns are new
    own = events["duration_ms"].to_numpy(dtype=float, na_value=np.nan).copy()
    own[rows] = lines.ms
    out["duration_ms"] = pd.array(own, dtype=pd.Float64Dtype())
    level = events["level"].to_numpy(dtype=object, na_value=None)
    loud = rows[level[rows] != "info"]  # only rows that would change need the bookkeeping test
    if len(loud):
        quiet = pc.match_substring_regex(messages.take(pa.array(loud)), BOOKKEEPING_RE2)
        quiet = loud[pc.fill_null(quiet, False).to_numpy(zero_copy_only=False)]
        if len(quiet):
            level = level.copy()
            level[quiet] = "info"
            out["level"] = pd.array(level, dtype=events["level"].dtype)
    return out, lines


def report_sql(inner: str) -> str:
    """Step 1 in DuckDB: ``inner`` (a query with canonical ``message``, ``level`` and
    ``duration_ms`` columns) plus ``_report_ms``/``_report_aws``, with own durations and
    bookkeeping levels set — the same decisions as :func:`mark_reports`, on DuckDB's threads.
    """
    from irkit.sources.records import quote_literal  # records imports this module

    names = "['aws_id', 'duration']"

    def extract(pattern: str) -> str:
        return f"regexp_extract(message, {quote_literal(pattern)}, {names})"

    first = (f"SELECT *, CASE WHEN starts_with(message, 'REPORT') "
             f"THEN {extract(REPORT_AT_START_RE2)} END AS _ra FROM ({inner})")
    match = (f"SELECT * EXCLUDE (_ra), CASE WHEN _ra.duration <> '' THEN _ra "
             f"WHEN contains(message, 'Duration:') THEN {extract(REPORT_RE2)} END AS _rb "
             f"FROM ({first})")
    hit = "_rb.duration <> ''"
    return (f"SELECT * EXCLUDE (_rb) REPLACE ("
            f"CASE WHEN {hit} AND level <> 'info' AND "
            f"regexp_matches(message, {quote_literal(BOOKKEEPING_RE2)}) THEN 'info' ELSE level END "
            f"AS level, "
            f"CASE WHEN {hit} THEN TRY_CAST(_rb.duration AS DOUBLE) ELSE duration_ms END "
            f"AS duration_ms), "
            f"CASE WHEN {hit} THEN TRY_CAST(_rb.duration AS DOUBLE) END AS {REPORT_MS}, "
            f"CASE WHEN {hit} THEN NULLIF(_rb.aws_id, '') END AS {REPORT_AWS} "
            f"FROM ({match})")


# ------------------------------------------------------------------ the join across rows


#: Each row's duration from the first REPORT row of its request: keyed by the REPORT row's
#: Vercel request id, then (lower priority) by the AWS RequestId inside the line; among equal
#: keys the earliest REPORT row wins.  The priority and the row make one integer rank (an AWS
#: key ranks after every request-id key): ``arg_min`` over it is a third cheaper than over a
#: ``(priority, row)`` struct.  A hash join in DuckDB uses every core.
_JOIN_SQL = f"""
    WITH keyed AS (
        SELECT rid AS key, i AS rank, ms FROM reports WHERE rid IS NOT NULL
        UNION ALL
        SELECT aws, i + {1 << 62}, ms FROM reports WHERE aws IS NOT NULL
    ), first AS (
        SELECT key, arg_min(ms, rank) AS ms FROM keyed GROUP BY key
    )
    SELECT e.i, f.ms FROM events AS e JOIN first AS f ON e.request_id = f.key
    WHERE NOT e.timed
"""


def fill_durations(events: pd.DataFrame, lines: ReportLines) -> pd.DataFrame:
    """Step 2: each row without a duration gets its request's first REPORT duration.

    Keys: a REPORT row's Vercel ``request_id`` first, then the AWS ``RequestId`` inside the
    line; among equal keys the earliest REPORT row wins.
    """
    import duckdb

    if not len(lines.rows):
        return events
    n = len(events)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        # a copy of its own: it is written below, and without NAs pandas may hand out its buffer
        durations = events["duration_ms"].to_numpy(dtype=float, na_value=np.nan, copy=True)
        request_ids = _arrow(events["request_id"]).cast(pa.large_string())
        con.register("events", pa.table({"i": np.arange(n, dtype=np.int64),
                                         "request_id": request_ids,
                                         "timed": ~np.isnan(durations)}))
        mark = np.zeros(n, dtype=bool)
        mark[lines.rows] = True  # rows ascend: filtering keeps their order, and unlike take
        # on chunked strings it does not copy every chunk first
        con.register("reports", pa.table({"i": lines.rows, "ms": lines.ms, "aws": lines.aws,
                                          "rid": request_ids.filter(pa.array(mark))}))
        found = con.sql(_JOIN_SQL).to_arrow_table()
    finally:
        con.close()
    durations[found.column("i").to_numpy()] = found.column("ms").to_numpy()  # untimed rows only
    out = events.copy(deep=False)  # copy-on-write: only the replaced column is new
    out["duration_ms"] = pd.arrays.FloatingArray(durations, np.isnan(durations))
    return out


def apply_reports(events: pd.DataFrame) -> pd.DataFrame:
    """Both steps on one frame: REPORT rows' own durations and levels, then the request join.

    Returns a new frame (the input is not modified).
    """
    marked, lines = mark_reports(events)
    return fill_durations(marked, lines)
