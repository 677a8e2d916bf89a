"""AWS Lambda ``REPORT`` lines: request durations hiding inside log messages.

Vercel's lambda logs (drains with ``source=lambda``, legacy ``vercel logs`` output) can carry the
runtime's ``START``/``END``/``REPORT`` lines.  A ``REPORT`` line is not an error and not a log
message anyone wrote: it is the request's duration.  :func:`apply_reports` moves that duration
into ``duration_ms`` of every row of the same request (joined on ``request_id``; the AWS
``RequestId`` inside the line is used as a second key), and marks rows that hold nothing but
runtime bookkeeping as ``info`` so they never count as errors or form error patterns.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

#: The §4 regex of vercel-formats.md in RE2 (Arrow compute) syntax, tolerant of tabs/spaces;
#: the ``REPORT RequestId:`` prefix is optional because the legacy CLI cuts it off (and drops
#: ``Init Duration``).  ``Billed Duration`` must follow, so prose mentioning "Duration:" is not
#: a REPORT line.
REPORT_RE2 = (r"(?:REPORT\s+RequestId:\s*(?P<aws_id>\S+)\s+|^|[^A-Za-z])"
              r"Duration:\s*(?P<duration>[0-9]+(?:\.[0-9]+)?)\s*ms\s+Billed Duration:")
#: The same pattern for Python's ``re`` (pandas ``str.extract``, e.g. the streamed engine load).
REPORT_RE = re.compile(REPORT_RE2, re.ASCII)
#: A message made only of runtime lines, separated by real or literal (backslash-n) newlines.
_LINE = r"(?:[^\n\\]|\\[^n])*"
BOOKKEEPING_RE2 = (r"^(?:[ \t\r]*(?:START RequestId:" + _LINE + "|END RequestId:" + _LINE
                   + "|XRAY TraceId:" + _LINE + r"|(?:REPORT[ \t]+RequestId:[ \t]*\S+[ \t]+)?"
                   r"Duration:" + _LINE + r")?[ \t\r]*(?:\n|\\n|$))+$")


def parse_report(message: str) -> tuple[float, str | None] | None:
    """``(duration_ms, aws_request_id)`` from a message holding a REPORT line, else ``None``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.extract_regex(pa.array([message]), REPORT_RE2)[0]
    if not found.is_valid:
        return None
    parts = found.as_py()
    return float(parts["duration"]), parts["aws_id"] or None


def is_bookkeeping(message: str) -> bool:
    """True when every line of ``message`` is START/END/REPORT/XRAY runtime output.

    Lines may be joined by real newlines or by a literal backslash-n (seen in real payloads).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    return bool(pc.match_substring_regex(pa.array([message]), BOOKKEEPING_RE2)[0].as_py())


def _arrow(series: pd.Series):
    """The Arrow data behind a string column, without copying (chunked or not)."""
    import pyarrow as pa

    return pa.chunked_array(pa.array(series.array)) if not hasattr(
        series.array, "_pa_array") else series.array._pa_array


def _halves(array):
    """Two halves of a chunked array (zero-copy slices), for two-thread Arrow compute."""
    middle = len(array) // 2
    return [array.slice(0, middle), array.slice(middle)]


def _parallel(function, array):
    """``function`` over both halves of ``array`` at once: Arrow compute releases the GIL, and
    RE2 over a few hundred thousand messages is the costliest step of a load after parsing."""
    import pyarrow as pa

    if len(array) < 20_000:
        return function(array)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(function, _halves(array)))
    return pa.chunked_array([chunk for part in results for chunk in part.chunks])


#: Each event row's duration from the first REPORT row of its request: keyed by the REPORT
#: row's Vercel request id, then (lower priority) by the AWS RequestId inside the line; among
#: equal keys the earliest REPORT row wins.  A hash join in duckdb uses every core.
_JOIN_SQL = """
    WITH keyed AS (
        SELECT request_id AS key, 0 AS prio, i, duration FROM reports
        WHERE request_id IS NOT NULL
        UNION ALL
        SELECT aws_id, 1, i, duration FROM reports WHERE aws_id IS NOT NULL
    ), first AS (
        SELECT key, arg_min(duration, (prio, i)) AS duration FROM keyed GROUP BY key
    )
    SELECT e.i, f.duration FROM events AS e JOIN first AS f ON e.request_id = f.key
"""


def _joined_durations(request_ids, reports) -> np.ndarray:
    """Per event row, the duration its request's REPORT line gives (NaN where none)."""
    import duckdb
    import pyarrow as pa

    n = len(request_ids)
    events = pa.table({"i": pa.array(np.arange(n, dtype=np.int64)),
                       "request_id": request_ids.cast(pa.large_string())})
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("events", events)
        con.register("reports", reports)
        found = con.sql(_JOIN_SQL).to_arrow_table()
    finally:
        con.close()
    joined = np.full(n, np.nan)
    joined[found.column("i").to_numpy()] = found.column("duration").to_numpy()
    return joined


def apply_reports(events: pd.DataFrame) -> pd.DataFrame:
    """Fill ``duration_ms`` from REPORT lines and keep those lines out of the error counts.

    Returns a new frame (the input is not modified).  A REPORT row gets its own duration;
    other rows keep an existing ``duration_ms`` and otherwise get their request's.  Vectorised:
    RE2 in Arrow compute on two threads, the request join in duckdb, no per-row Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if events.empty:
        return events
    messages = _arrow(events["message"])
    candidates = pc.fill_null(pc.match_substring(messages, "Duration:"), False)
    if not pc.any(candidates).as_py():
        return events
    where = np.flatnonzero(candidates.to_numpy(zero_copy_only=False))
    subset = messages.filter(candidates)  # filter is much faster than take on chunked strings
    parts = _parallel(lambda part: pc.extract_regex(part, REPORT_RE2), subset)
    found = pc.is_valid(parts)
    if not pc.any(found).as_py():
        return events
    request_ids = _arrow(events["request_id"])
    report_ids = request_ids.filter(candidates).filter(found)
    where = where[found.to_numpy(zero_copy_only=False)]
    subset, parts = subset.filter(found), parts.filter(found)
    durations = pc.cast(pc.struct_field(parts, "duration"), pa.float64())
    bookkeeping = _parallel(lambda part: pc.match_substring_regex(part, BOOKKEEPING_RE2),
                            subset).to_numpy(zero_copy_only=False)
    aws = pc.struct_field(parts, "aws_id")
    reports = pa.table({
        "i": pa.array(where, type=pa.int64()),
        "request_id": report_ids.cast(pa.large_string()),
        "aws_id": pc.if_else(pc.equal(aws, ""), pa.scalar(None, aws.type), aws),
        "duration": durations,
    })
    joined = _joined_durations(request_ids, reports)

    own = events["duration_ms"].to_numpy(dtype=float, na_value=np.nan).copy()
    own[where] = durations.to_numpy(zero_copy_only=False)
    filled = np.where(np.isnan(own), joined, own)
    out = events.copy(deep=False)  # copy-on-write: only the replaced columns are new
    out["duration_ms"] = pd.array(filled, dtype=pd.Float64Dtype())
    quiet = where[bookkeeping]
    if len(quiet) and (events["level"].iloc[quiet] != "info").any():
        mask = np.zeros(len(events), dtype=bool)
        mask[quiet] = True
        levels = pc.if_else(pa.array(mask), pa.scalar("info", pa.large_string()),
                            _arrow(events["level"]).cast(pa.large_string()))
        out["level"] = pd.array(levels, dtype=events["level"].dtype)
    return out
