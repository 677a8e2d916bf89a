"""Shared time bucketing and the one-row-per-request view every analysis starts from.

Why one module: onset, suspects, latency, impact and the plots must agree on what a "request",
an "error" and a "bucket" are, or their numbers contradict each other in the same report.  Each
analysis first reduces the events table to a small aggregated table here (requests → per-bucket
counts), then computes on that; the aggregation step is the only part that scales with the
number of events and can later be swapped for DuckDB over Parquet.

Definitions (documented in the README's analytics section):

* A **request** is one distinct ``request_id``.  Rows without a ``request_id`` count as their own
  request when they are request-level (a status code, ``crashed``, or a request-level
  ``source`` such as ``edge``/``static``), or when they are error-level (an orphan error line is
  one failed unit of work).  Trace spans are not requests unless the evidence has nothing else.
* A request **failed** when its status is 5xx or it crashed (Vercel's ``-1``); it is an
  **error** when it failed or any of its log lines is ``error``/``fatal``.
* A request has one **duration**: the largest ``duration_ms`` among its rows (a REPORT line or
  a root span carries the whole request's time; child spans are shorter).
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

from irkit import schema

#: Vercel sources whose rows describe an HTTP request (not a function's own log output).
REQUEST_SOURCES = frozenset(
    {"edge", "static", "external", "firewall", "redirect", "request", "edge-middleware"}
)
#: Bucket width used when the caller gives none and the span is short.
DEFAULT_FREQ = "1min"

REQUEST_COLUMNS = (
    "timestamp", "request_id", "status_code", "failed", "error", "duration_ms",
    "duration_source", "route", "region", "client_ip", "deployment_id",
)


def to_utc(value: object) -> pd.Timestamp | None:
    """A tz-aware UTC timestamp from anything ``pd.Timestamp`` accepts (naive = UTC), or None."""
    if value is None or value is pd.NA:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def iso(value: object) -> str | None:
    """ISO-8601 UTC with a ``Z`` suffix (findings.json's time format), or None for missing."""
    ts = to_utc(value)
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def auto_freq(start: pd.Timestamp, end: pd.Timestamp, *, max_buckets: int = 720) -> str:
    """The finest "nice" bucket width that keeps the series at or below ``max_buckets``.

    Why: a per-minute series over a week is 10,080 points — too many for a figure and too
    sparse for a rate; a per-minute series over an hour is what an engineer expects.
    """
    span = max((end - start).total_seconds(), 1.0)
    for freq, seconds in (("1min", 60), ("2min", 120), ("5min", 300), ("10min", 600),
                          ("15min", 900), ("30min", 1800), ("1h", 3600), ("3h", 10800),
                          ("6h", 21600), ("1D", 86400)):
        if span / seconds <= max_buckets:
            return freq
    return "1D"


def floor(times: pd.Series, freq: str) -> pd.Series:
    """Bucket start for each time (buckets are left-closed, aligned to the epoch)."""
    return times.dt.floor(freq)


def bucket_index(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every bucket start from ``start``'s bucket to ``end``'s, so gaps show as zero traffic."""
    return pd.date_range(start.floor(freq), end.floor(freq), freq=freq, name="bucket")


#: The last few request tables, by the identity of the events frame they came from.
_CACHE: dict[int, tuple[weakref.ref, tuple, pd.DataFrame]] = {}
_CACHE_SIZE = 4


#: Request tables built elsewhere (e.g. by SQL over Parquet) that ``requests()`` passes through.
_REDUCED: weakref.WeakValueDictionary[int, pd.DataFrame] = weakref.WeakValueDictionary()


def as_requests(reqs: pd.DataFrame) -> pd.DataFrame:
    """Declare ``reqs`` an already-reduced request table, so ``requests(reqs)`` returns it as is.

    Why: this module's :func:`requests` is the seam every analysis reduces events through.  An
    engine that reduces events out of core (DuckDB over partitions, a Dask cluster) builds the
    same table itself — columns ``REQUEST_COLUMNS``, one row per request, sorted by time — and
    hands *that* to onset, suspects, latency and impact in place of an events table.  The
    declaration holds for this exact frame object (a weak reference: it ends with the frame),
    not for copies or slices of it.  Returns ``reqs``.
    """
    missing = [c for c in REQUEST_COLUMNS if c not in reqs.columns]
    if missing:
        raise ValueError(f"as_requests: not a request table (missing {missing})")
    _REDUCED[id(reqs)] = reqs
    return reqs


def _fingerprint(events: pd.DataFrame) -> tuple:
    """Cheap identity check against in-place edits: shape and first/last timestamps."""
    ts = events["timestamp"]
    return (events.shape, ts.iloc[0], ts.iloc[-1])


def requests(events: pd.DataFrame) -> pd.DataFrame:
    """Collapse the events table to one row per request (see the module docstring).

    Sorted by time; columns ``REQUEST_COLUMNS``.  The result is memoised per events frame
    (by identity and a fingerprint of its shape and ends), because onset, suspects, latency
    and impact all start from it: the findings of 1M events pay for one groupby, not five.
    Treat the returned frame as read-only.
    """
    if events is None or len(events) == 0:
        return _empty_requests()
    if _REDUCED.get(id(events)) is events:
        return events
    hit = _CACHE.get(id(events))
    if hit is not None and hit[0]() is events and hit[1] == _fingerprint(events):
        return hit[2]
    out = _requests(events)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(events)] = (weakref.ref(events), _fingerprint(events), out)
    return out


def _requests(events: pd.DataFrame) -> pd.DataFrame:
    """The uncached work of :func:`requests`: numpy on integer group codes, one pass per column.

    Why not ``groupby(request_id).agg(first)``: on Arrow strings that factorizes every column
    again and converts tz-aware times through Python objects — 20x slower at 1M events.
    """
    ev = events
    n = len(ev)
    is_err_line = ev["level"].isin(list(schema.ERROR_LEVELS)).fillna(False).to_numpy(bool)
    status_np = ev["status_code"].to_numpy(dtype="float64", na_value=np.nan)
    crashed = ev["crashed"].fillna(False).to_numpy(bool)
    failed_row = (status_np >= 500) | crashed
    source = ev["source"]
    is_trace = (source == "trace").fillna(False).to_numpy(bool)
    request_source = source.isin(list(REQUEST_SOURCES)).fillna(False).to_numpy(bool)
    request_level = ~np.isnan(status_np) | crashed | request_source
    rid = ev["request_id"]
    if is_trace.all():
        # traces-only evidence: a trace is the request, its root span the longest duration
        is_trace = np.zeros(n, dtype=bool)
        rid = rid.fillna(ev["trace_id"])
    has_rid = rid.notna().to_numpy(bool) & ~is_trace
    loose = ~has_rid & ~is_trace & (request_level | is_err_line)

    # one integer code per unit of work: request ids first, then each loose row on its own
    codes = np.full(n, -1, dtype="int64")
    rid_codes, _ = pd.factorize(rid[has_rid])
    n_rid = int(rid_codes.max()) + 1 if len(rid_codes) else 0
    codes[has_rid] = rid_codes
    codes[loose] = n_rid + np.arange(int(loose.sum()))
    keep = codes >= 0
    if not keep.any():
        return _empty_requests()
    rows = np.flatnonzero(keep)
    k = codes[rows]
    ts = ev["timestamp"].astype(schema.TIMESTAMP).array.asi8
    num = pd.DataFrame({
        "ts": ts[rows], "status": status_np[rows], "failed": failed_row[rows],
        "error": failed_row[rows] | is_err_line[rows],
        "duration_ms": ev["duration_ms"].to_numpy(dtype="float64", na_value=np.nan)[rows],
    })
    g = num.groupby(k, sort=True)
    agg = pd.DataFrame({
        "ts": g["ts"].min(), "status_code": g["status"].max(), "failed": g["failed"].any(),
        "error": g["error"].any(), "duration_ms": g["duration_ms"].max(),
    })
    groups = len(agg)  # codes are 0..groups-1, every one used

    def first_valid(column: pd.Series, valid: np.ndarray | None = None) -> pd.Series:
        ok = column.notna().to_numpy(bool)[rows] if valid is None else valid
        pos = pd.Series(rows[ok]).groupby(k[ok], sort=False).first()
        take = np.full(groups, -1, dtype="int64")
        take[pos.index.to_numpy()] = pos.to_numpy()
        return pd.Series(column.array.take(take, allow_fill=True))

    out = pd.DataFrame({
        "timestamp": pd.to_datetime(agg["ts"].to_numpy(), unit="us", utc=True),
        "request_id": first_valid(rid),
        "status_code": agg["status_code"].to_numpy(),
        "failed": agg["failed"].to_numpy(bool), "error": agg["error"].to_numpy(bool),
        "duration_ms": agg["duration_ms"].to_numpy(),
        "duration_source": _duration_source(
            first_valid(source, num["duration_ms"].notna().to_numpy(bool))),
    })
    for column in ("route", "region", "client_ip", "deployment_id"):
        out[column] = first_valid(ev[column])
    out = out.sort_values("timestamp", kind="stable", ignore_index=True)
    return _typed(out)


def _duration_source(source: pd.Series) -> pd.Series:
    """Name the evidence a duration came from, as findings.json's ``latency_ms.source`` says it."""
    mapping = {"trace": "trace spans", "lambda": "lambda REPORT lines",
               "serverless": "request logs", "request": "request logs"}
    named = source.map(mapping)
    other = "request logs (" + source.astype(schema.STRING) + ")"
    return named.astype(schema.STRING).fillna(other)


#: The request table's string columns: ``STRING``, or left categorical (see ``schema.compact``).
_REQUEST_STRINGS = ("request_id", "duration_source", "route", "region", "client_ip",
                    "deployment_id")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "timestamp": pd.to_datetime(frame["timestamp"], utc=True).astype(schema.TIMESTAMP),
        "request_id": frame["request_id"],
        "status_code": pd.array(frame["status_code"], dtype="Float64").astype("Int16"),
        "failed": frame["failed"].astype(bool),
        "error": frame["error"].astype(bool),
        "duration_ms": frame["duration_ms"].astype("float64"),
        "duration_source": frame["duration_source"],
        "route": frame["route"],
        "region": frame["region"],
        "client_ip": frame["client_ip"],
        "deployment_id": frame["deployment_id"],
    })
    return schema.astype_keeping_categories(out, dict.fromkeys(_REQUEST_STRINGS, schema.STRING))


