"""Speed of the demo generator: the full incident and the streaming drain writer.

Prints the median of ``--runs`` runs, wall-clock and CPU time (the CPU figure is the one to
compare on a shared machine), and the writer's ratio against the naive way of producing the same
lines — ``json.dumps`` of a dict per record — measured in the same process.

    .venv/bin/python benchmarks/bench_generator.py [--events 100000] [--lines 500000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from irkit import demo


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def naive_writer(path: Path, source: Path, n: int) -> float:
    """Baseline: the same records re-serialised one ``json.dumps`` at a time."""
    with open(source) as fh:
        records = [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    wall = time.perf_counter()
    with open(path, "w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    return time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="irkit-bench-demo-") as tmp:
        out = Path(tmp)
        gen = median([timed(lambda: demo.generate(out / "inc", seed=0, events=args.events))
                      for _ in range(args.runs)])
        print(f"generate(events={args.events:,}): wall {gen[0]:.2f} s, cpu {gen[1]:.2f} s")
        big = out / "big.ndjson"
        write = median([timed(lambda: demo.write_drain_ndjson(big, args.lines, seed=0))
                        for _ in range(args.runs)])
        print(f"write_drain_ndjson({args.lines:,}): wall {write[0]:.2f} s "
              f"({args.lines / write[0]:,.0f} rec/s), cpu {write[1]:.2f} s "
              f"({args.lines / write[1]:,.0f} rec/s)")
        sample = min(args.lines, 100_000)
        naive = statistics.median(naive_writer(out / "naive.ndjson", big, sample)
                                  for _ in range(args.runs))
        ours = write[0] * sample / args.lines
        print(f"json.dumps per record ({sample:,} lines): {sample / naive:,.0f} rec/s "
              f"(dumps only, parsing excluded); template writer is {naive / ours:.1f}x that")


if __name__ == "__main__":
    main()
