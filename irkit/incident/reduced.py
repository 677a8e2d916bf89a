"""The engine's reduced tables, kept with a run so that templates never reduce the events again.

Why: on a 10M-record incident each of the three template kernels used to read the whole events
table (≈ 10M rows × 30 columns) to recompute the requests, the per-client requests and the
pattern table — several GB per kernel — although the engine had just computed exactly those
tables to write ``findings.json``.  The engine writes the request and client-request tables
into ``tables/`` itself (:func:`spool_paths`) and :func:`write_reduced` stores the rest (see
:data:`irkit.incident.tables.REDUCED_TABLES`); the manifest hashes them like every other file
and :func:`irkit.incident.tables.load_inputs` hands them to the templates.

The tables are those of the findings window (what ``findings.json`` describes); without an
explicit window that is every event, so the figures equal the ones computed from the events.
The one table the engine does not return, per-pattern minute counts for the sparklines, is
reduced here from the same partitions: the error lines are labelled batch by batch by a
grouper fitted like the engine's (:mod:`irkit.engine.reduce`), so the pattern ids are the
engine's, and only ``(minute, pattern, count)`` rows are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from irkit import schema
from irkit.incident.tables import REDUCED_TABLES, SPOOLED, write_table

#: Bucket width of the stored pattern counts (``pattern_series``' default, what templates show).
SERIES_FREQ = "1min"


def pattern_counts_of_view(con, view: str, freq: str = SERIES_FREQ) -> pd.DataFrame:
    """Lines per ``(bucket, pattern_id)`` of ``view``'s error lines, labelled in batches.

    Memory is bounded by the batch size and by patterns × buckets, never by the number of
    lines.  Equals ``pattern_counts(label(events))`` of the same events (tested).
    """
    import pyarrow as pa

    from irkit.analysis.patterns import label, pattern_counts
    from irkit.engine import reduce

    grouper = reduce.fit_patterns([reduce.observe_patterns(con, view)])
    parts = []
    reader = con.sql(reduce.pattern_lines_sql(view)).to_arrow_reader(reduce.PATTERN_BATCH_ROWS)
    for batch in reader:
        lines = pa.Table.from_batches([batch]).to_pandas()
        labelled = label(schema.conform(lines, "events"), grouper=grouper)
        parts.append(pattern_counts(labelled, freq))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"bucket": pd.Series([], dtype=schema.TIMESTAMP),
                             "pattern_id": pd.Series([], dtype=schema.STRING),
                             "count": pd.Series([], dtype="int64")})
    counts = pd.concat(parts, ignore_index=True)
    if len(parts) > 1:  # a bucket can span batches: sum its rows
        counts = (counts.groupby(["bucket", "pattern_id"], sort=True)["count"].sum()
                  .reset_index())
    return counts.astype({"pattern_id": schema.STRING, "count": "int64"})


def spool_paths(tables_dir: Path) -> dict[str, Path]:
    """Where the engine keeps its request and client-request reductions (``spool_to``)."""
    return {reduction: tables_dir / REDUCED_TABLES[table]
            for reduction, table in SPOOLED.items()}


def write_reduced(tables_dir: Path, extras: Mapping[str, Any], *, con, view: str = "ev",
                  start: pd.Timestamp | None = None,
                  end: pd.Timestamp | None = None) -> dict[str, Path]:
    """Write the reduced tables of one run into ``tables_dir``; returns name -> path.

    ``extras`` is what the engine's ``findings(…, extras=…, spool_to=spool_paths(tables_dir))``
    filled in (``patterns``, ``security_evidence``); the request and client-request tables are
    already there, written by the engine with their request ids (:func:`spool_paths`).
    ``con``/``view`` are the DuckDB connection and events view the findings came from, and
    ``start``/``end`` the findings window.
    """
    from irkit.engine import local

    evidence = extras["security_evidence"]
    tables = {
        "data_access": evidence.data_access,
        "auth_failures": evidence.auth_failures,
        "patterns": extras["patterns"],
        "pattern_counts": pattern_counts_of_view(
            con, local.window_filter(con, start, end, local.without_reports(con, view),
                                     name="reduced_pwin")),
    }
    written = {name: write_table(frame, tables_dir / REDUCED_TABLES[name], name)
               for name, frame in tables.items()}
    return written | {SPOOLED[r]: path for r, path in spool_paths(tables_dir).items()}
