"""Latency percentiles: over time, per route/region/deployment, before and after the onset.

Why one duration per request: a request's REPORT line, its request-log row and its trace spans
can all carry a duration; counting each would weight slow, chatty requests several times.
:func:`irkit.analysis.buckets.requests` keeps the largest duration per request (the REPORT
line's or the root span's).  Every figure says which evidence it came from (``source``).

When the events carry no durations at all, Prometheus histograms in the metrics table
(``*_bucket`` series with ``le`` labels) are used instead, with the same linear interpolation
inside a bucket as Prometheus' ``histogram_quantile``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from irkit import schema
from irkit.analysis import buckets

QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
#: Routes need this many requests on each side of the onset to be compared.
MIN_ROUTE_REQUESTS = 10


def durations(events: pd.DataFrame) -> pd.DataFrame:
    """One row per request that has a duration: timestamp, duration_ms, source, route, region,
    deployment_id (see :func:`buckets.requests`)."""
    reqs = buckets.requests(events)
    out = reqs.loc[reqs["duration_ms"].notna(),
                   ["timestamp", "duration_ms", "duration_source", "route", "region",
                    "deployment_id"]]
    return out.rename(columns={"duration_source": "source"}).reset_index(drop=True)


def describe_source(durs: pd.DataFrame) -> str | None:
    """Human-readable evidence name(s) for a duration table, most common first."""
    if len(durs) == 0:
        return None
    counts = schema.most_common(schema.fill_missing(durs["source"], "unknown"))
    return " + ".join(str(s) for s in counts.index)


def percentiles(values: pd.Series | np.ndarray) -> dict[str, float | None]:
    """p50/p95/p99 of ``values`` in ms (None when there are none), rounded to 0.1 ms.

    Exact (numpy's linear interpolation) up to :func:`irkit.analysis.sketch.exact_max` values,
    a DDSketch beyond (within ±1 % relative of the exact value; see :mod:`.sketch`).
    """
    from irkit.analysis import sketch

    qs, _ = sketch.quantiles(values, list(QUANTILES.values()))
    return {k: None if v is None else round(float(v), 1)
            for k, v in zip(QUANTILES, qs, strict=True)}


def _quantile_frame(values: pd.Series, keys: list[pd.Series] | pd.Series) -> pd.DataFrame:
    g = values.groupby(keys, sort=True, observed=True)
    out = g.quantile(list(QUANTILES.values())).unstack()
    out.columns = list(QUANTILES)
    out.insert(0, "requests", g.size())
    return out


def latency_series(events: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Per bucket: requests with a duration, p50, p95, p99 (ms).  Index: bucket start (UTC)."""
    durs = durations(events)
    if len(durs) == 0:
        return pd.DataFrame(columns=["requests", *QUANTILES],
                            index=pd.DatetimeIndex([], tz="UTC", name="bucket"))
    out = _quantile_frame(durs["duration_ms"], buckets.floor(durs["timestamp"], freq))
    out.index.name = "bucket"
    return out


def latency_by(events: pd.DataFrame, by: str = "route", *, start: object = None,
               end: object = None) -> pd.DataFrame:
    """p50/p95/p99 per ``by`` (``route``, ``region`` or ``deployment_id``) in ``[start, end)``,
    busiest first."""
    durs = _window(durations(events), start, end)
    durs = durs[durs[by].notna()]
    if len(durs) == 0:
        return pd.DataFrame(columns=["requests", *QUANTILES])
    out = _quantile_frame(durs["duration_ms"], durs[by])
    return out.sort_values("requests", ascending=False)


def latency_heatmap(events: pd.DataFrame, freq: str = "5min", *, q: float = 0.95,
                    top: int = 15) -> pd.DataFrame:
    """Route × time table of the ``q`` quantile (rows: the ``top`` busiest routes)."""
    durs = durations(events)
    durs = durs[durs["route"].notna()]
    if len(durs) == 0:
        return pd.DataFrame()
    busiest = schema.most_common(durs["route"]).index[:top]
    durs = durs[durs["route"].isin(busiest)]
    grid = durs.groupby([durs["route"], buckets.floor(durs["timestamp"], freq)],
                        observed=True)["duration_ms"].quantile(q).unstack()
    return grid.reindex(busiest)


def _window(frame: pd.DataFrame, start: object, end: object) -> pd.DataFrame:
    lo, hi = buckets.to_utc(start), buckets.to_utc(end)
    mask = pd.Series(True, index=frame.index)
    if lo is not None:
        mask &= frame["timestamp"] >= lo
    if hi is not None:
        mask &= frame["timestamp"] < hi
    return frame[mask]


# -- Prometheus histograms ------------------------------------------------------------------

def histogram_quantiles(metrics: pd.DataFrame | None, *, name: str | None = None,
                        start: object = None, end: object = None) -> dict[str, Any] | None:
    """p50/p95/p99 (ms) interpolated from a Prometheus histogram's ``_bucket`` counters.

    The counters are cumulative, so the observations in ``[start, end]`` are the increase of
    each ``le`` bucket between the first and last sample in the window (summed over the other
    labels).  Within a bucket, values are assumed uniform (``histogram_quantile``'s rule); the
    ``+Inf`` bucket returns the largest finite bound.  ``*_seconds`` histograms are converted.
    """
    if metrics is None or len(metrics) == 0:
        return None
    hist = metrics[metrics["name"].str.endswith("_bucket").fillna(False)]
    if len(hist) == 0:
        return None
    names = hist["name"].unique()
    if name is None:
        preferred = [n for n in names if "duration" in n or "latency" in n]
        name = str((preferred or list(names))[0])
    hist = _window(hist[hist["name"] == name], start, end)
    if len(hist) == 0:
        return None
    le = hist["labels"].map(lambda d: (d or {}).get("le"))
    series = hist["labels"].map(
        lambda d: tuple(sorted((k, v) for k, v in (d or {}).items() if k != "le")))
    frame = pd.DataFrame({"t": hist["timestamp"], "le": le.map(_le_value), "series": series,
                          "v": hist["value"].astype("float64")}).dropna(subset=["le"])
    frame = frame.sort_values("t")
    g = frame.groupby(["series", "le"])["v"]
    increase = (g.last() - g.first()) if frame["t"].nunique() > 1 else g.last()
    cum = increase.clip(lower=0).groupby(level="le").sum().sort_index()
    if cum.empty or cum.iloc[-1] <= 0:
        return None
    scale = 1000.0 if name.endswith("_seconds_bucket") else 1.0
    bounds, counts = cum.index.to_numpy("float64"), np.maximum.accumulate(cum.to_numpy("float64"))
    out: dict[str, Any] = {}
    for key, q in QUANTILES.items():
        out[key] = round(_interpolate(bounds, counts, q) * scale, 1)
    out["source"] = f"prometheus histogram {name[: -len('_bucket')]}"
    out["requests"] = int(counts[-1])
    return out


def _le_value(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value).replace("+Inf", "inf"))
    except ValueError:
        return None


