"""Figures on N events: time per figure, total, and figure JSON size (the ≤ 1 MB target).

Usage: .venv/bin/python benchmarks/bench_plots.py [N_EVENTS] [RUNS]

Baseline in the same process: ``buckets.requests`` (the analytics aggregation every figure
starts from), so the ratio says what the figures add on top of it.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from viz_fixtures import ONSET, make_deployments, make_events

from irkit import plots
from irkit.analysis import buckets


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    deps = make_deployments()
    base, total, per = [], [], {}
    sizes: dict[str, int] = {}
    for run in range(runs):
        events = make_events(n, seed=run)  # a new frame: no cached aggregation
        t = time.perf_counter()
        buckets.requests(events)
        base.append(time.perf_counter() - t)
        events = events.copy()
        t0 = time.perf_counter()
        for name, build, args in (
            ("error_rate", plots.error_rate, (events, deps, ONSET)),
            ("status_mix", plots.status_mix, (events, deps, ONSET)),
            ("latency_bands", plots.latency_bands, (events, deps, ONSET)),
            ("latency_heatmap", plots.latency_heatmap, (events, deps, ONSET)),
            ("duration_histogram", plots.duration_histogram, (events, ONSET)),
        ):
            t = time.perf_counter()
            fig = build(*args)
            per.setdefault(name, []).append(time.perf_counter() - t)
            sizes[name] = plots.figure_bytes(fig)
        total.append(time.perf_counter() - t0)
    print(f"events: {n:,}  runs: {runs}")
    print(f"baseline buckets.requests: median {statistics.median(base):.2f} s")
    for name, values in per.items():
        print(f"  {name:20s} median {statistics.median(values):6.2f} s   "
              f"JSON {sizes[name] / 1024:7.1f} KiB")
    med = statistics.median(total)
    print(f"all five figures: median {med:.2f} s "
          f"({med / statistics.median(base):.2f}x one aggregation); "
          f"largest figure {max(sizes.values()) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
