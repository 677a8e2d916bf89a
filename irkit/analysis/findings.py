"""Assemble ``findings.json``: every number of the investigation in one stable JSON object.

The keys are SPEC's contract (scripts and reviewers read them); extra keys may be added, none
removed.  Values are plain JSON: ISO-8601 UTC strings with ``Z``, ints, floats, ``null`` for
missing — never NaN, numpy scalars or timestamps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

import irkit
from irkit import schema
from irkit.analysis import buckets, impact, latency, onset, suspects, timeline

#: How many patterns ``top_patterns`` lists.
TOP_PATTERNS = 10


def compute_findings(*, incident_id: str, severity: str, events: pd.DataFrame,
                     deployments: pd.DataFrame | None, metrics: pd.DataFrame | None,
                     rejected_count: int, window: Mapping[str, object] | tuple | None = None,
                     notes: Iterable[Mapping[str, Any]] | None = None,
                     timings: dict[str, float] | None = None) -> dict[str, Any]:
    """The whole SPEC findings.json object for one run.

    ``window`` is ``{"start", "end"}`` (or a pair); events outside it are ignored, and it
    defaults to the span of the events.  ``notes`` are scribe entries ``{time, author, text}``.
    ``timings``, when given, receives the seconds each step took (for benchmarks and logs).
    """
    clock = _Clock(timings)
    times = events["timestamp"]
    start, end = window_bounds(window, times.min() if len(times) else None,
                               times.max() if len(times) else None)
    if start is not None or end is not None:
        events = _clip(events, start, end)
    clock("requests", lambda: buckets.requests(events))  # warm the per-frame cache, timed
    pattern_table = clock("patterns", lambda: _patterns(events, deployments))
    security = clock("security", lambda: _security(events))
    errors = int(events["level"].isin(list(schema.ERROR_LEVELS)).fillna(False).sum())
    return assemble(events, incident_id=incident_id, severity=severity, start=start, end=end,
                    total=len(events), errors=errors, rejected_count=rejected_count,
                    deployments=deployments, metrics=metrics, notes=notes,
                    pattern_table=pattern_table, security=security,
                    timeline_events=events, clock=clock)


def assemble(frame: pd.DataFrame, *, incident_id: str, severity: str,
             start: pd.Timestamp | None, end: pd.Timestamp | None, total: int, errors: int,
             rejected_count: int, deployments: pd.DataFrame | None,
             metrics: pd.DataFrame | None, notes: Iterable[Mapping[str, Any]] | None,
             pattern_table: pd.DataFrame | None, security: dict[str, Any],
             timeline_events: pd.DataFrame | None,
             clock: Callable[[str, Callable[[], Any]], Any] | None = None) -> dict[str, Any]:
    """findings.json from what every engine computes the same way.

    ``frame`` is the events table (in memory) or the one-row-per-request table an out-of-core
    engine reduced the partitions to (``buckets.as_requests``); the analyses accept either.
    Both engines go through here, so their findings cannot drift apart.
    """
    clock = clock or _Clock(None)
    reqs = buckets.requests(frame)
    found = clock("onset", lambda: onset.find_onset(frame))
    suspect_frame = clock("suspects", lambda: suspects.rank_deployments(
        frame, deployments, onset=found.onset, patterns=pattern_table))
    latency_ms = clock("latency", lambda: latency.latency_findings(
        frame, onset=found.onset, metrics=metrics, recovery=found.recovery))
    impact_all = clock("impact", lambda: impact.impact_findings(frame))
    findings: dict[str, Any] = {
        "incident_id": incident_id,
        "severity": severity,
        "generated_at": buckets.iso(pd.Timestamp.now(tz="UTC")),
        "irkit_version": irkit.__version__,
        "window": {"start": buckets.iso(start), "end": buckets.iso(end)},
        "events": {"total": int(total), "errors": int(errors), "rejected": int(rejected_count),
                   "requests": len(reqs)},
        "error_onset": buckets.iso(found.onset),
        "recovery": buckets.iso(found.recovery),
        "onset_method": found.method,
        "suspect_deployments": [_suspect(row) for row in suspect_frame.to_dict("records")],
        "top_patterns": _top_patterns(pattern_table),
        "latency_ms": latency_ms,
        "impact": impact_all,
        "incident_impact": (impact.impact_findings(frame, start=found.onset,
                                                   end=found.recovery)
                            if found.onset is not None else None),
        "security": security,
        "timeline": timeline.build_timeline(timeline_events, deployments, onset=found.onset,
                                            recovery=found.recovery, notes=notes,
                                            patterns=pattern_table, security=security,
                                            onset_method=found.method, iso_times=True),
    }
    return jsonable(findings)


class _Clock:
    """Run a step and add its wall time to ``timings`` (a no-op wrapper without it)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    def __call__(self, name: str, step: Callable[[], Any]) -> Any:
        if self.timings is None:
            return step()
        t = time.perf_counter()
        try:
            return step()
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t


def window_bounds(window: Mapping[str, object] | tuple | None, lo: object,
                  hi: object) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The findings window: ``window`` (``{"start", "end"}`` or a pair) where it gives a bound,
    else the span ``lo``..``hi`` of the events.  Both engines take their window from here."""
    if isinstance(window, Mapping):
        start, end = buckets.to_utc(window.get("start")), buckets.to_utc(window.get("end"))
    elif isinstance(window, tuple | list) and len(window) == 2:
        start, end = buckets.to_utc(window[0]), buckets.to_utc(window[1])
    else:
        start = end = None
    start = start if start is not None else buckets.to_utc(lo)
    end = end if end is not None else buckets.to_utc(hi)
    return start, end


def _clip(events: pd.DataFrame, start: pd.Timestamp | None,
          end: pd.Timestamp | None) -> pd.DataFrame:
    mask = pd.Series(True, index=events.index)
    if start is not None:
        mask &= events["timestamp"] >= start
    if end is not None:
        mask &= events["timestamp"] <= end
    return events if bool(mask.all()) else events[mask.fillna(False)].reset_index(drop=True)


def _patterns(events: pd.DataFrame, deployments: pd.DataFrame | None) -> pd.DataFrame | None:
    from irkit.analysis.patterns import patterns

    return patterns(events, deployments=deployments)


def _security(events: pd.DataFrame) -> dict[str, Any]:
    from irkit.analysis.security import security_findings

    return security_findings(events)


def _suspect(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "deployment_id": row["deployment_id"], "created": buckets.iso(row["created"]),
        "live_at": buckets.iso(row["live_at"]), "score": row["score"], "reason": row["reason"],
        "commit_sha": row["commit_sha"], "commit_message": row["commit_message"],
        "error_rate_before": row["error_rate_before"],
        "error_rate_after": row["error_rate_after"],
        "p95_before": row["p95_before"], "p95_after": row["p95_after"],
        "new_patterns": list(row["new_patterns"]),
    }


def _top_patterns(table: pd.DataFrame | None) -> list[dict[str, Any]]:
    if table is None or len(table) == 0:
        return []
    return [{"pattern_id": r["pattern_id"], "template": r["template"], "count": r["count"],
             "first_seen": buckets.iso(r["first_seen"]), "last_seen": buckets.iso(r["last_seen"]),
             "new_since_deployment": r["new_since_deployment"]}
            for r in table.head(TOP_PATTERNS).to_dict("records")]


def jsonable(value: Any) -> Any:
    """Plain-JSON copy of ``value``: NA/NaN → None, numpy → Python, timestamps → ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, pd.Timestamp):
        return buckets.iso(value)
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    return value
