"""Which deployment is to blame?  Rank deployments by what changed when each went live.

For every deployment, the requests in a window before it went live are compared with those
after (the window ends at the neighbouring deployments, at most ``window`` long):

* **error rate** — exact conditional binomial test (one-sided, rise only); the effect is
  ``(after − before) / (after + before + 1 pp)`` in [0, 1), 0 unless significant;
* **new error patterns** — patterns it introduced (``new_since_deployment`` from
  :func:`irkit.analysis.patterns.patterns`);
* **latency** — p95 ratio after/before (needs enough durations on both sides), ``log2`` scaled
  so that doubling is 0.5 and quadrupling is 1; "after" is the worse of the window right after
  it went live and the last window of its life (at most ``LIFE`` later) — a slow creep only
  shows late.

``score = confidence × proximity × (1 − (1 − e)(1 − 0.6·p)(1 − 0.6·l))`` where ``confidence``
grows with the traffic in the windows (``n / (n + 50)``) and ``proximity`` (when the onset is
known) decays with the distance from the onset and strongly penalises deployments that went live
*after* the onset (a rollback fixes, it does not break).  Deployments below ``min_score`` are
not blamed: the frame is empty when nothing is to blame.

When a deployment "went live": the first request it served (events carry ``deployment_id``),
else its ``ready`` time, else ``created`` — traffic moves at promotion, not at build start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from irkit import schema
from irkit.analysis import buckets, stats

#: Longest before/after window around a deployment.
WINDOW = pd.Timedelta(minutes=30)
#: Significance level for the error-rate rise.
ALPHA = 1e-3
#: Scores below this blame nobody.
MIN_SCORE = 0.25
#: How long after going live a slow latency creep is still attributed to a deployment.
LIFE = pd.Timedelta(hours=2)
#: Proximity half-life: a deployment this far before the onset gets half the weight.
HALF_LIFE = pd.Timedelta(minutes=10)
#: A deployment live more than this after the onset cannot have caused it.
AFTER_ONSET_GRACE = pd.Timedelta(minutes=2)

COLUMNS = ["deployment_id", "created", "live_at", "score", "reason", "commit_sha",
           "commit_message", "error_rate_before", "error_rate_after", "error_p_value",
           "requests_before", "requests_after", "p95_before", "p95_after", "new_patterns"]


def _live_times(deployments: pd.DataFrame | None, reqs: pd.DataFrame) -> pd.DataFrame:
    """One row per deployment: id, created, live_at, commit fields (deployments ∪ events)."""
    first_seen = reqs.dropna(subset=["deployment_id"]).groupby(
        "deployment_id", observed=True)["timestamp"].min()
    if deployments is not None and len(deployments):
        deps = deployments.drop_duplicates("deployment_id").set_index("deployment_id")
    else:
        deps = schema.empty("deployments").set_index("deployment_id")
    ids = list(dict.fromkeys([*map(str, deps.index.dropna()), *map(str, first_seen.index)]))
    rows = []
    for did in ids:
        rec = deps.loc[did] if did in deps.index else None
        ready = rec["ready"] if rec is not None else pd.NaT
        created = rec["created"] if rec is not None else pd.NaT
        seen = first_seen.get(did, pd.NaT)
        declared = ready if pd.notna(ready) else created
        # the first request it served is the truth; the declared time only if it has none,
        # or if the events only start later (the deployment was live before the evidence)
        live = seen if pd.notna(seen) else declared
        if pd.notna(seen) and pd.notna(declared) and seen <= reqs["timestamp"].iloc[0]:
            live = declared
        rows.append({
            "deployment_id": did,
            "created": created if pd.notna(created) else seen,
            "live_at": live,
            "commit_sha": None if rec is None else rec["commit_sha"],
            "commit_message": None if rec is None else rec["commit_message"],
        })
    out = pd.DataFrame(rows, columns=["deployment_id", "created", "live_at", "commit_sha",
                                      "commit_message"])
    out = out.dropna(subset=["live_at"])
    return out.sort_values("live_at", kind="stable", ignore_index=True)


def rank_deployments(events: pd.DataFrame, deployments: pd.DataFrame | None, *,
                     onset: object = None, patterns: pd.DataFrame | None = None,
                     min_score: float = MIN_SCORE, window: pd.Timedelta = WINDOW,
                     include_all: bool = False) -> pd.DataFrame:
    """Deployments most suspect first, with ``score`` in [0, 1] and a human ``reason``.

    ``onset`` (when known) weights deployments by proximity; ``patterns`` is the pattern table
    (computed here from the events when omitted).  Only deployments scoring ``min_score`` or
    more are returned unless ``include_all``.  Columns: ``COLUMNS``.
    """
    reqs = buckets.requests(events)
    if len(reqs) == 0:
        return pd.DataFrame(columns=COLUMNS)
    live = _live_times(deployments, reqs)
    if len(live) == 0:
        return pd.DataFrame(columns=COLUMNS)
    if patterns is None:
        patterns = _patterns(events, deployments)
    onset_ts = buckets.to_utc(onset)
    times = pd.DatetimeIndex(reqs["timestamp"])
    errs = reqs["error"].to_numpy()
    durs = reqs["duration_ms"].to_numpy("float64")
    lives = list(live["live_at"])
    end = reqs["timestamp"].iloc[-1] + pd.Timedelta(microseconds=1)
    rows = []
    for i, dep in enumerate(live.itertuples(index=False)):
        t = dep.live_at
        lo = max(t - window, lives[i - 1]) if i > 0 else t - window
        hi = min(t + window, lives[i + 1]) if i + 1 < len(lives) else t + window
        b = _slice(times, lo, t)
        a = _slice(times, t, hi)
        # latency creeps: also compare with the last window of its life (at most LIFE later)
        life_end = min(lives[i + 1] if i + 1 < len(lives) else end, t + LIFE, end)
        late = _slice(times, max(t, life_end - window), life_end)
        rows.append(_assess(dep, errs[b], durs[b], errs[a], durs[a], durs[late], life_end,
                            patterns, onset_ts))
    out = pd.DataFrame(rows, columns=COLUMNS)
    out = out.sort_values(["score", "live_at"], ascending=[False, False], kind="stable",
                          ignore_index=True)
    if not include_all:
        out = out[out["score"] >= min_score].reset_index(drop=True)
    return out


def _slice(times: pd.DatetimeIndex, lo: pd.Timestamp, hi: pd.Timestamp) -> slice:
    """Positions of the (sorted) request times in ``[lo, hi)``."""
    return slice(int(times.searchsorted(lo, "left")), int(times.searchsorted(hi, "left")))


def _patterns(events: pd.DataFrame, deployments: pd.DataFrame | None) -> pd.DataFrame | None:
    try:
        from irkit.analysis.patterns import patterns as find_patterns
    except ImportError:  # pragma: no cover - the patterns module is another team's
        return None
    return find_patterns(events, deployments=deployments)


def _new_patterns(patterns: pd.DataFrame | None, dep_id: str) -> list[str]:
    """Templates of patterns this deployment introduced, most frequent first."""
    if patterns is None or len(patterns) == 0:
        return []
    new = (patterns["new_since_deployment"].astype(schema.STRING) == dep_id).fillna(False)
    hits = patterns[new.to_numpy(bool)]
    return [str(x) for x in hits.sort_values("count", ascending=False)["template"]]


def _assess(dep: Any, err_b: np.ndarray, dur_b: np.ndarray, err_a: np.ndarray,
            dur_a: np.ndarray, dur_late: np.ndarray, life_end: pd.Timestamp,
            patterns: pd.DataFrame | None, onset: pd.Timestamp | None) -> dict[str, Any]:
    t = dep.live_at
    n_b, n_a = len(err_b), len(err_a)
    e_b, e_a = int(err_b.sum()), int(err_a.sum())
    r_b = e_b / n_b if n_b else None
    r_a = e_a / n_a if n_a else None
    p = stats.rate_increase_pvalue(e_b, n_b, e_a, n_a)
    err_effect = 0.0
    if r_b is not None and r_a is not None and p < ALPHA and r_a > r_b:
        err_effect = (r_a - r_b) / (r_a + r_b + 0.01)
    new = _new_patterns(patterns, dep.deployment_id)
    pat_effect = min(1.0, len(new) / 2)
    p95_b = _p95(dur_b)
    p95_a = _p95(dur_a)
    p95_late = _p95(dur_late)
    late = bool(p95_late and p95_a and p95_late > p95_a)
    if late:
        p95_a = p95_late
    lat_effect = 0.0
    if p95_b and p95_a and p95_a > 1.2 * p95_b:
        lat_effect = min(1.0, math.log2(p95_a / p95_b) / 2)
    combined = 1 - (1 - err_effect) * (1 - 0.6 * pat_effect) * (1 - 0.6 * lat_effect)
    n = min(n_b, n_a)
    confidence = n / (n + 50)
    proximity = _proximity(t, onset)
    score = round(float(confidence * proximity * combined), 4)
    reason = _reason(r_b, r_a, err_effect, new, p95_b, p95_a, life_end if late else None,
                     t, onset, n_a)
    return {
        "deployment_id": dep.deployment_id, "created": dep.created, "live_at": t,
        "score": score, "reason": reason, "commit_sha": dep.commit_sha,
        "commit_message": dep.commit_message, "error_rate_before": r_b,
        "error_rate_after": r_a, "error_p_value": p, "requests_before": n_b,
        "requests_after": n_a, "p95_before": p95_b, "p95_after": p95_a, "new_patterns": new,
    }


def _p95(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    if len(values) < 10:
        return None
    return round(float(np.quantile(values, 0.95)), 1)


def _proximity(t: pd.Timestamp, onset: pd.Timestamp | None) -> float:
    if onset is None:
        return 1.0
    if t > onset + AFTER_ONSET_GRACE:
        return 0.05
    gap = max(pd.Timedelta(0), onset - t)
    return 0.5 ** (gap / HALF_LIFE)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def _reason(r_b: float | None, r_a: float | None, err_effect: float, new: list[str],
            p95_b: float | None, p95_a: float | None, late: pd.Timestamp | None,
            t: pd.Timestamp, onset: pd.Timestamp | None, n_a: int) -> str:
    parts = []
    if n_a == 0:
        parts.append("no traffic after it went live")
    else:
        verdict = "" if err_effect > 0 else (" (not significant)" if (r_a or 0) > (r_b or 0)
                                                else "")
        parts.append(f"error rate {_pct(r_b)} → {_pct(r_a)} after deploy{verdict}")
    if new:
        head = " ".join(new[0].split())
        head = head if len(head) <= 60 else head[:59] + "…"
        more = f" (+{len(new) - 1} more)" if len(new) > 1 else ""
        parts.append(f"{len(new)} new error pattern{'s' if len(new) > 1 else ''} '{head}'{more}")
    if p95_b and p95_a:
        by = f" by {late:%H:%M} UTC" if late is not None else ""
        parts.append(f"p95 {p95_b:.0f} → {p95_a:.0f} ms{by}")
    if onset is not None:
        delta = (t - onset).total_seconds() / 60
        when = (f"live {abs(delta):.0f} min before the onset" if delta <= 0
                else f"live {delta:.0f} min after the onset")
        parts.append(when)
    return "; ".join(parts)
