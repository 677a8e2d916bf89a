"""Run every benchmark once, in sequence, and print their figures (``make bench``).

Each benchmark is its own script with its own options (see its docstring); this runner calls
them as subprocesses with the sizes the README quotes, so a whole pass takes a while (about half
an hour on 2 cores). ``--quick`` uses small sizes for a smoke run; ``--only NAME`` runs a subset.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only load patterns ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "load": ("bench_load.py", ["--runs", "3"], ["--quick"]),
    "patterns": ("bench_patterns.py", ["--runs", "3"], ["--runs", "1", "--sizes", "10000"]),
    "loghub": ("loghub_eval.py", [], []),
    "analysis": ("bench_analysis.py", ["1000000", "3"], ["100000", "1"]),
    "plots": ("bench_plots.py", ["1000000", "2"], ["100000", "1"]),
    "generator": ("bench_generator.py", ["--runs", "3"],
                  ["--events", "20000", "--lines", "50000", "--runs", "1"]),
    "incident": ("bench_incident.py", ["--repeat", "1", "--big", "1000000"], ["--repeat", "1"]),
    "receive": ("bench_receive.py", ["--runs", "3"], ["--deliveries", "500", "--runs", "1"]),
    "scale": ("bench_scale.py", ["--sizes", "1000000"], ["--sizes", "200000"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    failed: list[str] = []
    for name in args.only or list(BENCHMARKS):
        script, full, quick = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"=== {name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