def _empty_requests() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in REQUEST_COLUMNS}))


def counts(reqs: pd.DataFrame, freq: str, *, start: pd.Timestamp | None = None,
           end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per-bucket ``requests``, ``errors`` and ``failed`` over a gap-free bucket index.

    ``start``/``end`` widen the index (e.g. to the incident window) so leading and trailing
    quiet buckets count as zero traffic instead of vanishing.
    """
    if len(reqs) == 0 and (start is None or end is None):
        return pd.DataFrame({"requests": [], "errors": [], "failed": []},
                            index=pd.DatetimeIndex([], tz="UTC", name="bucket"), dtype="int64")
    times = reqs["timestamp"]
    lo = min(t for t in (start, times.min() if len(times) else None) if t is not None)
    hi = max(t for t in (end, times.max() if len(times) else None) if t is not None)
    index = bucket_index(lo, hi, freq)
    key = floor(times, freq)
    grouped = pd.DataFrame({
        "requests": 1, "errors": reqs["error"].astype("int64"),
        "failed": reqs["failed"].astype("int64"), "bucket": key,
    }).groupby("bucket", sort=True).sum()
    grouped.index = grouped.index.astype(index.dtype)
    out = grouped.reindex(index, fill_value=0).astype("int64")
    out.index.name = "bucket"
    return out
