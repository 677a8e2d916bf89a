"""Throughput of ``irkit patterns --text --per-line --format csv`` against Drain3, whole process
against whole process (interpreter start, imports, read, mine, write the per-line CSV).

Inputs are built from the 8 Loghub-2k ``messages.txt`` files (``../shared/data/loghub-2k``):

* ``redigit``: 25 copies, the standalone numbers of each copy re-digited (400k lines);
* ``scale``: the same construction at 10k, 100k and 1M lines, to show cost per line stays flat;
* ``alldigits``: every digit of every line replaced at random (400k lines), the case where
  Drain's cluster count explodes.

Drain3 0.9.11 runs with the README's generic configuration (IPv4/hex/number masks, depth 4,
st 0.5, max_children 100, parametrize_numeric_tokens) and writes the same CSV.  Figures are the
median of ``--runs`` runs; the ratio is computed from runs made in the same process::

    .venv/bin/python benchmarks/bench_patterns.py [--runs 3] [--skip-drain] [--drain-alldigits]
        [--sizes 10000 ...]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "loghub-2k"
DATASETS = ["HDFS", "Hadoop", "BGL", "HPC", "Linux", "Apache", "OpenSSH", "Mac"]
PY = ROOT / ".venv" / "bin" / "python"
IRKIT = ROOT / ".venv" / "bin" / "irkit"

_STANDALONE = re.compile(r"(?<![A-Za-z0-9])\d+(?![A-Za-z0-9])")
_DIGIT = re.compile(r"\d")

DRAIN_SCRIPT = r'''
import csv, sys
from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig
cfg = TemplateMinerConfig()
cfg.masking_instructions = [
    MaskingInstruction(r"(\d{1,3}\.){3}\d{1,3}(:\d+)?", "*"),
    MaskingInstruction(r"\b0[xX][0-9a-fA-F]+\b", "*"),
    MaskingInstruction(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "*"),
    MaskingInstruction(r"(?<![A-Za-z])-?\d+(\.\d+)?(?![A-Za-z])", "*"),
]
cfg.mask_prefix = "<"
cfg.mask_suffix = ">"
cfg.drain_depth = 4
cfg.drain_sim_th = 0.5
cfg.drain_max_children = 100
cfg.drain_max_clusters = None
cfg.parametrize_numeric_tokens = True
cfg.profiling_enabled = False
miner = TemplateMiner(config=cfg)
with open(sys.argv[1], encoding="utf-8", newline="") as fh:
    lines = fh.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
ids = [miner.add_log_message(line)["cluster_id"] for line in lines]
clusters = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["line", "pattern_id", "template"])
for n, cid in enumerate(ids, 1):
    out.writerow([n, cid, clusters[cid]])
'''


def base_lines() -> list[str]:
    lines: list[str] = []
    for name in DATASETS:
        text = (DATA / name / "messages.txt").read_text(encoding="utf-8")
        lines.extend(text.split("\n")[:2000])
    return lines


def _redigit(line: str, rng: random.Random) -> str:
    return _STANDALONE.sub(lambda m: str(rng.randrange(10 ** len(m.group()))), line)


def build(path: Path, n_lines: int, mode: str, seed: int = 0) -> Path:
    """Write ``n_lines`` lines: copies of the Loghub messages, re-digited per copy."""
    rng = random.Random(seed)
    base = base_lines()
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        written = 0
        copy = 0
        while written < n_lines:
            chunk = base[: n_lines - written]
            if mode == "alldigits":
                out = [_DIGIT.sub(lambda _m: str(rng.randrange(10)), ln) for ln in chunk]
            elif copy == 0:
                out = chunk
            else:
                out = [_redigit(ln, rng) for ln in chunk]
            fh.write("\n".join(out))
            fh.write("\n")
            written += len(chunk)
            copy += 1
    return path


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def irkit_cmd(path: Path) -> list[str]:
    return [str(IRKIT), "patterns", str(path), "--text", "--per-line", "--format", "csv"]


def drain_cmd(path: Path, script: Path) -> list[str]:
    return [str(PY), str(script), str(path)]


def median_time(cmd: list[str], runs: int) -> float:
    return statistics.median(run(cmd) for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-drain", action="store_true")
    ap.add_argument("--drain-alldigits", action="store_true",
                    help="also time Drain3 on the all-digits file (minutes: its clusters explode)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"no data folder {DATA}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        script = tmpdir / "drain_generic.py"
        script.write_text(DRAIN_SCRIPT)
        print("## 400k lines, re-digited copies (whole process, median of "
              f"{args.runs})")
        f400 = build(tmpdir / "redigit_400k.txt", 400_000, "redigit")
        t_irkit = median_time(irkit_cmd(f400), args.runs)
        print(f"irkit : {t_irkit:6.2f} s  {400_000 / t_irkit / 1000:7.0f}k lines/s")
        if not args.skip_drain:
            t_drain = median_time(drain_cmd(f400, script), args.runs)
            print(f"drain3: {t_drain:6.2f} s  {400_000 / t_drain / 1000:7.0f}k lines/s")
            print(f"speed-up irkit vs drain3: {t_drain / t_irkit:.1f}x")
        print("\n## all digits vary (400k lines)")
        fall = build(tmpdir / "alldigits_400k.txt", 400_000, "alldigits")
        t_all = median_time(irkit_cmd(fall), args.runs)
        print(f"irkit : {t_all:6.2f} s  {400_000 / t_all / 1000:7.0f}k lines/s")
        if args.drain_alldigits:
            t_dall = run(drain_cmd(fall, script))
            print(f"drain3: {t_dall:6.2f} s  {400_000 / t_dall / 1000:7.0f}k lines/s (1 run)")
        print("\n## cost per line as input grows (re-digited copies)")
        t_empty = median_time(irkit_cmd(build(tmpdir / "one.txt", 1, "redigit")), args.runs)
        print(f"start-up (1 line): {t_empty:.2f} s")
        for n in args.sizes:
            f = build(tmpdir / f"redigit_{n}.txt", n, "redigit")
            t = median_time(irkit_cmd(f), args.runs)
            per = (t - t_empty) / n * 1e6
            print(f"{n:>9} lines: {t:6.2f} s  {per:6.2f} µs/line beyond start-up")
            f.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
