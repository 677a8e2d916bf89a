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
* ``totals`` — event and error-line counts;
* ``patterns`` — not SQL: two passes over chunks of the events (:func:`observe_patterns` on
  each chunk, :func:`fit_patterns` once, :func:`assign_patterns` on each chunk) give
  per-pattern partial aggregates (:mod:`irkit.analysis.pattern_partials`), so the error lines
  never come together in one process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from irkit import schema
from irkit.analysis import buckets
from irkit.analysis.grouping import StreamingGrouper
from irkit.analysis.pattern_partials import PatternPartial

ERROR_LEVELS = ", ".join(f"'{lv}'" for lv in sorted(schema.ERROR_LEVELS))
_REQUEST_SOURCES = ", ".join(f"'{s}'" for s in sorted(buckets.REQUEST_SOURCES))
#: Columns security's request view reads (``irkit.analysis.security._REQUEST_COLUMNS``).
SECURITY_COLUMNS = (
    "timestamp", "client_ip", "user_agent", "method", "host", "path", "query", "route",
    "status_code", "bytes", "waf_action", "ja4", "ja3", "request_id",
)
#: What ``patterns()`` reads of an error line (``crashed``/``method``/``path`` name the lines
#: that have no message).
PATTERN_COLUMNS = ("timestamp", "level", "message", "status_code", "route", "deployment_id",
                   "crashed", "method", "path")
#: Rows per Arrow batch when a chunk's error lines are labelled: bounds a pattern task's memory
#: whatever the size of its hour.
PATTERN_BATCH_ROWS = 100_000
_REQ_FIRSTS = ("route", "region", "client_ip", "deployment_id")
_SEC_FIRSTS = tuple(c for c in SECURITY_COLUMNS if c not in ("timestamp", "request_id"))
#: The SQL reductions (partial + combine queries); patterns are reduced by the functions below.
NAMES = ("requests", "security", "totals")


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


def totals_partial_sql(view: str) -> str:
    return (f"SELECT count(*) AS total, count(*) FILTER (WHERE level IN ({ERROR_LEVELS})) "
            f"AS errors FROM {view}")


def totals_combine_sql(partials: str) -> str:
    return f"SELECT COALESCE(sum(total), 0), COALESCE(sum(errors), 0) FROM {partials}"


def partial_sqls(view: str, traces_only: bool) -> dict[str, str]:
    """Every partial query over ``view``, by reduction name."""
    return {"requests": requests_partial_sql(view, traces_only),
            "security": security_partial_sql(view),
            "totals": totals_partial_sql(view)}


COMBINE = {"requests": requests_combine_sql, "security": security_combine_sql,
           "totals": totals_combine_sql}


def pattern_messages_sql(view: str) -> str:
    """The distinct messages of the error lines (pass 1 only needs their shapes)."""
    return (f"SELECT DISTINCT message FROM {view} "
            f"WHERE level IN ({ERROR_LEVELS}) AND message IS NOT NULL AND message <> ''")


def pattern_lines_sql(view: str) -> str:
    """The error lines with their load-order rank (``ord``), in no particular order."""
    return (f"SELECT {', '.join(PATTERN_COLUMNS)}, _seq AS ord FROM {view} "
            f"WHERE level IN ({ERROR_LEVELS})")


def deployments_sql(view: str) -> str:
    """Every deployment with events (a pattern is new only if an earlier one had events)."""
    return f"SELECT DISTINCT deployment_id FROM {view} WHERE deployment_id IS NOT NULL"


#: Arrow strings straight to the canonical string dtype (no detour through Python objects).
_STRINGS = {pa.string(): schema.STRING, pa.large_string(): schema.STRING}


def _batches(con, sql: str) -> Iterator:
    yield from con.sql(sql).to_arrow_reader(PATTERN_BATCH_ROWS)


def observe_patterns(con, view: str) -> set[str]:
    """Pattern pass 1 over one chunk: the distinct masked shapes of its error messages.

    Why only the shapes: the miner's templates depend on the set of shapes alone, so the
    union over all chunks fits the same grouper as mining every line at once.
    """
    grouper = StreamingGrouper()
    for batch in _batches(con, pattern_messages_sql(view)):
        grouper.observe(batch.column(0).to_pylist())
    return grouper.shapes


def fit_patterns(shapes: Iterable[set[str]]) -> StreamingGrouper:
    """The grouper fitted once on the union of every chunk's shapes (on the client)."""
    grouper = StreamingGrouper()
    for chunk in shapes:
        grouper.shapes |= chunk
    return grouper.fit()


def assign_patterns(con, view: str, grouper: StreamingGrouper) -> PatternPartial:
    """Pattern pass 2 over one chunk: its error lines labelled by the fitted ``grouper`` and
    reduced, batch by batch, to per-pattern partial aggregates."""
    from irkit.analysis import pattern_partials
    from irkit.analysis.patterns import label

    seen = frozenset(str(d) for (d,) in con.execute(deployments_sql(view)).fetchall())
    acc = PatternPartial(deployments=seen)
    for batch in _batches(con, pattern_lines_sql(view)):
        lines = pa.Table.from_batches([batch]).to_pandas(types_mapper=_STRINGS.get)
        labelled = label(schema.conform(lines, "events", columns=PATTERN_COLUMNS),
                         grouper=grouper)
        acc = pattern_partials.combine(
            [acc, pattern_partials.from_lines(labelled, lines["ord"].to_numpy())])
    return acc


def stream_patterns(con, view: str) -> PatternPartial:
    """Both pattern passes over ``view`` in this process (the local engine)."""
    return assign_patterns(con, view, fit_patterns([observe_patterns(con, view)]))
