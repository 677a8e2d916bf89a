"""The local out-of-core engine: DuckDB over the hour-partitioned Parquet events.

Every analysis of :mod:`irkit.analysis` starts by reducing the events to a smaller table —
one row per request (:func:`irkit.analysis.buckets.requests`), one row per client request
(:func:`irkit.analysis.security.requests_table`), per-pattern aggregates (patterns, see
:func:`irkit.engine.reduce.stream_patterns`).  Those reductions
are the only steps whose cost grows with the number of log lines, so here they run as SQL over
the partitions (DuckDB spills to disk past ``memory_limit``) and only their results come into
pandas, where the unchanged analysis code computes the findings.  The SQL reproduces the pandas
semantics exactly — including "first non-missing value in row order", via the ``_seq``
column — which the tests check on the demo incident.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from irkit import schema
from irkit.engine import reduce
from irkit.engine.partitions import Partitions

#: DuckDB's memory for the reductions when neither ``--memory-limit`` nor
#: ``IRKIT_MEMORY_LIMIT`` says otherwise.  Why not DuckDB's own default (80 % of the machine):
#: it keeps what it takes until the run ends, and at 10M records that alone was over 8 GB of
#: ``irkit open``'s peak; past the limit the reductions spill to disk instead.
DEFAULT_MEMORY_LIMIT = "1GB"


def connect(memory_limit: str | None = None, threads: int | None = None,
            temp_dir: str | None = None):
    """A DuckDB connection with the run's memory limit and a spill folder."""
    import duckdb

    con = duckdb.connect()
    limit = memory_limit or os.environ.get("IRKIT_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    con.execute(f"SET memory_limit = '{_size(limit)}'")
    threads = threads or (int(os.environ["IRKIT_THREADS"]) if os.environ.get("IRKIT_THREADS")
                          else None)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir:
        con.execute(f"SET temp_directory = '{_quote(temp_dir)}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def release(con) -> None:
    """Make DuckDB hand back the memory it keeps cached after its queries.

    Why: DuckDB holds on to up to its memory limit after a query ends, so the pandas analyses
    that follow the reductions would run on top of an idle gigabyte.  Lowering the limit for a
    moment makes it free what it holds; the limit is then restored.
    """
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute("SET memory_limit = '64MB'")
    con.execute(f"SET memory_limit = '{_quote(str(limit))}'")


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _size(text: str) -> str:
    """Validate a memory size such as ``4GB`` / ``512MiB`` (it is spliced into SQL)."""
    import re

    from irkit.errors import IrkitError

    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", str(text), re.I):
        raise IrkitError(f"--memory-limit {text!r}: expected a size such as 4GB or 512MiB")
    return str(text).strip()


def events_view(con, parts: Partitions | str | list[str], name: str = "ev",
                reports=None) -> None:
    """Register ``name``: the events with the cross-file Lambda REPORT join finished.

    ``apply_reports`` fills a request's rows from a REPORT line's duration; each streamed
    batch did that for the REPORT rows themselves, the view does it across batches and files
    with the loader's precedence: a REPORT row's Vercel request id beats an AWS RequestId
    match, then the earliest REPORT line wins; an existing duration is never overwritten.
    ``reports`` (an Arrow table ``key, ms``) is the join table when it was built elsewhere —
    by the Dask engine from every worker's :func:`reports_partial_sql` — else it is built here.
    ``parts`` may also be a glob or a list of part files (one worker's share), as local paths
    or fsspec URLs (``s3://…``: their filesystem is registered with ``con``).
    """
    from irkit.engine.storage import register_for

    if isinstance(parts, Partitions):
        parts.store.register(con)
        files = f"'{_quote(parts.glob)}'"
    elif isinstance(parts, str):
        register_for(con, parts)
        files = f"'{_quote(parts)}'"
    else:
        register_for(con, *map(str, parts))
        files = "[" + ", ".join(f"'{_quote(str(p))}'" for p in parts) + "]"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name}_raw AS SELECT * FROM "
                f"read_parquet({files}, hive_partitioning = false)")
    if reports is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_reports AS "
                    f"WITH p AS ({reports_partial_sql(name + '_raw')}) "
                    f"{reports_combine_sql('p')}")
    else:
        con.register(f"{name}_reports_arrow", reports)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name}_reports AS "
                    f"SELECT key, ms FROM {name}_reports_arrow")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {name} AS
          SELECT e.* REPLACE (COALESCE(e.duration_ms, r.ms) AS duration_ms)
          FROM {name}_raw e LEFT JOIN {name}_reports r ON e.request_id = r.key""")


def without_reports(con, view: str) -> str:
    """``view``'s events before the REPORT join (:func:`events_view` registers them as
    ``<view>_raw``) when there is one, else ``view``: pattern passes read no duration, and
    skipping the join makes each of them several times cheaper."""
    raw = f"{view}_raw"
    found = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
                        [raw]).fetchall()[0][0]
    return raw if found else view


def reports_partial_sql(raw: str) -> str:
    """Per join key, the winning REPORT duration of these rows and its rank (``ord``).

    Rank: Vercel request-id keys before AWS RequestId keys, then load order — so combining
    partials by ``arg_min(ms, ord)`` picks the same line as one pass over everything.
    """
    return f"""
    SELECT key, arg_min(ms, ord) AS ms, min(ord) AS ord FROM (
      SELECT request_id AS key, _report_ms AS ms, _seq AS ord FROM {raw}
        WHERE _report_ms IS NOT NULL AND request_id IS NOT NULL
      UNION ALL
      SELECT _report_aws, _report_ms, _seq + (1::BIGINT << 62) FROM {raw}
        WHERE _report_ms IS NOT NULL AND _report_aws IS NOT NULL) GROUP BY key"""


def reports_combine_sql(partials: str) -> str:
    return f"SELECT key, arg_min(ms, ord) AS ms FROM {partials} GROUP BY key"


def traces_only(con, view: str = "ev") -> bool:
    """Whether ``view`` holds nothing but trace spans (then a trace is the request)."""
    return reduce.all_trace(*con.execute(reduce.trace_flag_sql(view)).fetchall()[0])


def requests_sql(view: str = "ev", *, traces_only: bool = False) -> str:
    """SQL of :func:`irkit.analysis.buckets.requests` over ``view`` (same rows, same order)."""
    return (f"WITH p AS ({reduce.requests_partial_sql(view, traces_only)}) "
            f"{reduce.requests_combine_sql('p')}")


def reductions(con, view: str = "ev", *,
               spool_to: Mapping[str, str | os.PathLike[str]] | None = None) -> dict[str, object]:
    """Every reduction of ``view`` in this process: each partial, then its combine step.

    Returns pandas frames for ``requests`` and ``security`` and a ``(total, errors)`` tuple
    for ``totals`` — the same objects the Dask engine assembles from its workers' partials.
    ``spool_to`` (reduction name -> Parquet path) keeps those reductions as files: see
    :func:`combined`.  Patterns are not SQL: see :func:`irkit.engine.reduce.stream_patterns`.
    """
    out: dict[str, object] = {}
    for name, sql in reduce.partial_sqls(view, traces_only(con, view)).items():
        out[name] = combined(con, name, f"WITH p AS ({sql}) {reduce.COMBINE[name]('p')}",
                             keep=(spool_to or {}).get(name))
    return out


def combined(con, name: str, query: str,
             keep: str | os.PathLike[str] | None = None) -> object:
    """Run the combine ``query`` of reduction ``name`` into what the analyses take: a
    ``(total, errors)`` pair for ``totals``, else a frame with categorical strings.

    ``keep``: DuckDB writes the whole reduction to this Parquet file, which stays, and the
    frame leaves out what the analyses never read — the per-request ids
    (:data:`schema.UNIQUE_STRINGS`, all missing in the frame, complete in the file).  Why: 10M
    request ids are about 450 MB of strings in pandas, twice (requests and client requests).
    """
    if name == "totals":
        return tuple(int(v) for v in con.execute(query).fetchall()[0])
    if keep is not None:
        spool(con, query, keep)
        return read_compact(keep, skip=schema.UNIQUE_STRINGS)
    return frame(con, query, categorical=True)


def frame(con, sql: str, table: str | None = None, *,
          categorical: bool = False) -> pd.DataFrame:
    """Run ``sql`` and return pandas with the canonical dtypes (strings as ``STRING``).

    ``categorical``: the result goes through a temporary Parquet file and comes back as
    :func:`read_compact` reads it.  Why: a reduction of 10M requests, materialised as Arrow
    inside DuckDB, counts against DuckDB's memory limit and fails, while ``COPY … TO`` streams
    (and spills) within it.
    """
    import tempfile

    from irkit.sources.records import _PANDAS_TYPES

    if categorical:
        spill = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        with tempfile.TemporaryDirectory(
                prefix="irkit-reduction-",
                dir=spill if spill and os.path.isdir(spill) else None) as tmp:
            path = os.path.join(tmp, "result.parquet")
            spool(con, sql, path)
            out = read_compact(path)
    else:
        out = con.sql(sql).to_arrow_table().to_pandas(types_mapper=_PANDAS_TYPES.get)
    return schema.conform(out, table) if table is not None else out


def spool(con, sql: str, target: str | os.PathLike[str]) -> None:
    """DuckDB writes ``sql``'s result to the Parquet file ``target`` (streaming, spilling).

    A write that fails (disk full, folder gone) is one line naming the file, not a traceback.
    """
    import duckdb

    from irkit.errors import IrkitError

    try:
        con.execute(f"COPY ({sql}) TO '{_quote(str(target))}' (FORMAT parquet)")
    except duckdb.IOException as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IrkitError(f"{target}: cannot write a reduced table: {reason}") from None


def read_compact(path: str | os.PathLike[str], *, skip: Iterable[str] = ()) -> pd.DataFrame:
    """A Parquet table in pandas with its repetitive string columns as categoricals.

    Strings other than :data:`schema.UNIQUE_STRINGS` are read as dictionaries, so a route
    repeated 10M times is stored once.  Columns named in ``skip`` are not read: they come
    back all missing (with their type), for callers that never look at them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from irkit.sources.records import _PANDAS_TYPES

    fields = pq.read_schema(path)
    skipped = set(skip) & set(fields.names)
    dictionary = [f.name for f in fields if f.name not in schema.UNIQUE_STRINGS
                  and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    table = pq.read_table(path, read_dictionary=dictionary,
                          columns=[n for n in fields.names if n not in skipped])
    # back in place, all missing: the frame keeps the table's shape
    for name in sorted(skipped, key=fields.names.index):
        table = table.add_column(fields.names.index(name), fields.field(name),
                                 pa.nulls(table.num_rows, fields.field(name).type))
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


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


def export_events(con, target: Path | str, view: str = "ev") -> Path | str:
    """Write ``view`` as one canonical events Parquet file, in load order (``_seq``).

    This is the table templates read; DuckDB streams it (sorting spills to disk past the
    memory limit), so exporting never holds the events in this process's Python heap.
    ``target`` may be an fsspec URL; the file appears whole or not at all
    (:meth:`irkit.engine.storage.Storage.atomic`).
    """
    import duckdb

    from irkit.engine.storage import Storage
    from irkit.errors import IrkitError

    text = str(target)
    folder, name = text.rsplit("/", 1) if "/" in text else (".", text)
    store = Storage.of(folder or "/")
    store.register(con)
    cols = ", ".join(f'"{c}"' for c in schema.EVENT_COLUMNS)
    try:
        with store.atomic(name) as tmp:
            con.execute(f"COPY (SELECT {cols} FROM {view} ORDER BY _seq) "
                        f"TO '{_quote(store.as_url(tmp))}' (FORMAT parquet, COMPRESSION zstd)")
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IrkitError(f"{target}: cannot write the events table: {reason}") from None
    return target


#: DuckDB's spill folder inside a run's ``tables/`` (removed once the run's SQL is done).
SPILL_DIR = ".duckdb-spill"


def spill_dir(run_tables: Path) -> str:
    path = run_tables / SPILL_DIR
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
