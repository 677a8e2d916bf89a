"""Grouping (GA), parsing (PA) and F1-grouping (FGA) accuracy of ``irkit patterns`` on Loghub-2k.

Definitions are those of ``../shared/data/loghub-2k/README.md``:

* GA: share of lines whose predicted group (same ``pattern_id``) holds exactly the lines of their
  truth group (same ``template``);
* FGA: harmonic mean of precision (truth groups found / predicted groups) and recall (truth groups
  found / truth groups), a truth group being found when one predicted group holds exactly its lines;
* PA: share of lines whose predicted template equals the true one after whitespace runs become one
  space and both ends are trimmed.

Each dataset is run through the real command line (``irkit patterns FILE --text --per-line
--format csv``) and its CSV is read back, so the figures are those of the shipped tool::

    .venv/bin/python benchmarks/loghub_eval.py [--data DIR] [--truth template|template_lh2]
        [--in-process] [--show-errors DATASET]
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "loghub-2k"
DATASETS = ["HDFS", "Hadoop", "BGL", "HPC", "Linux", "Apache", "OpenSSH", "Mac"]


def _norm(template: str) -> str:
    return " ".join(template.split())


def scores(truth: list[str], pred_ids: list[str], pred_templates: list[str]) -> dict[str, float]:
    """GA, PA and FGA of one dataset (lists aligned line by line)."""
    if not (len(truth) == len(pred_ids) == len(pred_templates)):
        raise ValueError(f"length mismatch: truth {len(truth)}, predicted {len(pred_ids)}")
    truth_groups: dict[str, set[int]] = defaultdict(set)
    pred_groups: dict[str, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, pred_ids, strict=True)):
        truth_groups[t].add(i)
        pred_groups[p].add(i)
    pred_sets = {frozenset(s) for s in pred_groups.values()}
    correct_lines = 0
    found = 0
    for lines in truth_groups.values():
        if frozenset(lines) in pred_sets:
            correct_lines += len(lines)
            found += 1
    n = len(truth)
    ga = correct_lines / n if n else 1.0
    precision = found / len(pred_groups) if pred_groups else 0.0
    recall = found / len(truth_groups) if truth_groups else 0.0
    fga = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pa = sum(_norm(t) == _norm(p) for t, p in zip(truth, pred_templates, strict=True)) / n
    return {"GA": ga, "PA": pa, "FGA": fga, "groups": len(pred_groups),
            "truth_groups": len(truth_groups)}


def read_truth(folder: Path, column: str) -> list[str]:
    with open(folder / "truth.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: int(r["line"]))
    return [r[column] for r in rows]


def predict_cli(messages: Path) -> tuple[list[str], list[str]]:
    """Run the command line and parse its per-line CSV."""
    irkit = ROOT / ".venv" / "bin" / "irkit"
    cmd = [str(irkit) if irkit.exists() else "irkit", "patterns", str(messages), "--text",
           "--per-line", "--format", "csv"]
    proc = subprocess.run(cmd, capture_output=True, check=True)
    return parse_per_line_csv(proc.stdout.decode("utf-8"))


def predict_in_process(messages: Path) -> tuple[list[str], list[str]]:
    """The same, without a subprocess (for quick iterations)."""
    from irkit.analysis.grouping import group_messages
    from irkit.cli.patterns import read_text_lines

    grouping = group_messages(read_text_lines(messages))
    return grouping.ids(), grouping.per_line_templates()


def parse_per_line_csv(text: str) -> tuple[list[str], list[str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames != ["line", "pattern_id", "template"]:
        raise ValueError(f"unexpected header {reader.fieldnames}")
    ids, templates = [], []
    for expected, row in enumerate(reader, 1):
        if int(row["line"]) != expected:
            raise ValueError(f"line {row['line']} out of order (expected {expected})")
        ids.append(row["pattern_id"])
        templates.append(_unneutralise(row["template"]))
    return ids, templates


def _unneutralise(template: str) -> str:
    """Undo the CSV formula guard: irkit writes a template that starts with ``= + - @`` (or tab,
    CR) with a leading ``'``, as spreadsheets do; a spreadsheet shows it without the quote."""
    if template[:1] == "'" and template[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return template[1:]
    return template


def show_errors(name: str, truth: list[str], ids: list[str], templates: list[str],
                messages: list[str], limit: int = 40) -> None:
    """Print the truth groups that were not found, and PA misses, for error analysis."""
    by_truth: dict[str, list[int]] = defaultdict(list)
    by_pred: dict[str, list[int]] = defaultdict(list)
    for i, (t, p) in enumerate(zip(truth, ids, strict=True)):
        by_truth[t].append(i)
        by_pred[p].append(i)
    shown = 0
    for t, lines in sorted(by_truth.items(), key=lambda kv: -len(kv[1])):
        preds = {ids[i] for i in lines}
        if len(preds) == 1 and len(by_pred[next(iter(preds))]) == len(lines):
            if _norm(templates[lines[0]]) != _norm(t):
                print(f"[PA  ] {len(lines):4d} truth: {t[:140]}\n"
                      f"            pred: {templates[lines[0]][:140]}")
            continue
        print(f"[GA  ] {len(lines):4d} truth: {t[:140]}")
        for p in sorted(preds):
            other = len(by_pred[p]) - sum(1 for i in by_pred[p] if truth[i] == t)
            i = next(i for i in lines if ids[i] == p)
            print(f"            -> {p} ({len(by_pred[p])} lines, {other} foreign) "
                  f"{templates[i][:110]!r}  e.g. {messages[i][:80]!r}")
        shown += 1
        if shown >= limit:
            break
    del name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--truth", default="template", choices=["template", "template_lh2"])
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--show-errors", metavar="DATASET")
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data folder {args.data}", file=sys.stderr)
        return 2
    predict = predict_in_process if args.in_process else predict_cli
    print("| Dataset | GA | PA | FGA | groups (truth) |\n|---|---|---|---|---|")
    totals = {"GA": 0.0, "PA": 0.0, "FGA": 0.0}
    for name in args.datasets:
        folder = args.data / name
        truth = read_truth(folder, args.truth)
        ids, templates = predict(folder / "messages.txt")
        s = scores(truth, ids, templates)
        for k in totals:
            totals[k] += s[k]
        print(f"| {name} | {s['GA']:.3f} | {s['PA']:.3f} | {s['FGA']:.3f} | "
              f"{s['groups']} ({s['truth_groups']}) |")
        if args.show_errors == name:
            msgs = (folder / "messages.txt").read_text(encoding="utf-8").split("\n")
            show_errors(name, truth, ids, templates, msgs)
    n = len(args.datasets)
    print(f"| **Average** | **{totals['GA'] / n:.3f}** | **{totals['PA'] / n:.3f}** | "
          f"**{totals['FGA'] / n:.3f}** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
