"""Out-of-core engine at scale: load throughput, findings time and peak RSS, 1M vs 10M records.

Usage::

    .venv/bin/python benchmarks/bench_scale.py --sizes 1000000 10000000 [--engine dask]

Drain NDJSON is generated with ``irkit.demo.write_drain_ndjson`` into ``benchmarks/data/``
(gitignored; ~870 bytes a record, so 10M ≈ 8.7 GB — check ``df -h`` first).  Each size runs in
a fresh child process (``--child``) so its peak RSS (``ru_maxrss`` of the child, which includes
DuckDB's native memory) is its own.  Prints one line per size and the RSS growth ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def ensure_input(n: int) -> Path:
    from irkit.demo import write_drain_ndjson

    name = f"drain-{n // 1_000_000}m.ndjson" if n >= 1_000_000 else f"drain-{n}.ndjson"
    path = DATA / name
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        write_drain_ndjson(path, n, seed=1 if n < 10_000_000 else 2)
    return path


def child(path: Path, work: Path, engine_name: str, scheduler: str | None,
          memory_limit: str | None, load_only: bool) -> dict:
    from irkit.engine import get_engine

    cluster = None
    if engine_name == "dask" and not scheduler:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, memory_limit="2GB")
        scheduler = cluster.scheduler_address
    engine = get_engine(engine_name, scheduler=scheduler, memory_limit=memory_limit)
    t0 = time.perf_counter()
    parts, loads = engine.load([str(path)], work / "events")
    t_load = time.perf_counter() - t0
    if load_only:
        engine.close()
        return {"rows": parts.rows, "load_s": t_load, "findings_s": 0.0,
                "rows_per_s": parts.rows / t_load,
                "parquet_bytes": sum(p.stat().st_size for p in parts.files())}
    t0 = time.perf_counter()
    findings = engine.findings(parts, incident_id="BENCH", severity="SEV3", deployments=None,
                               metrics=None, rejected_count=sum(f.rejected for f in loads))
    t_find = time.perf_counter() - t0
    engine.close()
    if cluster is not None:
        cluster.close()
    findings.pop("generated_at")
    (work / "findings.json").write_text(json.dumps(findings, sort_keys=True))
    return {"rows": parts.rows, "load_s": t_load, "findings_s": t_find,
            "rows_per_s": parts.rows / t_load,
            "parquet_bytes": sum(p.stat().st_size for p in parts.files())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--engine", default="local")
    ap.add_argument("--scheduler")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--work", default=str(DATA / "work"))
    ap.add_argument("--load-only", action="store_true",
                    help="stop after the partitioned load (the findings stage is not bounded)")
    ap.add_argument("--child", nargs=2, metavar=("INPUT", "WORK"))
    args = ap.parse_args()
    if args.child:
        out = child(Path(args.child[0]), Path(args.child[1]), args.engine, args.scheduler,
                    args.memory_limit, args.load_only)
        print(json.dumps(out))
        return
    rss = {}
    for n in args.sizes:
        path = ensure_input(n)
        work = Path(args.work) / f"{args.engine}-{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--engine", args.engine,
                               "--memory-limit", args.memory_limit,
                               *(["--scheduler", args.scheduler] if args.scheduler else []),
                               *(["--load-only"] if args.load_only else []),
                               "--child", str(path), str(work)],
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-3000:])
            raise SystemExit(proc.returncode)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        # ru_maxrss of children is the max over all waited children: sizes run smallest first
        rss[n] = max(peak, before) / 1024
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{args.engine} {n:>11,} records: load {res['load_s']:.1f} s "
              f"({res['rows_per_s']:,.0f} rec/s), findings {res['findings_s']:.1f} s, "
              f"wall {wall:.1f} s, peak RSS {rss[n]:,.0f} MB, "
              f"parquet {res['parquet_bytes'] / 1e9:.2f} GB", flush=True)
    if len(rss) > 1:
        lo, hi = min(rss), max(rss)
        print(f"peak RSS growth {lo:,} → {hi:,} records: {rss[hi] / rss[lo] - 1:+.0%}")


if __name__ == "__main__":
    main()
