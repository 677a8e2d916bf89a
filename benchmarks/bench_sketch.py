"""Percentiles of many durations: exact vs DDSketch, in numpy and in DuckDB over Parquet.

Usage::

    .venv/bin/python benchmarks/bench_sketch.py [--n 10000000] [--parts 10] [--runs 3]

Input: ``n`` lognormal durations (median ~55 ms, long tail) in ``parts`` Parquet files under a
temp folder, with a ``route`` key (8 routes, skewed).  Each method runs ``runs`` times in a
fresh child process (``--child``) so its peak RSS (``ru_maxrss``, native DuckDB memory
included) is its own; the figure printed is the median time and the largest peak RSS, plus
the child's RSS right after imports (baseline).  Error: the largest relative difference of
p50/p95/p99 (overall and per route) from numpy's exact values.

Methods:

* ``numpy-exact``   – read the column into numpy, ``np.quantile`` (today's path);
* ``numpy-sketch``  – read the column, :func:`irkit.analysis.sketch.sketch_from_values`;
* ``duckdb-exact``  – ``quantile_cont`` in DuckDB over the Parquet files (values buffered
  inside DuckDB);
* ``duckdb-sketch`` – :func:`irkit.analysis.sketch.sql_group_percentiles` with ``limit=0``:
  bucket counts in SQL, only ``(route, sign, bucket, n)`` rows leave DuckDB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("numpy-exact", "numpy-sketch", "duckdb-exact", "duckdb-sketch")
ROUTES = ["/api/checkout", "/api/cart", "/", "/api/search", "/products/[id]", "/login",
          "/api/webhook", "/robots.txt"]


def make_input(folder: Path, n: int, parts: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(8)
    weights = np.array([30, 20, 15, 12, 10, 7, 5, 1], dtype=float)
    per = -(-n // parts)
    for i in range(parts):
        m = min(per, n - i * per)
        if m <= 0:
            break
        route = rng.choice(len(ROUTES), m, p=weights / weights.sum())
        dur = rng.lognormal(4.0 + 0.15 * route, 1.1, m)
        pq.write_table(pa.table({"route": pa.array(np.array(ROUTES)[route]),
                                 "duration_ms": dur}), folder / f"part-{i:03d}.parquet")


def child(method: str, folder: Path) -> dict:
    import duckdb
    import numpy as np
    import pyarrow.parquet as pq

    from irkit.analysis import sketch as sk

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    glob = str(folder / "part-*.parquet")
    qs = list(sk.QUANTILES.values())
    t0 = time.perf_counter()
    result: dict[str, list[float]] = {}
    if method.startswith("numpy"):
        table = pq.read_table(folder, columns=["route", "duration_ms"])
        values = table["duration_ms"].to_numpy()
        routes = table["route"].to_numpy(zero_copy_only=False)
        del table
        if method == "numpy-exact":
            result["*"] = list(np.quantile(values, qs))
            for r in ROUTES:
                result[r] = list(np.quantile(values[routes == r], qs))
        else:
            result["*"] = sk.sketch_quantiles(sk.sketch_from_values(values), qs)
            for r in ROUTES:
                result[r] = sk.sketch_quantiles(sk.sketch_from_values(values[routes == r]), qs)
    else:
        con = duckdb.connect()
        rel = f"read_parquet('{glob}')"
        limit = 10**12 if method == "duckdb-exact" else 0
        whole = sk.sql_group_percentiles(con, rel, "duration_ms", limit=limit)
        by = sk.sql_group_percentiles(con, rel, "duration_ms", ["route"], limit=limit)
        result["*"] = whole[list(sk.QUANTILES)].iloc[0].tolist()
        for r in ROUTES:
            result[r] = by.loc[r, list(sk.QUANTILES)].tolist()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "seconds": seconds, "peak_mb": peak, "base_mb": base,
            "result": result}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "FOLDER"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-sketch-") as tmp:
        folder = Path(tmp)
        make_input(folder, args.n, args.parts)
        print(f"{args.n:,} durations in {args.parts} Parquet files; median of {args.runs} runs")
        runs: dict[str, list[dict]] = {}
        for _ in range(args.runs):
            for m in METHODS:
                out = subprocess.run([sys.executable, __file__, "--child", m, str(folder)],
                                     check=True, capture_output=True, text=True).stdout
                runs.setdefault(m, []).append(json.loads(out.strip().splitlines()[-1]))
        exact = runs["numpy-exact"][0]["result"]
        ref = statistics.median(r["seconds"] for r in runs["numpy-exact"])
        print(f"{'method':<14} {'time':>8} {'vs numpy':>9} {'peak RSS':>9} {'baseline':>9} "
              f"{'max rel err':>12}")
        for m in METHODS:
            sec = statistics.median(r["seconds"] for r in runs[m])
            peak = max(r["peak_mb"] for r in runs[m])
            base = statistics.median(r["base_mb"] for r in runs[m])
            got = runs[m][0]["result"]
            err = max(abs(g - e) / e for k in exact for g, e in zip(got[k], exact[k],
                                                                    strict=True))
            print(f"{m:<14} {sec:>7.2f}s {ref / sec:>8.2f}x {peak:>7.0f}MB {base:>7.0f}MB "
                  f"{err:>12.2e}")


if __name__ == "__main__":
    main()
