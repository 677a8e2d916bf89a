"""All analyses and figures of the investigation template on N events (target: 1M in ≤ 20 s).

Usage: .venv/bin/python benchmarks/bench_analysis.py [N_EVENTS] [RUNS]

Each run gets a fresh events frame (no cached aggregation), then times what the investigation
template computes: ``compute_findings`` (onset, patterns, security, suspects, latency, impact,
timeline) and the figures it draws (error rate, status mix, latency bands, heatmap, histogram,
pattern sparklines, event timeline).  Baseline in the same process: ``buckets.requests``, the
one aggregation every analysis starts from, so the ratio says what the analyses add to it.
Prints the median of RUNS and a per-step breakdown of the last run.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from analytics_synth import make

from irkit.analysis import buckets, findings

MINUTES = 240
EVENTS_PER_REQUEST = 2.04  # edge row + REPORT row (+ an error line for failed requests)


def synth(n: int, seed: int):
    per_minute = n / EVENTS_PER_REQUEST / MINUTES
    return make(seed=seed, minutes=MINUTES, per_minute=per_minute, onset_min=150,
                recovery_min=190)


def investigation(events: Any, deployments: Any, steps: dict[str, float]) -> dict[str, Any]:
    """What the template runs, step by step (timed into ``steps``)."""
    from irkit import plots
    from irkit.analysis.patterns import pattern_series, patterns

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t
        return out

    inner: dict[str, float] = {}
    out = timed("findings", lambda: findings.compute_findings(
        incident_id="incident-2025-03-01-001", severity="SEV-2", events=events,
        deployments=deployments, metrics=None, rejected_count=0, timings=inner))
    steps.update({f"  findings/{k}": v for k, v in inner.items()})
    onset = out["error_onset"]
    timed("fig error_rate", lambda: plots.error_rate(events, deployments, onset))
    timed("fig status_mix", lambda: plots.status_mix(events, deployments, onset))
    timed("fig latency_bands", lambda: plots.latency_bands(events, deployments, onset))
    timed("fig latency_heatmap", lambda: plots.latency_heatmap(events, deployments, onset))
    timed("fig duration_histogram", lambda: plots.duration_histogram(events, onset))
    table = timed("patterns top 15", lambda: patterns(events, deployments=deployments, top=15))
    errors = events[events["level"].isin(["error", "fatal"])]
    series = timed("pattern_series", lambda: pattern_series(errors))
    timed("fig sparklines", lambda: plots.pattern_sparklines(table, series,
                                                             deployments=deployments))
    timed("fig event_timeline", lambda: plots.event_timeline(out["timeline"]))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    base, total = [], []
    steps: dict[str, float] = {}
    for run in range(runs):
        inc = synth(n, seed=run)
        events = inc.events
        t = time.perf_counter()
        buckets._requests(events)  # uncached baseline
        base.append(time.perf_counter() - t)
        steps = {}
        t = time.perf_counter()
        out = investigation(events, inc.deployments, steps)
        total.append(time.perf_counter() - t)
        print(f"run {run}: {len(events):,} events, requests baseline {base[-1]:.2f} s, "
              f"investigation {total[-1]:.2f} s, onset {out['error_onset']}", flush=True)
    med_base, med_total = statistics.median(base), statistics.median(total)
    print(f"\n{n:,} events: investigation median {med_total:.2f} s over {runs} runs "
          f"(target ≤ 20 s); requests aggregation {med_base:.2f} s; "
          f"ratio {med_total / med_base:.1f}x")
    print("breakdown of the last run:")
    for name, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24s} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
