"""``findings.json`` from partitioned events: SQL reductions in, unchanged analyses on top.

The assembly mirrors :func:`irkit.analysis.findings.compute_findings` key for key; what differs
is where the reduced tables come from (DuckDB over Parquet instead of pandas over a frame held
in memory), so an out-of-core run and an in-memory run of the same evidence agree exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from irkit.analysis import buckets
from irkit.analysis import findings as fnd
from irkit.engine import local, reduce

#: Where reductions are kept as Parquet files: reduction name -> path (see local.combined).
SpoolTo = Mapping[str, "str | os.PathLike[str]"]
#: reducer(start, end, spool_to) -> the reductions of the windowed events (irkit.engine.reduce)
Reducer = Callable[[pd.Timestamp | None, pd.Timestamp | None, SpoolTo | None],
                   Mapping[str, Any]]


def findings_from_view(con, *, view: str, incident_id: str, severity: str,
                       deployments: pd.DataFrame | None, metrics: pd.DataFrame | None,
                       rejected_count: int, window: Mapping[str, object] | tuple | None = None,
                       notes: Iterable[Mapping[str, Any]] | None = None,
                       extras: dict[str, Any] | None = None,
                       reducer: Reducer | None = None,
                       spool_to: SpoolTo | None = None) -> dict[str, Any]:
    """The SPEC findings.json object for the events of ``view`` (see :mod:`irkit.engine.local`).

    ``reducer(start, end)`` computes the reductions of the events in the window (default:
    :func:`irkit.engine.local.reductions` on ``con``; the Dask engine passes its own).
    ``extras``, when given, receives the reduced tables the findings came from —
    ``requests``, ``security_rows`` (one row per client request), ``patterns`` and
    ``security_evidence`` (the security report's tables and block list) — so callers need not
    reduce the events a second time.
    ``spool_to`` keeps the ``requests`` / ``security`` reductions as Parquet files (complete,
    request ids included; the frames in ``extras`` then lack the ids, see
    :func:`irkit.engine.local.combined`).
    """
    start, end = _window(con, view, window)
    if reducer is None:
        win = local.window_filter(con, start, end, view)
        pwin = local.window_filter(con, start, end, local.without_reports(con, view), name="pwin")
        red = {**local.reductions(con, win, spool_to=spool_to),
               "patterns": reduce.stream_patterns(con, pwin)}
    else:
        red = reducer(start, end, spool_to)
    local.release(con)  # the analyses below are pandas: DuckDB's cache would sit idle
    return findings_from_reductions(red, start=start, end=end, incident_id=incident_id,
                                    severity=severity, deployments=deployments,
                                    metrics=metrics, rejected_count=rejected_count,
                                    notes=notes, extras=extras)


def findings_from_reductions(red: Mapping[str, Any], *, start: pd.Timestamp | None,
                             end: pd.Timestamp | None, incident_id: str, severity: str,
                             deployments: pd.DataFrame | None, metrics: pd.DataFrame | None,
                             rejected_count: int,
                             notes: Iterable[Mapping[str, Any]] | None = None,
                             extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble findings.json from the reductions (:mod:`irkit.engine.reduce`) by the analyses.

    ``red["patterns"]`` is a combined :class:`~irkit.analysis.pattern_partials.PatternPartial`.
    """
    from irkit.analysis import pattern_partials
    from irkit.analysis.security import security_evidence

    total, errors = red["totals"]
    reqs = buckets.as_requests(buckets._typed(red["requests"]))
    # per-pattern partial aggregates (reduce.assign_patterns), combined: never the error lines
    pattern_table = pattern_partials.table(red["patterns"], deployments)
    security_rows = red["security"]
    evidence = security_evidence(security_rows)
    security = evidence.findings
    if extras is not None:
        extras.update(requests=reqs, security_rows=security_rows, patterns=pattern_table,
                      security_evidence=evidence)
    return fnd.assemble(reqs, incident_id=incident_id, severity=severity, start=start,
                        end=end, total=total, errors=errors, rejected_count=rejected_count,
                        deployments=deployments, metrics=metrics, notes=notes,
                        pattern_table=pattern_table, security=security, timeline_events=None)


def _window(con, view: str, window: Mapping[str, object] | tuple | None
            ) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The findings window over a view: as given, else the span of its events."""
    lo, hi = con.execute(f"SELECT min(timestamp), max(timestamp) FROM {view}").fetchall()[0]
    return fnd.window_bounds(window, lo, hi)
