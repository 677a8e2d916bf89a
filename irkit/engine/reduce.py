"""The event reductions as mergeable partial aggregates: one SQL per chunk, one to combine.

Why two halves: the Dask engine runs the *partial* query on each worker over its share of the
partitions and the *combine* query on the client over the concatenated partials; the local
engine runs the same two queries back to back over all partitions.  Because both engines use
these exact queries, their findings agree by construction, and the tests check the local
engine against the in-memory pandas path.

Every combinable piece is an associative aggregate: ``min``/``max``/``bool_or``/``count`` and
"first non-missing value in load order", which is kept as a ``(value, _seq)`` pair and
combined with ``arg_min(value, seq)``.  Rows that are never grouped (loose request rows, error
lines) pass through the partial unchanged.

Reductions (what :mod:`irkit.analysis` consumes, see :mod:`irkit.engine.local`):

* ``requests`` — one row per request (:func:`irkit.analysis.buckets.requests`);
* ``security`` — one row per client request (security's ``requests_table`` input);
* ``patterns`` — the error lines plus one stand-in row per deployment seen;
* ``totals`` — event and error-line counts.
"""

from __future__ import annotations

from irkit import schema
from irkit.analysis import buckets

ERROR_LEVELS = ", ".join(f"'{lv}'" for lv in sorted(schema.ERROR_LEVELS))
_REQUEST_SOURCES = ", ".join(f"'{s}'" for s in sorted(buckets.REQUEST_SOURCES))
#: Columns security's request view reads (``irkit.analysis.security._REQUEST_COLUMNS``).
SECURITY_COLUMNS = (
    "timestamp", "client_ip", "user_agent", "method", "host", "path", "query", "route",
    "status_code", "bytes", "waf_action", "ja4", "ja3", "request_id",
)
PATTERN_COLUMNS = ("timestamp", "level", "message", "status_code", "route", "deployment_id")
_REQ_FIRSTS = ("route", "region", "client_ip", "deployment_id")
_SEC_FIRSTS = tuple(c for c in SECURITY_COLUMNS if c not in ("timestamp", "request_id"))
NAMES = ("requests", "security", "patterns", "totals")


def _firsts(columns: tuple[str, ...]) -> str:
    return ", ".join(f"arg_min({c}, _seq) FILTER (WHERE {c} IS NOT NULL) AS {c}, "
                     f"min(_seq) FILTER (WHERE {c} IS NOT NULL) AS {c}__s" for c in columns)


def _combine_firsts(columns: tuple[str, ...]) -> str:
    return ", ".join(f"arg_min({c}, {c}__s) FILTER (WHERE {c}__s IS NOT NULL) AS {c}, "
                     f"min({c}__s) AS {c}__s" for c in columns)


def trace_flag_sql(view: str) -> str:
    """Partial of "is the evidence traces only" (``rows``, ``traces``), combined by summing."""
    return (f"SELECT count(*) AS rows, count(*) FILTER (WHERE source = 'trace') AS traces "
            f"FROM {view}")


def all_trace(rows: int, traces: int) -> bool:
    """``buckets.requests``' rule: with nothing but trace spans, a trace is the request."""
    return rows > 0 and rows == traces


def requests_partial_sql(view: str, traces_only: bool) -> str:
    """Per-request partial aggregates of ``view`` (loose request rows pass through)."""
    dur_source = ("CASE source WHEN 'trace' THEN 'trace spans' "
                  "WHEN 'lambda' THEN 'lambda REPORT lines' "
                  "WHEN 'serverless' THEN 'request logs' WHEN 'request' THEN 'request logs' "
                  "ELSE COALESCE('request logs (' || source || ')', 'request logs') END")
    is_trace = "false" if traces_only else "COALESCE(e.source = 'trace', false)"
    rid = "COALESCE(e.request_id, e.trace_id)" if traces_only else "e.request_id"
    firsts = _firsts(_REQ_FIRSTS)
    return f"""
    WITH base AS (
      SELECT e.timestamp, e._seq, e.status_code, e.duration_ms, e.route, e.region, e.client_ip,
             e.deployment_id, {dur_source} AS duration_source,
             COALESCE(e.level IN ({ERROR_LEVELS}), false) AS err_line,
             (COALESCE(e.status_code >= 500, false) OR COALESCE(e.crashed, false)) AS failed_row,
             {is_trace} AS is_trace,
             (e.status_code IS NOT NULL OR COALESCE(e.crashed, false)
               OR COALESCE(e.source IN ({_REQUEST_SOURCES}), false)) AS request_level,
             {rid} AS rid
      FROM {view} e)
    SELECT rid AS request_id, 0 AS part, min(timestamp) AS timestamp,
           max(status_code) AS status_code, bool_or(failed_row) AS failed,
           bool_or(failed_row OR err_line) AS error, max(duration_ms) AS duration_ms,
           arg_min(duration_source, _seq) FILTER (WHERE duration_ms IS NOT NULL)
             AS duration_source,
           min(_seq) FILTER (WHERE duration_ms IS NOT NULL) AS duration_source__s,
           {firsts}, min(_seq) AS ord
    FROM base WHERE rid IS NOT NULL AND NOT is_trace GROUP BY rid
    UNION ALL
    SELECT NULL, 1, timestamp, status_code, failed_row, failed_row OR err_line, duration_ms,
           duration_source, _seq,
           {", ".join(f"{c}, _seq" for c in _REQ_FIRSTS)}, _seq
    FROM base WHERE rid IS NULL AND NOT is_trace AND (request_level OR err_line)
    """


