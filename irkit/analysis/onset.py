"""When did errors start, and when did they stop?  (Also: when did latency start to degrade.)

Method, and why:

1. Reduce events to one row per request and count requests and errored requests per bucket
   (:mod:`irkit.analysis.buckets`).
2. **Change points** with ``ruptures`` over a **binomial cost** (the
   negative log-likelihood of the bucket error counts given the segment's error rate).  A cost on
   counts, not on the per-bucket rate, weighs each bucket by its traffic: a 1-of-2 minute at 3 am
   does not look like a 50 % outage.  The search is PELT (optimal, and it sees pulses that binary
   segmentation misses); the penalty per change point is ``log(T)`` (a BIC-style
   LR threshold, tuned so a 40-minute incident at 3 requests/minute is found) scaled by the
   measured over-dispersion of the counts (quasi-likelihood), so noisy-but-healthy services are
   not split.  Over 720 buckets, it segments a coarsened series and refines each change point.
3. **Confirmation** of the first upward change with an exact conditional binomial test of the
   errors before vs after (exact at any traffic) and a minimum effect (absolute and relative),
   so that an incident-free series yields ``None``.
4. **Recovery** is the first later change point after which the rate is back near the
   baseline (below baseline + 25 % of the rise).
5. When the error rate shows no incident, the per-bucket median latency is tested
   for a **step** or a **ramp** ("hinge": flat, then a linear rise) by weighted least squares,
   chosen by BIC — slow latency creep has no sharp change point, but it has a knee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import ruptures as rpt
from ruptures.base import BaseCost

from irkit.analysis import buckets, stats


@dataclass
class Onset:
    """The result of :func:`find_onset`.

    ``method`` names what found the onset (``"error-rate"``, ``"latency"``, or why nothing was
    found); ``detail`` carries the numbers behind it (rates before/during/after, p-value …).
    """

    onset: pd.Timestamp | None
    recovery: pd.Timestamp | None
    method: str
    detail: dict[str, Any] = field(default_factory=dict)


class BinomialCost(BaseCost):
    """Segment cost = −log-likelihood of ``errors ~ Binomial(requests, p̂)`` on the segment."""

    model = "binomial"
    min_size = 2

    def __init__(self) -> None:
        self.signal = np.zeros((0, 2))
        self._e = np.zeros(1)
        self._n = np.zeros(1)

    def fit(self, signal: np.ndarray) -> BinomialCost:
        signal = np.asarray(signal, dtype="float64")
        self.signal = signal
        self._e = np.concatenate([[0.0], np.cumsum(signal[:, 0])])
        self._n = np.concatenate([[0.0], np.cumsum(signal[:, 1])])
        return self

    def error(self, start: int, end: int) -> float:
        e = self._e[end] - self._e[start]
        n = self._n[end] - self._n[start]
        return -_loglik(e, n)


def _loglik(e: float, n: float) -> float:
    if n <= 0 or e <= 0 or e >= n:
        return 0.0
    p = e / n
    return e * math.log(p) + (n - e) * math.log1p(-p)


#: Blocks needed before the measured over-dispersion is believed.
MIN_DISPERSION_DOF = 10
#: Longest series segmented at full resolution; longer ones are segmented coarsened, then refined.
MAX_SEGMENT_BUCKETS = 720


def _segments(errors: np.ndarray, reqs: np.ndarray, pen: float) -> list[int]:
    """Segment ends (exclusive, last == T) of the penalised binomial segmentation (PELT).

    PELT, not binary segmentation: an incident is usually a *pulse* (up, then back down after
    the rollback), and binary segmentation's first single split of a pulse can gain too little
    to pass the penalty, at low traffic especially; PELT finds the optimal segmentation.
    """
    T = len(errors)
    if T < 4:
        return [T]
    k = math.ceil(T / MAX_SEGMENT_BUCKETS)
    if k > 1:
        cut = T // k * k
        ce = errors[:cut].reshape(-1, k).sum(1)
        cn = reqs[:cut].reshape(-1, k).sum(1)
        coarse = _pelt(ce, cn, pen)
        bkps = [_refine(errors, reqs, b * k, k) for b in coarse[:-1]]
        return [*sorted(set(bkps)), T]
    return _pelt(errors, reqs, pen)


def _pelt(errors: np.ndarray, reqs: np.ndarray, pen: float) -> list[int]:
    signal = np.column_stack([errors, reqs]).astype("float64")
    algo = rpt.Pelt(custom_cost=BinomialCost(), min_size=2, jump=1).fit(signal)
    return list(algo.predict(pen=pen))


def _refine(errors: np.ndarray, reqs: np.ndarray, at: int, k: int) -> int:
    """Best single split within ``at ± k`` buckets, judged on ``2k`` buckets either side."""
    lo, hi = max(0, at - 2 * k), min(len(errors), at + 2 * k)
    cost = BinomialCost().fit(np.column_stack([errors[lo:hi], reqs[lo:hi]]))
    candidates = range(max(1, at - k - lo), min(hi - lo - 1, at + k - lo) + 1)
    best = min(candidates, key=lambda b: cost.error(0, b) + cost.error(b, hi - lo), default=at - lo)
    return lo + best


def _dispersion(errors: np.ndarray, reqs: np.ndarray, bkps: list[int]) -> float:
    """Pearson over-dispersion of error counts around their segment's rate (≥ 1).

    Buckets are pooled into blocks expecting at least 5 errors first: with a handful of
    requests per bucket the per-bucket Pearson statistic is dominated by single errors and
    would call a perfectly binomial series "noisy".
    """
    chi2, dof = 0.0, 0
    start = 0
    for end in bkps:
        e, n = errors[start:end], reqs[start:end]
        p = e.sum() / n.sum() if n.sum() > 0 else 0.0
        start = end
        if not 0 < p < 1:
            continue
        block = max(1, math.ceil(5.0 / max(p * n.mean(), 1e-9)))
        if block > len(e) // 2:
            continue
        cut = len(e) // block * block
        eb = e[:cut].reshape(-1, block).sum(1)
        nb = n[:cut].reshape(-1, block).sum(1)
        var = nb * p * (1 - p)
        ok = var > 0
        chi2 += float((((eb - nb * p) ** 2)[ok] / var[ok]).sum())
        dof += int(ok.sum()) - 1
    # too few blocks to measure noise: trust the binomial model (the exact test still guards)
    return max(1.0, chi2 / dof) if dof >= MIN_DISPERSION_DOF else 1.0


def error_segments(counts: pd.DataFrame, *, penalty: float = 1.0) -> pd.DataFrame:
    """The error-rate series cut into constant-rate segments (start, end, requests, errors, rate).

    Exposed for plots and the explorer, so they can shade the same segments the onset used.
    """
    errors = counts["errors"].to_numpy("float64")
    reqs = counts["requests"].to_numpy("float64")
    T = len(errors)
    base_pen = penalty * max(math.log(max(T, 2)), 1.0)
    bkps = _segments(errors, reqs, base_pen)
    for _ in range(2):  # re-run with the penalty inflated by the observed over-dispersion
        phi = _dispersion(errors, reqs, bkps)
        if phi <= 1.5:
            break
        bkps = _segments(errors, reqs, base_pen * phi)
    rows = []
    start = 0
    index = counts.index
    for end in bkps:
        n = int(reqs[start:end].sum())
        e = int(errors[start:end].sum())
        rows.append({"start": index[start], "end": index[end - 1] + _step(index),
                     "first": start, "last": end, "requests": n, "errors": e,
                     "rate": e / n if n else 0.0})
        start = end
    return pd.DataFrame(rows)


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    return pd.Timedelta(index.freq) if index.freq is not None else pd.Timedelta(minutes=1)


def find_onset(events: pd.DataFrame, *, freq: str | None = "1min", penalty: float = 1.0,
               min_abs: float = 0.01, min_ratio: float = 2.0, alpha: float = 1e-3,
               latency: bool = True) -> Onset:
    """Find when the error rate left its baseline (and when it came back).

    ``freq=None`` picks a bucket width from the time span (:func:`buckets.auto_freq`).
    ``min_abs`` (absolute rise of the error rate) and ``min_ratio`` (relative rise) are the
    minimum effect: a statistically significant rise from 0.10 % to 0.15 % is not an incident.
    When errors show nothing and ``latency`` is true, falls back to a latency onset.
    """
    reqs = buckets.requests(events)
    if len(reqs) == 0:
        return Onset(None, None, "no requests", {})
    if freq is None:
        freq = buckets.auto_freq(reqs["timestamp"].iloc[0], reqs["timestamp"].iloc[-1])
    counts = buckets.counts(reqs, freq)
    result = _error_onset(counts, penalty=penalty, min_abs=min_abs, min_ratio=min_ratio,
                          alpha=alpha)
    if result.onset is None and latency:
        lat = latency_onset(reqs, freq=freq)
        if lat.onset is not None:
            lat.detail["error_rate"] = result.method
            return lat
    return result


def _error_onset(counts: pd.DataFrame, *, penalty: float, min_abs: float, min_ratio: float,
                 alpha: float) -> Onset:
    total_errors = int(counts["errors"].sum())
    if total_errors == 0:
        return Onset(None, None, "no errors", {"requests": int(counts["requests"].sum())})
    segs = error_segments(counts, penalty=penalty)
    if len(segs) < 2:
        return Onset(None, None, "no change in error rate",
                     {"rate": float(segs["rate"].iloc[0]), "segments": 1})
    for i in range(1, len(segs)):
        before = segs.iloc[:i]
        # baseline: the segments before this one, as one (the pre-incident state)
        n_b, e_b = int(before["requests"].sum()), int(before["errors"].sum())
        seg = segs.iloc[i]
        rate_b = e_b / n_b if n_b else 0.0
        rate_a = float(seg["rate"])
        if rate_a - rate_b < min_abs or rate_a < min_ratio * rate_b:
            continue
        # confirm: the baseline segments (homogeneous by construction) against this one
        p = stats.rate_increase_pvalue(e_b, n_b, int(seg["errors"]), int(seg["requests"]))
        if p > alpha:
            continue
        recovery, rate_after = _recovery(segs, i, rate_b)
        detail = {
            "freq": str(counts.index.freq.freqstr if counts.index.freq else ""),
            "baseline_rate": rate_b, "incident_rate": rate_a, "after_rate": rate_after,
            "p_value": p, "segments": len(segs),
        }
        return Onset(pd.Timestamp(seg["start"]), recovery, "error-rate", detail)
    return Onset(None, None, "no significant rise in error rate",
                 {"segments": len(segs), "rates": [float(r) for r in segs["rate"]]})


def _recovery(segs: pd.DataFrame, i: int, baseline: float) -> tuple[pd.Timestamp | None,
                                                                      float | None]:
    peak = float(segs["rate"].iloc[i])
    threshold = baseline + 0.25 * (peak - baseline)
    for j in range(i + 1, len(segs)):
        rate = float(segs["rate"].iloc[j])
        peak = max(peak, rate)
        threshold = baseline + 0.25 * (peak - baseline)
        if rate <= threshold:
            return pd.Timestamp(segs["start"].iloc[j]), rate
    return None, None


def latency_onset(reqs: pd.DataFrame, *, freq: str = "1min", min_rise: float = 0.2) -> Onset:
    """Knee or step in the per-bucket median latency (log scale), or None.

    ``reqs`` is :func:`buckets.requests`' table.  Fits constant, step and hinge (flat then
    linear) models by weighted least squares on log(median duration) and keeps the best by BIC;
    the change must raise latency by at least ``min_rise`` (20 %) to count.
    """
    dur = reqs[["timestamp", "duration_ms"]].dropna()
    dur = dur[dur["duration_ms"] > 0]
    if len(dur) < 20:
        return Onset(None, None, "no durations", {})
    key = buckets.floor(dur["timestamp"], freq)
    g = dur["duration_ms"].groupby(key)
    med = g.median()
    n = g.size().astype("float64")
    if len(med) < 8:
        return Onset(None, None, "too few latency buckets", {})
    level = float(med.median())
    y = med.to_numpy("float64") / level  # linear scale: a creep is linear in milliseconds
    w = n.to_numpy("float64")
    t = (med.index - med.index[0]).total_seconds().to_numpy() / 60.0
    T = len(y)
    # weighted residual variance of each model; sigma² from the constant model's neighbours
    wsum = w.sum()
    mean = (w * y).sum() / wsum
    rss0 = float((w * (y - mean) ** 2).sum())

    # step: split at k (first bucket of the new level), k in [2, T-2]
    cw, cwy, cwy2 = np.cumsum(w), np.cumsum(w * y), np.cumsum(w * y * y)
    ks = np.arange(2, T - 1)
    w1, s1, q1 = cw[ks - 1], cwy[ks - 1], cwy2[ks - 1]
    w2, s2, q2 = wsum - w1, cwy[-1] - s1, cwy2[-1] - q1
    rss_step = (q1 - s1 ** 2 / w1) + (q2 - s2 ** 2 / w2)
    k_step = int(ks[np.argmin(rss_step)])
    step_before = s1[k_step - 2] / w1[k_step - 2]
    step_rise = (s2[k_step - 2] / w2[k_step - 2]) / step_before - 1

    # hinge: y = a + b * max(0, t - tau), tau at bucket starts 1..T-3
    taus = t[1:T - 2]
    X = np.maximum(0.0, t[None, :] - taus[:, None])            # (K, T)
    sw, sx, sxx = wsum, (w * X).sum(1), (w * X * X).sum(1)
    sy, sxy = (w * y).sum(), (w * X * y).sum(1)
    det = sw * sxx - sx ** 2
    b = np.where(det > 0, (sw * sxy - sx * sy) / np.where(det > 0, det, 1), 0.0)
    a = (sy - b * sx) / sw
    resid = y[None, :] - a[:, None] - b[:, None] * X
    rss_hinge = (w * resid ** 2).sum(1)
    h = int(np.argmin(rss_hinge))
    hinge_rise = float(b[h] * (t[-1] - taus[h]) / a[h]) if a[h] > 0 else 0.0

    def bic(rss: float, params: int) -> float:
        return T * math.log(max(rss, 1e-12) / wsum) + params * math.log(T)

    scores = {"none": bic(rss0, 1), "step": bic(float(rss_step.min()), 3),
              "ramp": bic(float(rss_hinge[h]), 3)}
    best = min(scores, key=lambda m: scores[m])
    if best == "none":
        return Onset(None, None, "no change in latency", {"bic": scores})
    rise = step_rise if best == "step" else hinge_rise
    if rise < min_rise:
        return Onset(None, None, "latency change below minimum effect",
                     {"bic": scores, "rise": rise})
    at = med.index[k_step] if best == "step" else med.index[0] + pd.Timedelta(minutes=taus[h])
    detail = {"shape": best, "bic": scores, "rise": rise, "median_ms": level}
    return Onset(pd.Timestamp(at).floor(freq), None, "latency", detail)
