"""Drain loaders: values, provenance, REPORT durations, both read paths, public API and CLI."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import irkit
from irkit import schema
from irkit.errors import InputFormatError
from irkit.sources import drains, load_report

DATA = Path(__file__).parent / "data" / "formats"
CURRENT = DATA / "drain_current.ndjson"
UTC = "UTC"


def ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz=UTC)


def test_current_schema_values() -> None:
    events = irkit.load(CURRENT)
    schema.validate(events)
    assert len(events) == 5
    first = events.iloc[0]
    assert first["timestamp"] == ts(1754300000123)
    assert str(events["timestamp"].dtype) == "datetime64[us, UTC]"
    assert first["level"] == "error" and first["source"] == "lambda" and first["type"] == "stderr"
    assert first["message"].count("\n") == 2  # stack trace kept whole in one row
    assert first["status_code"] == 500 and not first["crashed"]
    assert (first["method"], first["host"]) == ("POST", "shop.example.com")
    assert (first["path"], first["query"], first["route"]) == (
        "/api/orders/991", "expand=items", "/api/orders/[orderId]")
    assert first["client_ip"] == "198.51.100.23"
    assert first["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    assert (first["region"], first["execution_region"], first["cache"]) == ("fra1", "iad1", "MISS")
    assert first["request_id"] == "fra1::iad1::q7w8e-1754300000010-a1b2c3d4e5f6"
    assert first["trace_id"] == "4f1e9a0b2c3d4e5f60718293a4b5c6d7"
    assert first["deployment_id"] == "dpl_7Hq2kLmN3pQrStUvWxYz0123"
    assert (first["environment"], first["branch"]) == ("production", "main")
    assert first["bytes"] == 87 and first["waf_action"] == "log"
    assert first["ja4"].startswith("t13d") and first["ja3"].startswith("771,")
    assert list(events["origin_line"]) == [1, 2, 3, 4, 5]
    assert set(events["origin_file"]) == {str(CURRENT)}


def test_report_line_fills_request_duration_and_is_not_an_error() -> None:
    events = irkit.load(CURRENT)
    request = events[events["request_id"] == "fra1::iad1::q7w8e-1754300000010-a1b2c3d4e5f6"]
    assert list(request["duration_ms"]) == [118.42, 118.42]
    assert request.iloc[1]["level"] == "info"
    assert events.iloc[2:]["duration_ms"].isna().all()


def test_route_normalised_when_drain_has_no_pattern_and_user_agents_joined() -> None:
    row = irkit.load(CURRENT).iloc[2]
    assert row["path"] == "/products/6ba7b810-9dad-11d1-80b4-00c04fd430c8/reviews/42"
    assert row["route"] == "/products/[id]/reviews/[id]"
    assert pd.isna(row["query"])
    assert row["user_agent"] == "curl/8.5.0, extra-agent"
    assert row["cache"] == "HIT" and row["client_ip"] == "2001:db8::7"


def test_crashed_minus_one_and_inferred_level() -> None:
    row = irkit.load(CURRENT).iloc[3]
    assert bool(row["crashed"]) and pd.isna(row["status_code"])
    assert row["level"] == "error"  # no level given: stderr → error


def test_legacy_schema_and_exact_28_digit_ids() -> None:
    path = DATA / "drain_legacy.ndjson"
    events = irkit.load(path)
    schema.validate(events)
    assert events.attrs["irkit"]["files"][0]["format"] == "drain-ndjson"
    assert events.iloc[0]["duration_ms"] == 42.10
    assert events.iloc[0]["level"] == "info"
    assert events.iloc[0]["referer"] is pd.NA or pd.isna(events.iloc[0]["referer"])
    assert events.iloc[1]["source"] == "build" and pd.isna(events.iloc[1]["path"])


def test_json_array_gzip_and_spool_directory_agree(tmp_path: Path) -> None:
    delivery = irkit.load(DATA / "drain_delivery.json")
    assert delivery.attrs["irkit"]["files"][0]["format"] == "drain-json"
    assert list(delivery["origin_line"]) == [1, 2, 3]
    plain = irkit.load(CURRENT)
    packed = irkit.load(DATA / "drain_current.ndjson.gz")
    cols = [c for c in schema.EVENT_COLUMNS if c != "origin_file"]
    pd.testing.assert_frame_equal(plain[cols], packed[cols])
    spool = tmp_path / "spool"
    spool.mkdir()
    shutil.copy(CURRENT, spool / "a.ndjson")
    shutil.copy(DATA / "drain_delivery.json", spool / "b.json")
    (spool / ".partial").write_text("ignored hidden file")
    result = load_report(spool)
    assert [f.rows for f in result.files] == [5, 3]
    assert len(result.events) == 8


def test_fast_and_slow_paths_give_identical_tables(tmp_path: Path) -> None:
    fast = drains.read_ndjson(CURRENT)
    assert fast.report.rows == 5
    # a blank line forces the line-by-line path; values must not change, provenance shifts
    lines = CURRENT.read_text().splitlines()
    slow_file = tmp_path / "slow.ndjson"
    slow_file.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")
    slow = drains.read_ndjson(slow_file)
    assert list(slow.table["origin_line"]) == [1, 3, 4, 5, 6]
    cols = [c for c in schema.EVENT_COLUMNS if c not in ("origin_file", "origin_line")]
    pd.testing.assert_frame_equal(fast.table[cols], slow.table[cols])


@pytest.mark.parametrize("odd", [
    "", "  \t", "\r",                      # blank: the parser skips it silently
    '{"message":"a"} {"message":"b"}',     # two objects on one line
    '{"message":"a"}{"message":"b"}',
    '[{"message":"a"},{"message":"b"}]',   # an array of records on one line
    '{"message":',                         # an object cut across two lines …
])
def test_whole_file_check_catches_every_line_that_is_not_one_record(tmp_path: Path,
                                                                    odd: str) -> None:
    """The whole-file fast path only compares DuckDB's record count with the line count
    (:func:`irkit.sources.base.count_lines`): that is sound only if DuckDB raises on every
    non-blank line that is not exactly one object.  Each case must keep every later line's
    ``origin_line`` right."""
    lines = CURRENT.read_text().splitlines()
    extra = ['"b"}'] if odd == '{"message":' else []  # … the object's second half
    path = tmp_path / "odd.ndjson"
    path.write_text("\n".join([lines[0], odd, *extra, *lines[1:]]) + "\n")
    loaded = drains.read_ndjson(path)
    shift = 2 + len(extra)
    expected = [1, *(n + shift for n in range(1, len(lines)))]
    assert [n for n in loaded.table["origin_line"] if n in expected] == expected
    assert list(loaded.table["request_id"].iloc[[0, -1]]) == list(
        drains.read_ndjson(CURRENT).table["request_id"].iloc[[0, -1]])
    nonblank = {n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip()}
    covered = set(loaded.table["origin_line"]) | set(loaded.rejected["origin_line"])
    assert covered == nonblank  # an array line may make two rows: each line is accounted for


def test_batches_stream_the_same_rows(tmp_path: Path) -> None:
    whole = drains.read_ndjson(CURRENT).table
    batches = list(drains.iter_event_batches(CURRENT, batch_rows=2))
    joined = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(whole, joined)
    broken = tmp_path / "broken.ndjson"
    lines = CURRENT.read_text().splitlines()
    broken.write_text("\n".join([*lines[:3], "{oops", *lines[3:]]) + "\n")
    streamed = pd.concat(list(drains.iter_event_batches(broken, batch_rows=2)),
                         ignore_index=True)
    assert list(streamed["origin_line"]) == [1, 2, 3, 5, 6]


def test_unknown_format_and_wrong_kind_are_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not a log\nat all\n")
    with pytest.raises(InputFormatError, match=r"notes\.txt"):
        irkit.load(text)
    proc = subprocess.run([sys.executable, "-m", "irkit", "load", str(text)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "notes.txt" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_empty_file_is_zero_rows(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    events = irkit.load(empty)
    assert len(events) == 0 and events.attrs["irkit"]["files"][0]["format"] == "empty"
    schema.validate(events)
    packed = tmp_path / "empty.ndjson.gz"
    packed.write_bytes(gzip.compress(b"\n\n"))
    assert len(irkit.load(packed)) == 0


def test_cli_json_report_and_parquet_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    bad = tmp_path / "bad.ndjson"
    bad.write_text(CURRENT.read_text() + '{"truncated": \n')
    proc = subprocess.run([sys.executable, "-m", "irkit", "load", str(bad),
                           str(DATA / "drain_delivery.json"), "--json", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"rows", "rejected", "files"}
    assert report["rows"] == 8 and report["rejected"] == 1
    assert report["files"][0] == {"path": str(bad), "format": "drain-ndjson", "lines": 6,
                                  "rows": 5, "rejected": 1}
    assert set(report["files"][1]) == {"path", "format", "lines", "rows", "rejected"}
    back = pd.read_parquet(out)
    schema.validate(back)
    pd.testing.assert_frame_equal(back, irkit.load([bad, DATA / "drain_delivery.json"]))


def test_glob_characters_in_file_names_never_read_other_files(tmp_path: Path) -> None:
    decoy = tmp_path / "drain1.ndjson"
    decoy.write_text((CURRENT.read_text().splitlines()[0] + "\n") * 5)
    named = tmp_path / "drain[1].ndjson"
    shutil.copy(CURRENT, named)
    events = irkit.load(named)
    assert list(events["origin_line"]) == [1, 2, 3, 4, 5]
    assert events["message"].nunique() > 1  # not the decoy's five copies of one line


def test_level_normalisation_and_inference(tmp_path: Path) -> None:
    base = json.loads(CURRENT.read_text().splitlines()[2])  # static 200 row
    cases = [({"level": "WARN"}, "warning"), ({"level": "Critical"}, "fatal"),
             ({"level": "trace"}, "debug"), ({"level": "error"}, "error"),
             ({"type": "stderr"}, "error"), ({"statusCode": 503}, "error"),
             ({"level": "chatty"}, "info"), ({}, "info")]
    lines = []
    for change, _ in cases:
        record = {k: v for k, v in base.items() if k != "level"}
        record.update(change)
        lines.append(json.dumps(record))
    path = tmp_path / "levels.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert list(irkit.load(path)["level"]) == [want for _, want in cases]