def _interpolate(bounds: np.ndarray, counts: np.ndarray, q: float) -> float:
    total = counts[-1]
    rank = q * total
    i = int(np.searchsorted(counts, rank, side="left"))
    i = min(i, len(bounds) - 1)
    if math.isinf(bounds[i]):
        finite = bounds[np.isfinite(bounds)]
        return float(finite[-1]) if finite.size else float("nan")
    lo_bound = bounds[i - 1] if i > 0 else 0.0
    lo_count = counts[i - 1] if i > 0 else 0.0
    width = counts[i] - lo_count
    if width <= 0:
        return float(bounds[i])
    return float(lo_bound + (bounds[i] - lo_bound) * (rank - lo_count) / width)


# -- findings --------------------------------------------------------------------------------

#: ``source`` of latency figures taken from ``irkit probe`` timings.
PROBE_SOURCE = "probe timings (irkit probe total)"
#: The metric ``irkit probe`` writes for a request's whole time (``irkit.capture.probe``).
PROBE_TOTAL = "probe_total_ms"


def probe_durations(metrics: pd.DataFrame | None) -> pd.DataFrame:
    """``timestamp, duration_ms`` of every ``irkit probe`` request in a metrics table."""
    if metrics is None or len(metrics) == 0:
        return pd.DataFrame({"timestamp": pd.Series([], dtype=schema.TIMESTAMP),
                             "duration_ms": pd.Series([], dtype="float64")})
    rows = metrics[(metrics["name"] == PROBE_TOTAL).fillna(False).astype(bool)]
    rows = rows.dropna(subset=["value"])
    return pd.DataFrame({"timestamp": rows["timestamp"].reset_index(drop=True),
                         "duration_ms": rows["value"].astype("float64").reset_index(drop=True)})


