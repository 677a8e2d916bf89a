"""The pattern engine: grouping as a person would, stable ids, stack traces, rules, edge sizes."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

import irkit
from irkit import schema
from irkit.analysis import stacktrace
from irkit.analysis.grouping import group_messages
from irkit.analysis.overrides import load_rules
from irkit.errors import IrkitError

CORPUS = Path(__file__).parent / "data" / "patterns" / "vercel_corpus.jsonl"


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def _partition(keys: list[str]) -> set[frozenset[int]]:
    groups: dict[str, set[int]] = defaultdict(set)
    for i, k in enumerate(keys):
        groups[k].add(i)
    return {frozenset(g) for g in groups.values()}


def test_corpus_is_big_enough() -> None:
    rows = _corpus()
    assert len(rows) >= 200
    assert len({r["label"] for r in rows}) >= 30


def test_vercel_corpus_groups_as_labelled() -> None:
    rows = _corpus()
    ids = irkit.pattern_ids([r["message"] for r in rows])
    assert _partition(ids) == _partition([r["label"] for r in rows])


def test_templates_mark_variables_and_keep_constants() -> None:
    rows = _corpus()
    grouping = group_messages([r["message"] for r in rows])
    by_label = {r["label"]: t for r, t in zip(rows, grouping.per_line_templates(), strict=True)}
    assert by_label["etimedout"] == "Error: connect ETIMEDOUT <*>"
    assert by_label["session_expired"] == "[auth] Session expired for user <*>"
    assert by_label["undefined_id"].endswith("(reading 'id')")
    assert by_label["deployment_not_ready"] == "Deployment <*> is not ready"
    assert by_label["invocation_timeout"] == "FUNCTION_INVOCATION_TIMEOUT <*>"


def test_ids_stable_across_runs_and_orders() -> None:
    msgs = [r["message"] for r in _corpus()]
    first = dict(zip(msgs, irkit.pattern_ids(msgs), strict=True))
    shuffled = msgs[:]
    random.Random(3).shuffle(shuffled)
    second = dict(zip(shuffled, irkit.pattern_ids(shuffled), strict=True))
    assert first == second
    # and in a fresh interpreter (no hash randomisation effects)
    code = ("import json,sys,irkit; m=json.load(sys.stdin); "
            "print(json.dumps(irkit.pattern_ids(m)))")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(msgs),
                         capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert json.loads(out.stdout) == [first[m] for m in msgs]


def test_pattern_id_is_short_hash_of_template() -> None:
    ids = irkit.pattern_ids(["Error: connect ETIMEDOUT 10.0.0.1:5432"])
    assert len(ids[0]) == 10 and int(ids[0], 16) >= 0


def test_stack_traces_fingerprinted_not_raw() -> None:
    rows = [r for r in _corpus() if r["label"].startswith("trace_")]
    traces = [stacktrace.parse(r["message"]) for r in rows]
    assert all(t is not None for t in traces)
    node = next(t for t, r in zip(traces, rows, strict=True) if r["label"] == "trace_get_user")
    assert node.error_type == "TypeError"
    assert node.frames[0].startswith("getUser ")
    assert not any("node_modules" in f or "node:" in f for f in node.frames)
    assert not any(ch.isdigit() for f in node.frames for ch in f.split(":")[-1])


def test_same_error_different_top_frame_is_another_pattern() -> None:
    head = "TypeError: Cannot read properties of null (reading 'email')"
    a = f"{head}\n    at getUser (/var/task/.next/server/app/api/users/route.js:10:5)"
    b = f"{head}\n    at getUser (/var/task/.next/server/app/api/users/route.js:99:7)"
    c = f"{head}\n    at listUsers (/var/task/.next/server/app/api/admin/route.js:10:5)"
    ids = irkit.pattern_ids([a, b, c])
    assert ids[0] == ids[1] != ids[2]


def test_python_traceback() -> None:
    tb = ("Traceback (most recent call last):\n  File \"/var/task/api/x.py\", line 12, in run\n"
          "    go()\nValueError: bad value 42")
    parsed = stacktrace.parse(tb)
    assert parsed is not None
    assert parsed.error_type == "ValueError"
    assert parsed.message == "bad value <*>"
    assert parsed.frames == ("run api/x.py",)


def test_word_variables_grouped_with_few_lines() -> None:
    users = ["alice", "bob", "carol", "dave", "erin"]
    msgs = [f"session closed for user {u}" for u in users] + ["cache warmed"]
    ids = irkit.pattern_ids(msgs)
    assert len(set(ids[:5])) == 1 and ids[5] != ids[0]


def test_empty_one_line_and_huge_message() -> None:
    assert irkit.pattern_ids([]) == []
    assert len(irkit.pattern_ids(["only one"])) == 1
    huge = "x" * (1 << 20)
    ids = irkit.pattern_ids([huge, huge + "y", "short"])
    assert len(ids) == 3


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "irkit", "patterns", *args],
                          capture_output=True, text=True, input=stdin)


def test_cli_per_line_one_row_per_line_in_order(tmp_path: Path) -> None:
    lines = ["Error: connect ETIMEDOUT 10.0.0.1:5432", "", "   indented line 7",
             '{"level": "error", "message": "json-looking"}', "Error: connect ETIMEDOUT 10.9.9.9:1",
             "\t"]
    path = tmp_path / "msgs.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = _cli(str(path), "--text", "--per-line", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["line", "pattern_id", "template"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, len(lines) + 1))
    assert rows[1][1] == rows[5][1]
    assert rows[4][2] == "<*>"  # taken as text: the JSON fragment is masked, not parsed


def test_cli_empty_and_summary(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    proc = _cli(str(empty), "--text", "--per-line", "--format", "csv")
    assert proc.returncode == 0 and proc.stdout == "line,pattern_id,template\n"
    path = tmp_path / "m.txt"
    path.write_text("a 1\na 2\nb\n")
    out = json.loads(_cli(str(path), "--text", "--format", "json").stdout)
    assert [r["count"] for r in out] == [2, 1]


def test_cli_missing_file_is_one_line_error(tmp_path: Path) -> None:
    proc = _cli(str(tmp_path / "nope.txt"), "--text")
    assert proc.returncode == 2
    assert "nope.txt" in proc.stderr and "Traceback" not in proc.stderr


def test_rules_merge_split_and_masks(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[mask]]\nname = "plan"\nregex = \'plan-[a-z]+\'\n'
        '[[merge]]\ninto = "cache problem <*>"\nmatch = [\'^cache (miss|stale) \']\n'
        '[[split]]\ntemplate = "region down <*>"\nregex = \'region down (\\w+)\'\n')
    engine = load_rules(rules).engine()
    msgs = ["upgrade to plan-pro failed", "upgrade to plan-team failed",
            "cache miss 1", "cache stale 2",
            "region down iad", "region down sfo", "region down fra", "region down cdg"]
    g = group_messages(msgs, engine=engine)
    tpl = g.per_line_templates()
    assert tpl[0] == tpl[1] == "upgrade to <*> failed"
    assert tpl[2] == tpl[3] == "cache problem <*>"
    assert tpl[4] == "region down iad" and len(set(g.ids()[4:])) == 4


def test_bad_rules_file_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[merge]]\ninto = 'x'\nmatch = ['(']\n")
    with pytest.raises(IrkitError, match=r"bad\.toml"):
        load_rules(bad)


def test_new_since_deployment() -> None:
    t0 = pd.Timestamp("2026-03-01T10:00:00Z")
    rows = []
    for i in range(10):
        rows.append({"timestamp": t0 + pd.Timedelta(minutes=i), "level": "error",
                     "message": f"Error: connect ETIMEDOUT 10.0.0.{i}:5432",
                     "deployment_id": "dpl_old" if i < 5 else "dpl_new"})
    for i in range(4):
        rows.append({"timestamp": t0 + pd.Timedelta(minutes=6 + i), "level": "error",
                     "message": f"TypeError: x is undefined at row {i}",
                     "deployment_id": "dpl_new"})
    events = schema.conform(pd.DataFrame(rows))
    deps = schema.conform(pd.DataFrame({"deployment_id": ["dpl_old", "dpl_new"],
                                        "created": [t0 - pd.Timedelta(hours=1),
                                                    t0 + pd.Timedelta(minutes=5)]}),
                          "deployments")
    table = irkit.patterns(events, deployments=deps)
    by_tpl = table.set_index("template")
    assert pd.isna(by_tpl.loc["Error: connect ETIMEDOUT <*>", "new_since_deployment"])
    new = by_tpl.loc["TypeError: x is undefined at row <*>"]
    assert new["new_since_deployment"] == "dpl_new"
    assert new["deployments"] == {"dpl_new": 4}
    assert len(new["examples"]) == 3


def test_cli_on_loaded_drain_groups_error_events(tmp_path: Path) -> None:
    rows = [{"id": f"id{i}", "message": f"Error: connect ETIMEDOUT 10.0.0.{i}:5432",
             "timestamp": 1754300000000 + i * 60000, "type": "stdout", "source": "lambda",
             "projectId": "prj_x", "deploymentId": "dpl_a", "host": "x.vercel.app",
             "path": "/api/x", "level": "error" if i < 6 else "info"} for i in range(8)]
    path = tmp_path / "drain.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    proc = _cli(str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [(r["count"], r["template"]) for r in out] == [(6, "Error: connect ETIMEDOUT <*>")]
    assert out[0]["first_seen"].startswith("2025-08-04T")