def requests_combine_sql(partials: str) -> str:
    """One row per request from the concatenated partials, in ``buckets.requests``' order."""
    cols = ", ".join(buckets.REQUEST_COLUMNS)
    return f"""
    SELECT {cols} FROM (
      SELECT request_id, 0 AS part, min(timestamp) AS timestamp, max(status_code) AS status_code,
             bool_or(failed) AS failed, bool_or(error) AS error, max(duration_ms) AS duration_ms,
             {_combine_firsts(("duration_source", *_REQ_FIRSTS))}, min(ord) AS ord
      FROM {partials} WHERE part = 0 GROUP BY request_id
      UNION ALL
      SELECT request_id, part, timestamp, status_code, failed, error, duration_ms,
             duration_source, duration_source__s,
             {", ".join(f"{c}, {c}__s" for c in _REQ_FIRSTS)}, ord
      FROM {partials} WHERE part = 1)
    ORDER BY timestamp, part, ord
    """


def security_partial_sql(view: str) -> str:
    """Per-request_id partials of client rows (rows without a request id pass through)."""
    plain = ", ".join(SECURITY_COLUMNS)
    return f"""
    SELECT request_id, count(*) AS n, min(timestamp) AS timestamp, {_firsts(_SEC_FIRSTS)},
           min(_seq) AS ord
    FROM {view} WHERE client_ip IS NOT NULL AND request_id IS NOT NULL GROUP BY request_id
    UNION ALL
    SELECT request_id, 1, timestamp, {", ".join(f"{c}, _seq" for c in _SEC_FIRSTS)}, _seq
    FROM (SELECT {plain}, _seq FROM {view} WHERE client_ip IS NOT NULL AND request_id IS NULL)
    """


def security_combine_sql(partials: str) -> str:
    """Rows sharing a request id merged (first value per column, earliest time), in
    ``requests_table``'s pre-sort order: unshared rows, then merged ones, by first appearance."""
    plain = ", ".join(SECURITY_COLUMNS)
    return f"""
    SELECT {plain} FROM (
      SELECT request_id, sum(n) AS n, min(timestamp) AS timestamp, {_combine_firsts(_SEC_FIRSTS)},
             min(ord) AS ord
      FROM {partials} WHERE request_id IS NOT NULL GROUP BY request_id
      UNION ALL
      SELECT * FROM {partials} WHERE request_id IS NULL)
    ORDER BY (n > 1), ord
    """


def patterns_partial_sql(view: str) -> str:
    """Error lines (pass through) and, per deployment, its first appearance."""
    cols = ", ".join(PATTERN_COLUMNS)
    return f"""
    SELECT {cols}, 0 AS part, _seq AS ord FROM {view} WHERE level IN ({ERROR_LEVELS})
    UNION ALL
    SELECT min(timestamp), 'info', NULL, NULL, NULL, deployment_id, 1, min(_seq)
    FROM {view} WHERE deployment_id IS NOT NULL GROUP BY deployment_id
    """


def patterns_combine_sql(partials: str) -> str:
    """What ``patterns()`` groups: error lines in load order, then one row per deployment."""
    cols = ", ".join(PATTERN_COLUMNS)
    return f"""
    SELECT {cols} FROM (
      SELECT {cols}, part, ord FROM {partials} WHERE part = 0
      UNION ALL
      SELECT min(timestamp), 'info', NULL, NULL, NULL, deployment_id, 1, min(ord)
      FROM {partials} WHERE part = 1 GROUP BY deployment_id)
    ORDER BY part, ord
    """


def totals_partial_sql(view: str) -> str:
    return (f"SELECT count(*) AS total, count(*) FILTER (WHERE level IN ({ERROR_LEVELS})) "
            f"AS errors FROM {view}")


def totals_combine_sql(partials: str) -> str:
    return f"SELECT COALESCE(sum(total), 0), COALESCE(sum(errors), 0) FROM {partials}"


def partial_sqls(view: str, traces_only: bool) -> dict[str, str]:
    """Every partial query over ``view``, by reduction name."""
    return {"requests": requests_partial_sql(view, traces_only),
            "security": security_partial_sql(view),
            "patterns": patterns_partial_sql(view),
            "totals": totals_partial_sql(view)}


COMBINE = {"requests": requests_combine_sql, "security": security_combine_sql,
           "patterns": patterns_combine_sql, "totals": totals_combine_sql}