def latency_findings(events: pd.DataFrame, *, onset: object = None,
                     metrics: pd.DataFrame | None = None, recovery: object = None,
                     top_routes: int = 10) -> dict[str, Any]:
    """SPEC ``latency_ms``: overall p50/p95/p99, ``source``, before/after onset, per route.

    "After" is the incident itself: ``[onset, recovery)`` when the recovery is known, else from
    the onset to the end.  Routes are listed most degraded first (largest p95 ratio), only
    those with at least ``MIN_ROUTE_REQUESTS`` durations on each side.
    """
    onset_ts, recovery_ts = buckets.to_utc(onset), buckets.to_utc(recovery)
    durs = durations(events)
    empty = dict.fromkeys(QUANTILES)
    if len(durs) == 0:
        hist = histogram_quantiles(metrics)
        if hist is None:
            probes = probe_durations(metrics)
            if len(probes) == 0:
                return {**empty, "source": None, "before_onset": dict(empty),
                        "after_onset": dict(empty), "routes": []}
            # Synthetic checks (``irkit probe``): the playbook's curl timing loop as evidence.
            durs = probes
            result = {**percentiles(durs["duration_ms"]), "source": PROBE_SOURCE}
            if onset_ts is None:
                return {**result, "before_onset": dict(empty), "after_onset": dict(empty),
                        "routes": []}
            return {**result,
                    "before_onset": percentiles(_window(durs, None, onset_ts)["duration_ms"]),
                    "after_onset": percentiles(
                        _window(durs, onset_ts, recovery_ts)["duration_ms"]),
                    "routes": []}
        before = (histogram_quantiles(metrics, end=onset_ts) if onset_ts is not None else None)
        after = (histogram_quantiles(metrics, start=onset_ts, end=recovery_ts)
                 if onset_ts is not None else None)
        return {**{k: hist[k] for k in QUANTILES}, "source": hist["source"],
                "before_onset": {k: (before or {}).get(k) for k in QUANTILES},
                "after_onset": {k: (after or {}).get(k) for k in QUANTILES},
                "routes": []}
    result: dict[str, Any] = {**percentiles(durs["duration_ms"]),
                              "source": describe_source(durs)}
    if onset_ts is None:
        result.update(before_onset=dict(empty), after_onset=dict(empty), routes=[])
        return result
    before = _window(durs, None, onset_ts)
    after = _window(durs, onset_ts, recovery_ts)
    result["before_onset"] = percentiles(before["duration_ms"])
    result["after_onset"] = percentiles(after["duration_ms"])
    result["routes"] = _route_changes(before, after, top_routes)
    return result


def _route_changes(before: pd.DataFrame, after: pd.DataFrame, top: int) -> list[dict[str, Any]]:
    rows = []
    b_groups = dict(tuple(before.groupby("route", observed=True)["duration_ms"]))
    for route, a_vals in after.groupby("route", observed=True)["duration_ms"]:
        b_vals = b_groups.get(route)
        if b_vals is None or len(b_vals) < MIN_ROUTE_REQUESTS or len(a_vals) < MIN_ROUTE_REQUESTS:
            continue
        b, a = percentiles(b_vals), percentiles(a_vals)
        ratio = (a["p95"] or 0) / b["p95"] if b["p95"] else 0.0
        rows.append((ratio, {"route": str(route), "before_onset": b, "after_onset": a}))
    rows.sort(key=lambda r: r[0], reverse=True)
    return [r for _, r in rows[:top]]
