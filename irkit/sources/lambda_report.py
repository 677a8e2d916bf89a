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

import pandas as pd

#: The §4 regex of vercel-formats.md, tolerant of tabs/spaces; the ``REPORT RequestId:`` prefix
#: is optional because the legacy CLI cuts it off (and drops ``Init Duration``).
REPORT_RE = re.compile(
    r"(?:REPORT\s+RequestId:\s*(?P<aws_id>\S+)\s+)?"
    r"(?<![A-Za-z])Duration:\s*(?P<duration>[\d.]+)\s*ms"
    r"(?:\s+Billed Duration:\s*[\d.]+\s*ms)"
    r"(?:\s+Memory Size:\s*\d+\s*MB)?(?:\s+Max Memory Used:\s*\d+\s*MB)?"
    r"(?:\s+Init Duration:\s*[\d.]+\s*ms)?"
)
_BOOKKEEPING = re.compile(
    r"^\s*(?:START RequestId:.*|END RequestId:.*|XRAY TraceId:.*|"
    r"(?:REPORT\s+RequestId:\s*\S+\s+)?Duration:\s*[\d.]+\s*ms\s+Billed Duration:.*)?\s*$"
)


def parse_report(message: str) -> tuple[float, str | None] | None:
    """``(duration_ms, aws_request_id)`` from a message holding a REPORT line, else ``None``."""
    match = REPORT_RE.search(message)
    if match is None:
        return None
    try:
        duration = float(match["duration"])
    except ValueError:
        return None
    return duration, match["aws_id"]


def is_bookkeeping(message: str) -> bool:
    """True when every line of ``message`` is START/END/REPORT/XRAY runtime output.

    Lines may be joined by real newlines or by a literal backslash-n (seen in real payloads).
    """
    lines = message.replace("\\n", "\n").splitlines() or [message]
    return all(_BOOKKEEPING.match(line) for line in lines)


def apply_reports(events: pd.DataFrame) -> pd.DataFrame:
    """Fill ``duration_ms`` from REPORT lines and keep those lines out of the error counts.

    Returns a new frame (the input is not modified).  Rows whose request has no REPORT keep
    their ``duration_ms``; an existing value is never overwritten by a join.
    """
    if events.empty:
        return events
    messages = events["message"]
    candidates = messages.str.contains("Duration:", regex=False).fillna(False).to_numpy(bool)
    if not candidates.any():
        return events
    events = events.copy()
    by_request: dict[str, float] = {}
    own = events["duration_ms"].copy()
    levels = events["level"].copy()
    request_ids = events["request_id"]
    for index in candidates.nonzero()[0]:
        message = messages.iat[index]
        parsed = parse_report(message)
        if parsed is None:
            continue
        duration, aws_id = parsed
        own.iat[index] = duration
        for key in (request_ids.iat[index], aws_id):
            if isinstance(key, str):
                by_request[key] = duration
        if is_bookkeeping(message):
            levels.iat[index] = "info"
    joined = request_ids.map(by_request).astype(own.dtype)
    events["duration_ms"] = own.fillna(joined)
    events["level"] = levels
    return events
