"""Memory of ``irkit open`` on a big incident: the whole process tree, sampled every 0.2 s.

Usage::

    .venv/bin/python benchmarks/bench_open_memory.py --records 200000 1000000 [--runs 3]
    .venv/bin/python benchmarks/bench_open_memory.py --records 200000 --checkout /tmp/before

Each run starts ``irkit open`` as a real subprocess on one generated drain NDJSON file
(``benchmarks/data/drain-1m.ndjson`` / ``drain-10m.ndjson`` when present, else written once by
``irkit.demo.write_drain_ndjson`` into ``benchmarks/data/``) plus a small demo deployments
file, and a psutil sampler sums, every 0.2 s, the RSS of the whole tree: ``irkit open``
itself, its template pool workers, the three notebook kernels and their helpers.  Printed per
size (median over ``--runs``): peak RSS of the tree, of ``irkit open`` alone, of the kernels
together and of the largest kernel, wall time, and the stage times ``irkit open --json``
reports.  Sampling every 0.2 s can miss a shorter spike.

``--checkout DIR`` runs the irkit source tree in ``DIR`` instead (e.g. an older commit unpacked
with ``git archive <commit> | tar -x -C DIR``), for before/after figures in one sitting.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

DATA = Path(__file__).resolve().parent / "data"
INCIDENT = "incident-2025-01-31-900"
SAMPLE_S = 0.2


def input_file(n: int) -> Path:
    """The drain file of ``n`` records (existing big files are reused, never regenerated)."""
    name = f"drain-{n // 1_000_000}m.ndjson" if n % 1_000_000 == 0 else f"drain-{n}.ndjson"
    path = DATA / name
    if not path.exists():
        if n >= 10_000_000:
            raise SystemExit(f"{path} is missing: generating 10M records here is not done "
                             "(see benchmarks/bench_scale.py)")
        from irkit.demo import write_drain_ndjson

        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + path.name)
        write_drain_ndjson(tmp, n, seed=1)
        tmp.rename(path)
    return path


def deployments_file() -> Path:
    """A small deployments file (``irkit open`` with logs alone stops at "no input files")."""
    path = DATA / "open-memory-side" / "deployments.json"
    if not path.exists():
        from irkit.demo import generate

        generate(path.parent, seed=1, events=500)
    return path


class TreeSampler(threading.Thread):
    """Peak RSS of a process tree, by role, sampled every ``SAMPLE_S`` seconds."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.peak = {"tree": 0, "irkit open": 0, "kernels": 0, "largest kernel": 0}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            tree = kernels = largest = own = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    kernel = proc is not self.root and any(
                        "ipykernel" in part for part in proc.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                tree += rss
                if proc is self.root:
                    own = rss
                elif kernel:
                    kernels += rss
                    largest = max(largest, rss)
            for key, value in (("tree", tree), ("irkit open", own), ("kernels", kernels),
                               ("largest kernel", largest)):
                self.peak[key] = max(self.peak[key], value)
            self.stop.wait(SAMPLE_S)


def run_once(drain: Path, work: Path, checkout: Path | None) -> dict:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout),
                                                          env.get("PYTHONPATH")]))
    archive = work / "archive"
    cmd = [sys.executable, "-m", "irkit", "open", INCIDENT, "--severity", "SEV-3",
           "--logs", str(drain), "--deployments", str(deployments_file()),
           "--archive", str(archive), "--json", "-q"]
    t0 = time.perf_counter()
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=work)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    if code != 0:
        tail = (work / "stderr").read_text(errors="replace")[-2000:]
        raise SystemExit(f"irkit open exited {code}:\n{tail}")
    result = json.loads((work / "stdout").read_text())
    if not result.get("ok"):
        raise SystemExit(f"a template failed: {result.get('templates')}")
    return {"wall_s": wall, **{k: v / 1e6 for k, v in sampler.peak.items()},
            "timings": result.get("timings", {})}


def _remove(path: Path) -> None:
    """Archived runs are read-only: make them writable again before removing them."""
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[200_000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--checkout", type=Path, default=None,
                        help="run the irkit source tree in this folder instead")
    args = parser.parse_args()
    label = f"checkout {args.checkout}" if args.checkout else "this tree"
    print(f"irkit open memory ({label}); load average {os.getloadavg()[0]:.1f}, "
          f"{psutil.cpu_count()} cores; peak RSS in MB, median of {args.runs} run(s)")
    for n in args.records:
        drain = input_file(n)
        results = []
        for _ in range(args.runs):
            work = Path(tempfile.mkdtemp(prefix="irkit-open-mem-"))
            try:
                results.append(run_once(drain, work, args.checkout))
            finally:
                _remove(work)
        med = {key: statistics.median(r[key] for r in results)
               for key in ("wall_s", "tree", "irkit open", "kernels", "largest kernel")}
        stages = {key: statistics.median(r["timings"].get(key, 0.0) for r in results)
                  for key in results[0]["timings"]}
        print(f"{n:>11,} records: tree {med['tree']:,.0f} · irkit open "
              f"{med['irkit open']:,.0f} · kernels {med['kernels']:,.0f} (largest "
              f"{med['largest kernel']:,.0f}) · wall {med['wall_s']:.1f} s")
        print("      stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))


if __name__ == "__main__":
    main()
