"""The engines' pattern stage: all error lines in one pandas frame (the former path) against
streaming (observe shapes → fit once → assign batch by batch → per-pattern partials).

Input: ~1M-record hour-partitioned events — ``benchmarks/data/work/local-1000000/events`` when
``bench_scale.py`` left it there, else ``benchmarks/data/drain-1m.ndjson`` (or a generated
drain, ``irkit.demo.write_drain_ndjson``) loaded by the local engine into a temp folder.

Two views of it:

* ``errors``: the real error lines (~1 % of the generated drain: two stack-trace patterns);
* ``all-lines``: every record counted as an error line (1M lines, ~950 distinct messages,
  ~40 % without a message): the case where the error lines themselves outgrow memory.

Each (path, view) runs in a fresh child process: time (median of ``--runs``), and in a separate
run under ``tracemalloc`` the peak Python heap and the peak of pyarrow's memory pool (Arrow
buffers — pyarrow string columns — are not seen by tracemalloc).  DuckDB's own memory (its
buffer manager, capped by ``memory_limit``, spilling to disk) is in neither figure.  Both paths
must give the same table; the child checks the row count and the parent the ids and counts::

    .venv/bin/python benchmarks/bench_pattern_stream.py [--runs 3] [--records 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREBUILT = ROOT / "benchmarks" / "data" / "work" / "local-1000000" / "events"
DRAIN = ROOT / "benchmarks" / "data" / "drain-1m.ndjson"
VIEWS = {
    "errors": "SELECT * FROM {src}",
    "all-lines": "SELECT * REPLACE ('error' AS level) FROM {src}",
}
#: What each path read in ``findings_from_view``: the former one the REPORT-joined events, the
#: streaming one the events before the join (patterns read no duration).
SOURCES = {"old": "ev", "stream": "ev_raw"}

# The former reduction, kept here as the baseline: every error line (plus one stand-in row per
# deployment) comes into pandas in load order and ``patterns()`` runs on the whole frame.
_OLD_SQL = """
SELECT timestamp, level, message, status_code, route, deployment_id, crashed, method, path
FROM (
  SELECT *, 0 AS part, _seq AS ord FROM (
    SELECT timestamp, level, message, status_code, route, deployment_id, crashed, method, path,
           _seq FROM {view} WHERE level IN ('error', 'fatal'))
  UNION ALL
  SELECT min(timestamp), 'info', NULL, NULL, NULL, deployment_id, NULL, NULL, NULL, min(_seq),
         1, min(_seq) FROM {view} WHERE deployment_id IS NOT NULL GROUP BY deployment_id)
ORDER BY part, ord
"""


def _child(events_dir: str, path: str, view: str, trace: bool) -> dict:
    """One measurement in this (fresh) process."""
    import pyarrow as pa

    from irkit import schema
    from irkit.analysis import pattern_partials
    from irkit.analysis.patterns import patterns
    from irkit.engine import local, reduce
    from irkit.engine.partitions import open_partitions

    con = local.connect(memory_limit="2GB")
    local.events_view(con, open_partitions(events_dir))
    con.execute(f"CREATE TEMP VIEW v AS {VIEWS[view].format(src=SOURCES[path])}")
    if trace:
        import tracemalloc

        tracemalloc.start()
    t0 = time.perf_counter()
    if path == "old":
        lines = schema.conform(local.frame(con, _OLD_SQL.format(view="v")), "events")
        table = patterns(lines)
        held = len(lines)
        del lines
    else:
        partial = reduce.stream_patterns(con, "v")
        table = pattern_partials.table(partial)
        held = partial.size()
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "patterns": len(table), "held": held,
           "ids": table["pattern_id"].tolist()[:20], "counts": table["count"].tolist()[:20]}
    if trace:
        out["py_peak"] = tracemalloc.get_traced_memory()[1]
        out["arrow_peak"] = pa.default_memory_pool().max_memory()
    con.close()
    return out


def _run_child(events_dir: Path, path: str, view: str, trace: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(events_dir), path, view]
    if trace:
        cmd.append("--trace")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {path}/{view} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _events_dir(work: Path, records: int) -> Path:
    """Reuse bench_scale's 1M partitions when they open; else load a drain file."""
    from irkit.engine import get_engine
    from irkit.engine.partitions import open_partitions
    from irkit.errors import IrkitError

    if records == 1_000_000:
        try:
            open_partitions(PREBUILT)
            return PREBUILT
        except IrkitError:
            pass
    drain = DRAIN if records == 1_000_000 and DRAIN.exists() else None
    if drain is None:
        from irkit.demo import write_drain_ndjson

        drain = write_drain_ndjson(work / "drain.ndjson", records)
    t0 = time.perf_counter()
    parts, _ = get_engine("local").load([str(drain)], work / "events")
    print(f"loaded {parts.rows:,} records in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return parts.root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--views", nargs="+", default=list(VIEWS), choices=list(VIEWS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pattern-stream-") as tmp:
        events_dir = _events_dir(Path(tmp), args.records)
        print(f"events: {events_dir}")
        print(f"{'view':<10} {'path':<7} {'lines/held':>12} {'time (med)':>11} "
              f"{'py peak':>10} {'arrow peak':>11} {'patterns':>9}")
        for view in args.views:
            results = {}
            for path in ("old", "stream"):
                times = [_run_child(events_dir, path, view, False)["seconds"]
                         for _ in range(args.runs)]
                mem = _run_child(events_dir, path, view, True)
                results[path] = mem
                print(f"{view:<10} {path:<7} {mem['held']:>12,} {statistics.median(times):>10.2f}s "
                      f"{mem['py_peak'] / 2**20:>8.1f}MB {mem['arrow_peak'] / 2**20:>9.1f}MB "
                      f"{mem['patterns']:>9}")
            same = all(results["old"][k] == results["stream"][k]
                       for k in ("patterns", "ids", "counts"))
            print(f"{view:<10} same table (ids, counts): {same}")
            if not same:
                raise SystemExit("the streaming table differs from the in-memory one")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3], sys.argv[4], "--trace" in sys.argv)))
    else:
        main()
