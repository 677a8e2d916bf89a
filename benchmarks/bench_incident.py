"""Benchmark: ``irkit demo`` end to end, and ``irkit open`` on 1M events; where the time goes.

Targets (2-core machine): demo (load, three templates executed, three HTML reports, manifest)
≤ 60 s; ``irkit open`` on 1,000,000 drain events ≤ 120 s.  Each case prints the wall time of the
whole run and of each stage (from the run's own timings), median of ``--repeat`` runs.  The
baseline, measured in the same process, is one papermill run of a one-cell notebook (kernel
start + papermill overhead): the template stage is reported as a multiple of it.

    .venv/bin/python benchmarks/bench_incident.py                 # demo (100k events), 3 runs
    .venv/bin/python benchmarks/bench_incident.py --big 1000000   # plus open on 1M events
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def baseline_papermill(tmp: Path) -> float:
    """Seconds for papermill to run a trivial notebook (kernel start + overhead)."""
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    src, out = tmp / "b.ipynb", tmp / "b-out.ipynb"
    nbformat.write(nb, src)
    t0 = time.perf_counter()
    pm.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False,
                        start_timeout=300)
    return time.perf_counter() - t0


def run_once(archive: Path, logs: list[Path], deployments: Path | None, metrics: Path | None,
             traces: Path | None, incident_id: str) -> dict[str, float]:
    from irkit.incident.runner import open_incident

    t0 = time.perf_counter()
    result = open_incident(incident_id, "SEV-2", logs=logs,
                           deployments=[deployments] if deployments else [],
                           metrics=[metrics] if metrics else [],
                           traces=[traces] if traces else [], archive=archive)
    total = time.perf_counter() - t0
    if not result.ok:
        raise SystemExit(f"run failed: {[t.error for t in result.templates if not t.ok]}")
    timings = dict(result.timings)
    timings["TOTAL (wall)"] = total
    for t in result.templates:
        timings[f"  {t.name}: execute"] = t.execute_s
        timings[f"  {t.name}: HTML"] = t.render_s
    return timings


def report(label: str, runs: list[dict[str, float]], target: float, base: float) -> None:
    merged: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for k, v in r.items():
            merged[k].append(v)
    print(f"\n== {label}: median of {len(runs)} run(s) ==")
    for key, values in merged.items():
        print(f"{key:<34} {statistics.median(values):8.2f} s")
    total = statistics.median(merged["TOTAL (wall)"])
    tmpl = statistics.median(merged["templates (parallel, wall)"])
    print(f"templates stage = {tmpl / base:.1f}x a bare papermill run ({base:.2f} s)")
    print(f"target ≤ {target:.0f} s: {'MET' if total <= target else 'NOT MET'} ({total:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="demo runs (0: skip the demo)")
    parser.add_argument("--events", type=int, default=100_000, help="demo size")
    parser.add_argument("--big", type=int, default=0, help="also open N streamed drain events")
    args = parser.parse_args()

    from irkit.demo import generate, write_drain_ndjson

    with tempfile.TemporaryDirectory(prefix="irkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        base = baseline_papermill(tmp)
        archive = tmp / "archive"
        runs = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            demo = generate(tmp / f"demo{i}", seed=i, events=args.events)
            gen_s = time.perf_counter() - t0
            timing = run_once(archive, list(demo.logs), demo.deployments, demo.metrics,
                              demo.traces, f"incident-2025-01-01-{i + 1:03d}")
            timing["generate demo (not in target)"] = gen_s
            runs.append(timing)
        if runs:
            report(f"irkit demo ({args.events:,} events)", runs, 60, base)

        if args.big:
            big = tmp / "big.ndjson"
            t0 = time.perf_counter()
            write_drain_ndjson(big, args.big, seed=7)
            print(f"\nwrote {args.big:,} events ({big.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.perf_counter() - t0:.1f} s")
            demo = generate(tmp / "bigdemo", seed=7, events=1000)
            timing = run_once(archive, [big], demo.deployments, None, None,
                              "incident-2025-01-02-001")
            report(f"irkit open ({args.big:,} events)", [timing], 120, base)


if __name__ == "__main__":
    main()
