"""Cost of routing partition writes through ``Storage``: the same Parquet parts written by a bare
pathlib writer (temp file + ``os.replace``, what ``partitions.py`` did before fsspec) and by
``Storage.write_parquet`` on a local folder, in the same process, alternating, median of runs.

    .venv/bin/python benchmarks/bench_partition_write.py --records 400000 --runs 5

Prints seconds per method and the ratio Storage / pathlib (1.00 = no overhead).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _batches(records: int, tmp: Path) -> list[pa.Table]:
    """Canonical event batches as the loader makes them (200k rows each)."""
    from irkit.demo import write_drain_ndjson
    from irkit.engine.partitions import BATCH_ROWS
    from irkit.sources.base import Rejections
    from irkit.sources.drains import iter_event_tables

    src = write_drain_ndjson(tmp / "drain.ndjson", records)
    return list(iter_event_tables(src, BATCH_ROWS, Rejections(str(src))))


def _bare(table: pa.Table, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from irkit.engine.partitions import _arrow_schema
    from irkit.engine.storage import Storage

    tmp = Path(tempfile.mkdtemp(prefix="irkit-bench-write-"))
    schema = _arrow_schema()
    tables = []
    for b in _batches(args.records, tmp):  # the columns write_batch adds, so parts are real
        seq = pa.array(range(b.num_rows), pa.int64())
        tables.append(b.append_column("_seq", seq).select(schema.names).cast(schema))

    def bare(out: Path) -> None:
        for i, t in enumerate(tables):
            _bare(t, out / "hour=2026-01-01T00" / f"part-00000-{i:06d}.parquet")

    def storage(out: Path) -> None:
        store = Storage.of(out)
        for i, t in enumerate(tables):
            store.write_parquet(t, "hour=2026-01-01T00", f"part-00000-{i:06d}.parquet")

    times: dict[str, list[float]] = {"pathlib": [], "Storage": []}
    for run in range(args.runs):
        for name, fn in (("pathlib", bare), ("Storage", storage)):
            t0 = time.perf_counter()
            fn(tmp / f"{name}-{run}")
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = sum(t.num_rows for t in tables)
    for name, values in times.items():
        print(f"{name:8s} median {med[name]:.3f} s for {rows:,} rows in {len(tables)} parts "
              f"(runs: {', '.join(f'{v:.3f}' for v in values)})")
    print(f"ratio Storage / pathlib: {med['Storage'] / med['pathlib']:.2f}")


if __name__ == "__main__":
    main()
