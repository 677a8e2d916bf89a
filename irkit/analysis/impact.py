"""Who and what the incident hurt: requests, failures, clients, routes and regions.

"Failed" is what a user saw: a 5xx or a crashed invocation (Vercel's ``-1``).  Error-level log
lines without a failed response are not impact (the user got an answer); they drive the onset.
Counts are per request (:func:`irkit.analysis.buckets.requests`), never per log line.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from irkit.analysis import buckets

#: How many of the worst routes / regions findings.json lists.
TOP = 10


def _window(reqs: pd.DataFrame, start: object, end: object) -> pd.DataFrame:
    lo, hi = buckets.to_utc(start), buckets.to_utc(end)
    if lo is not None:
        reqs = reqs[reqs["timestamp"] >= lo]
    if hi is not None:
        reqs = reqs[reqs["timestamp"] < hi]
    return reqs


def breakdown(reqs: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per value of ``by``: requests, failed_requests, error_rate, client_ips; worst first.

    "Worst" = most failed requests, then highest error rate.
    """
    sub = reqs[reqs[by].notna()]
    if len(sub) == 0:
        return pd.DataFrame(columns=[by, "requests", "failed_requests", "error_rate",
                                     "client_ips"])
    g = sub.groupby(by, observed=True, sort=False)
    out = pd.DataFrame({
        "requests": g.size(),
        "failed_requests": g["failed"].sum().astype("int64"),
        "client_ips": g["client_ip"].nunique(),
    })
    out["error_rate"] = out["failed_requests"] / out["requests"]
    out = out.sort_values(["failed_requests", "error_rate"], ascending=False)
    out.index.name = by
    return out.reset_index()[[by, "requests", "failed_requests", "error_rate", "client_ips"]]


def impact_findings(events: pd.DataFrame, *, start: object = None, end: object = None,
                    top: int = TOP) -> dict[str, Any]:
    """SPEC ``impact`` for ``[start, end)`` (default: all events).

    ``regions``/``routes`` list the affected ones (at least one failed request), worst first,
    at most ``top``; ``affected_routes``/``affected_regions``/``affected_client_ips`` count all
    of them.
    """
    reqs = _window(buckets.requests(events), start, end)
    n = len(reqs)
    failed = int(reqs["failed"].sum())
    failed_reqs = reqs[reqs["failed"]]
    routes = breakdown(reqs, "route")
    regions = breakdown(reqs, "region")
    routes = routes[routes["failed_requests"] > 0]
    regions = regions[regions["failed_requests"] > 0]
    return {
        "requests": n,
        "failed_requests": failed,
        "error_rate": round(failed / n, 6) if n else None,
        "client_ips": int(reqs["client_ip"].nunique()),
        "affected_client_ips": int(failed_reqs["client_ip"].nunique()),
        "affected_routes": len(routes),
        "affected_regions": len(regions),
        "routes": _records(routes.head(top), "route"),
        "regions": _records(regions.head(top), "region"),
    }


def _records(frame: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    return [{key: str(r[key]), "requests": int(r["requests"]),
             "failed_requests": int(r["failed_requests"]),
             "error_rate": round(float(r["error_rate"]), 6), "client_ips": int(r["client_ips"])}
            for r in frame.to_dict("records")]


def impact_series(events: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Per bucket: requests, failed_requests, error_rate, client_ips, affected routes/regions.

    Gap-free index (quiet buckets are zero traffic), so plots show outages as drops.
    """
    reqs = buckets.requests(events)
    counts = buckets.counts(reqs, freq)
    out = pd.DataFrame(index=counts.index)
    out["requests"] = counts["requests"]
    out["failed_requests"] = counts["failed"]
    out["error_rate"] = (counts["failed"] / counts["requests"].where(counts["requests"] > 0))
    if len(reqs) == 0:
        for column in ("client_ips", "affected_routes", "affected_regions"):
            out[column] = pd.Series(dtype="int64")
        return out
    key = buckets.floor(reqs["timestamp"], freq).rename("bucket")
    out["client_ips"] = _nunique(reqs["client_ip"], key, out.index)
    failed = reqs["failed"]
    out["affected_routes"] = _nunique(reqs["route"][failed], key[failed], out.index)
    out["affected_regions"] = _nunique(reqs["region"][failed], key[failed], out.index)
    return out


def _nunique(values: pd.Series, key: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    counts = values.groupby(key).nunique()
    counts.index = counts.index.astype(index.dtype)
    return counts.reindex(index, fill_value=0).astype("int64")
