"""The local out-of-core engine: DuckDB over the hour-partitioned Parquet events.

Every analysis of :mod:`irkit.analysis` starts by reducing the events to a smaller table —
one row per request (:func:`irkit.analysis.buckets.requests`), one row per client request
(:func:`irkit.analysis.security.requests_table`), the error lines (patterns).  Those reductions
are the only steps whose cost grows with the number of log lines, so here they run as SQL over
the partitions (DuckDB spills to disk past ``memory_limit``) and only their results come into
pandas, where the unchanged analysis code computes the findings.  The SQL reproduces the pandas
semantics exactly — including "first non-missing value in row order", via the ``_seq``
column — which the tests check on the demo incident.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from irkit import schema
from irkit.analysis import buckets
from irkit.engine.partitions import Partitions

_ERROR_LEVELS = ", ".join(f"'{lv}'" for lv in sorted(schema.ERROR_LEVELS))
_REQUEST_SOURCES = ", ".join(f"'{s}'" for s in sorted(buckets.REQUEST_SOURCES))
#: Columns security's request view reads (``irkit.analysis.security._REQUEST_COLUMNS``).
SECURITY_COLUMNS = (
    "timestamp", "client_ip", "user_agent", "method", "host", "path", "query", "route",
    "status_code", "bytes", "waf_action", "ja4", "ja3", "request_id",
)
PATTERN_COLUMNS = ("timestamp", "level", "message", "status_code", "route", "deployment_id")


def connect(memory_limit: str | None = None, threads: int | None = None,
            temp_dir: str | None = None):
    """A DuckDB connection with the run's memory limit and a spill folder."""
    import duckdb

    con = duckdb.connect()
    limit = memory_limit or os.environ.get("IRKIT_MEMORY_LIMIT")
    if limit:
        con.execute(f"SET memory_limit = '{_size(limit)}'")
    threads = threads or (int(os.environ["IRKIT_THREADS"]) if os.environ.get("IRKIT_THREADS")
                          else None)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir:
        con.execute(f"SET temp_directory = '{_quote(temp_dir)}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _size(text: str) -> str:
    """Validate a memory size such as ``4GB`` / ``512MiB`` (it is spliced into SQL)."""
    import re

    from irkit.errors import IrkitError

    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", str(text), re.I):
        raise IrkitError(f"--memory-limit {text!r}: expected a size such as 4GB or 512MiB")
    return str(text).strip()


def events_view(con, parts: Partitions | str, name: str = "ev") -> None:
    """Register ``name``: the events with the cross-file Lambda REPORT join finished.

    ``apply_reports`` fills a request's rows from a REPORT line's duration; each streamed
    batch did that for the REPORT rows themselves, the view does it across batches and files
    with the loader's precedence: a REPORT row's Vercel request id beats an AWS RequestId
    match, then the earliest REPORT line wins; an existing duration is never overwritten.
    """
    glob = parts.glob if isinstance(parts, Partitions) else parts
    src = f"read_parquet('{_quote(glob)}', hive_partitioning = false)"
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {name}_raw AS SELECT * FROM {src};
        CREATE OR REPLACE TEMP TABLE {name}_reports AS
          SELECT key, arg_min(ms, ord) AS ms FROM (
            SELECT request_id AS key, _report_ms AS ms, _seq AS ord FROM {name}_raw
              WHERE _report_ms IS NOT NULL AND request_id IS NOT NULL
            UNION ALL
            SELECT _report_aws, _report_ms, _seq + (1::BIGINT << 62) FROM {name}_raw
              WHERE _report_ms IS NOT NULL AND _report_aws IS NOT NULL) GROUP BY key;
        CREATE OR REPLACE TEMP VIEW {name} AS
          SELECT e.* REPLACE (COALESCE(e.duration_ms, r.ms) AS duration_ms)
          FROM {name}_raw e LEFT JOIN {name}_reports r ON e.request_id = r.key;
    """)


def requests_sql(view: str = "ev") -> str:
    """SQL of :func:`irkit.analysis.buckets.requests` over ``view`` (same rows, same order)."""
    dur_source = ("CASE source WHEN 'trace' THEN 'trace spans' "
                  "WHEN 'lambda' THEN 'lambda REPORT lines' "
                  "WHEN 'serverless' THEN 'request logs' WHEN 'request' THEN 'request logs' "
                  "ELSE COALESCE('request logs (' || source || ')', 'request logs') END")
    first = "arg_min({c}, _seq) FILTER (WHERE {c} IS NOT NULL)"
    return f"""
    WITH flags AS (SELECT bool_and(COALESCE(source = 'trace', false)) AS all_trace FROM {view}),
    base AS (
      SELECT e.timestamp, e._seq, e.status_code, e.duration_ms, e.route, e.region, e.client_ip,
             e.deployment_id, {dur_source} AS duration_source,
             COALESCE(e.level IN ({_ERROR_LEVELS}), false) AS err_line,
             (COALESCE(e.status_code >= 500, false) OR COALESCE(e.crashed, false)) AS failed_row,
             CASE WHEN f.all_trace THEN false ELSE COALESCE(e.source = 'trace', false) END
               AS is_trace,
             (e.status_code IS NOT NULL OR COALESCE(e.crashed, false)
               OR COALESCE(e.source IN ({_REQUEST_SOURCES}), false)) AS request_level,
             CASE WHEN f.all_trace THEN COALESCE(e.request_id, e.trace_id) ELSE e.request_id END
               AS rid
      FROM {view} e, flags f),
    grouped AS (
      SELECT min(timestamp) AS timestamp, rid AS request_id, max(status_code) AS status_code,
             bool_or(failed_row) AS failed, bool_or(failed_row OR err_line) AS error,
             max(duration_ms) AS duration_ms,
             {first.format(c='duration_source').replace('duration_source IS', 'duration_ms IS')}
               AS duration_source,
             {first.format(c='route')} AS route, {first.format(c='region')} AS region,
             {first.format(c='client_ip')} AS client_ip,
             {first.format(c='deployment_id')} AS deployment_id,
             0 AS part, min(_seq) AS ord
      FROM base WHERE rid IS NOT NULL AND NOT is_trace GROUP BY rid),
    loose AS (
      SELECT timestamp, rid AS request_id, status_code, failed_row AS failed,
             failed_row OR err_line AS error, duration_ms, duration_source, route, region,
             client_ip, deployment_id, 1 AS part, _seq AS ord
      FROM base WHERE rid IS NULL AND NOT is_trace AND (request_level OR err_line))
    SELECT * EXCLUDE (part, ord) FROM (SELECT * FROM grouped UNION ALL SELECT * FROM loose)
    ORDER BY timestamp, part, ord
    """


def security_rows_sql(view: str = "ev") -> str:
    """Events reduced to one row per client request, as security's ``requests_table`` merges.

    Rows with a client IP whose ``request_id`` is shared are merged (first non-missing value
    per column in row order, earliest time); the output order (unshared rows, then merged
    ones, by first appearance) is the one ``requests_table`` builds before its stable sort.
    """
    cols = [c for c in SECURITY_COLUMNS if c not in ("timestamp", "request_id")]
    firsts = ", ".join(f"arg_min({c}, _seq) FILTER (WHERE {c} IS NOT NULL) AS {c}"
                       for c in cols)
    plain = ", ".join(SECURITY_COLUMNS)
    return f"""
    WITH rows AS (SELECT {plain}, _seq,
                         request_id IS NOT NULL AND count(*) OVER (PARTITION BY request_id) > 1
                           AS shared
                  FROM {view} WHERE client_ip IS NOT NULL),
    merged AS (SELECT min(timestamp) AS timestamp, request_id, {firsts}, 1 AS part,
                      min(_seq) AS ord
               FROM rows WHERE shared GROUP BY request_id)
    SELECT {plain} FROM (
      SELECT {plain}, 0 AS part, _seq AS ord FROM rows WHERE NOT shared
      UNION ALL SELECT {plain}, part, ord FROM merged) ORDER BY part, ord
    """


def pattern_rows_sql(view: str = "ev") -> str:
    """The error lines (what ``patterns()`` groups) plus one stand-in row per other deployment.

    ``patterns()`` looks at non-error rows only for the set of deployments that had events
    (``new_since_deployment``); one ``info`` row per such deployment carries that set.
    """
    cols = ", ".join(PATTERN_COLUMNS)
    return f"""
    SELECT {cols} FROM (
      SELECT {cols}, 0 AS part, _seq AS ord FROM {view} WHERE level IN ({_ERROR_LEVELS})
      UNION ALL
      SELECT min(timestamp), 'info', NULL, NULL, NULL, deployment_id, 1, min(_seq)
      FROM {view} WHERE deployment_id IS NOT NULL GROUP BY deployment_id)
    ORDER BY part, ord
    """


def totals_sql(view: str = "ev") -> str:
    return (f"SELECT count(*) AS total, count(*) FILTER (WHERE level IN ({_ERROR_LEVELS})) "
            f"AS errors, min(timestamp) AS start, max(timestamp) AS \"end\" FROM {view}")


def frame(con, sql: str, table: str | None = None) -> pd.DataFrame:
    """Run ``sql`` and return pandas with the canonical dtypes (strings as ``STRING``)."""
    from irkit.sources.records import _PANDAS_TYPES

    out = con.sql(sql).to_arrow_table().to_pandas(types_mapper=_PANDAS_TYPES.get)
    if table is not None:
        out = schema.conform(out, table)
    return out


def window_filter(con, start: pd.Timestamp | None, end: pd.Timestamp | None,
                  source: str = "ev", name: str = "win") -> str:
    """A view of ``source`` clipped to ``[start, end]`` (the findings window)."""
    conds = []
    if start is not None:
        conds.append(f"timestamp >= TIMESTAMPTZ '{start.isoformat()}'")
    if end is not None:
        conds.append(f"timestamp <= TIMESTAMPTZ '{end.isoformat()}'")
    where = " AND ".join(conds) or "true"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source} WHERE {where}")
    return name


def export_events(con, target: Path, view: str = "ev") -> Path:
    """Write ``view`` as one canonical events Parquet file, in load order (``_seq``).

    This is the table templates read; DuckDB streams it (sorting spills to disk past the
    memory limit), so exporting never holds the events in this process's Python heap.
    """
    import duckdb

    from irkit.errors import IrkitError

    tmp = target.with_name(f".{target.name}.tmp")
    cols = ", ".join(f'"{c}"' for c in schema.EVENT_COLUMNS)
    try:
        con.execute(f"COPY (SELECT {cols} FROM {view} ORDER BY _seq) TO '{_quote(str(tmp))}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, target)
    except (OSError, duckdb.Error) as exc:
        tmp.unlink(missing_ok=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IrkitError(f"{target}: cannot write the events table: {reason}") from None
    return target


#: DuckDB's spill folder inside a run's ``tables/`` (removed once the run's SQL is done).
SPILL_DIR = ".duckdb-spill"


def spill_dir(run_tables: Path) -> str:
    path = run_tables / SPILL_DIR
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
