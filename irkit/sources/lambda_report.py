"""AWS Lambda ``REPORT`` lines: request durations hiding inside log messages.

Vercel's lambda logs (drains with ``source=lambda``, legacy ``vercel logs`` output) can carry the
runtime's ``START``/``END``/``REPORT`` lines.  A ``REPORT`` line is not an error and not a log
message anyone wrote: it is the request's duration.  :func:`apply_reports` moves that duration
into ``duration_ms`` of every row of the same request (joined on ``request_id``; the AWS
``RequestId`` inside the line is used as a second key), and marks rows that hold nothing but
runtime bookkeeping as ``info`` so they never count as errors or form error patterns.
"""

from __future__ import annotations

import pandas as pd

#: The §4 regex of vercel-formats.md in RE2 (Arrow compute) syntax, tolerant of tabs/spaces;
#: the ``REPORT RequestId:`` prefix is optional because the legacy CLI cuts it off (and drops
#: ``Init Duration``).  ``Billed Duration`` must follow, so prose mentioning "Duration:" is not
#: a REPORT line.
REPORT_RE2 = (r"(?:REPORT\s+RequestId:\s*(?P<aws_id>\S+)\s+|^|[^A-Za-z])"
              r"Duration:\s*(?P<duration>[0-9]+(?:\.[0-9]+)?)\s*ms\s+Billed Duration:")
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


def apply_reports(events: pd.DataFrame) -> pd.DataFrame:
    """Fill ``duration_ms`` from REPORT lines and keep those lines out of the error counts.

    Returns a new frame (the input is not modified).  An existing ``duration_ms`` is never
    overwritten.  Vectorised with Arrow compute (RE2), so a million rows with a third of them
    REPORT lines cost well under a second.
    """
    import numpy as np
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
    parts = pc.extract_regex(subset, REPORT_RE2)
    found = pc.is_valid(parts)
    if not pc.any(found).as_py():
        return events
    report_ids = _arrow(events["request_id"]).filter(candidates).filter(found)
    where = where[found.to_numpy(zero_copy_only=False)]
    subset, parts = subset.filter(found), parts.filter(found)
    durations = pc.cast(pc.struct_field(parts, "duration"), pa.float64())
    bookkeeping = pc.match_substring_regex(subset, BOOKKEEPING_RE2).to_numpy(
        zero_copy_only=False)

    # the request's rows: by Vercel request id of the REPORT row, and by the AWS RequestId
    request_ids = _arrow(events["request_id"])
    aws = pc.struct_field(parts, "aws_id")
    aws_ids = pc.if_else(pc.equal(aws, ""), pa.scalar(None, aws.type), aws)
    keys = pa.chunked_array([*report_ids.cast(pa.large_string()).chunks,
                             *aws_ids.cast(pa.large_string()).chunks]).combine_chunks()
    values = pa.chunked_array([*durations.chunks, *durations.chunks]).combine_chunks()
    valid = pc.is_valid(keys)
    keys, values = keys.filter(valid), values.filter(valid)
    position = pc.index_in(request_ids.cast(pa.large_string()), value_set=keys)
    joined = values.take(position).to_numpy(zero_copy_only=False)

    own = events["duration_ms"].to_numpy(dtype=float, na_value=np.nan).copy()
    own[where] = durations.to_numpy(zero_copy_only=False)
    filled = np.where(np.isnan(own), joined, own)
    out = events.copy()
    out["duration_ms"] = pd.array(filled, dtype=pd.Float64Dtype())
    quiet = where[bookkeeping]
    if len(quiet) and (events["level"].iloc[quiet] != "info").any():
        levels = events["level"].to_numpy(dtype=object, na_value=None).copy()
        levels[quiet] = "info"
        out["level"] = pd.array(levels, dtype=events["level"].dtype)
    return out
