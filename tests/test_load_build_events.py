"""Build/deployment events: the events API (JSON array and stream) and `vercel inspect --logs`."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from irkit import schema
from irkit.sources import load_report
from irkit.sources.build_events import KEEP_ALIVE
from irkit.sources.registry import detect

DATA = Path(__file__).parent / "data" / "formats"
ARRAY = DATA / "build_events_array.json"
STREAM = DATA / "build_events_stream.ndjson"
INSPECT = DATA / "build_events_inspect.txt"


def ms(value: int) -> pd.Timestamp:
    return pd.Timestamp(value, unit="ms", tz="UTC")


def accounted(result) -> None:
    """Every record is a row or a rejected record, and the tables are canonical."""
    schema.validate(result.events)
    schema.validate(result.rejected, "rejected")
    for report in result.files:
        assert report.rows + report.rejected == report.lines


def test_events_array_flat_events() -> None:
    result = load_report(ARRAY)
    assert [f.format for f in result.files] == ["build-events"]
    accounted(result)
    events = result.events.set_index("origin_line")
    assert len(events) == 11 and len(result.rejected) == 0
    first = events.loc[1]
    assert first["timestamp"] == ms(1754299000100)
    assert (first["source"], first["type"], first["level"]) == ("build", "stdout", "info")
    assert first["deployment_id"] == "dpl_7Hq2kLmN3pQrStUvWxYz0123"
    # ANSI codes and the trailing line end are gone, the rest of the text is kept
    assert events.loc[3, "message"] == "✓ Compiled successfully in 41s"
    assert events.loc[4, "level"] == "warning"  # the event's own level
    assert events.loc[5, "level"] == "error"  # stderr without a level
    assert events.loc[5, "message"].endswith("\n  at src/orders.ts:12:7")  # multi-line kept whole
    assert (events.loc[6, "type"], events.loc[6, "level"]) == ("fatal", "error")
    state = events.loc[7]
    assert (state["source"], state["level"]) == ("deployment", "error")
    assert state["message"] == "deployment state: ERROR"
    assert result.events["request_id"].notna().sum() == 1


def test_events_array_wrapped_request_event_uses_payload_proxy() -> None:
    events = load_report(ARRAY).events.set_index("origin_line")
    request = events.loc[8]
    # the payload's date (when it happened), not the wrapper's created
    assert request["timestamp"] == ms(1754300000010)
    assert (request["source"], request["type"]) == ("request", "request")
    assert request["status_code"] == 502 and request["level"] == "error"
    assert (request["method"], request["host"], request["path"], request["query"]) == (
        "POST", "shop.example.com", "/api/orders/991", "expand=items")
    assert request["route"] == "/api/orders/[id]"
    assert (request["client_ip"], request["region"], request["execution_region"]) == (
        "198.51.100.23", "fra1", "iad1")
    assert request["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    assert (request["cache"], request["bytes"]) == ("MISS", 87)
    assert request["request_id"] == "fra1::iad1::q7w8e-1754300000010-a1b2c3d4e5f6"
    assert request["deployment_id"] == "dpl_8Zx9yWv8uTs7rQp6oNm5lK43"
    assert pd.isna(request["message"])
    wrapped_log = events.loc[9]
    assert (wrapped_log["source"], wrapped_log["message"]) == ("lambda", "loading order 991")
    assert pd.isna(wrapped_log["path"]) and pd.isna(wrapped_log["route"])


def test_alias_assigned_events() -> None:
    events = load_report(ARRAY).events.set_index("origin_line")
    ok, failed = events.loc[10], events.loc[11]
    assert (ok["source"], ok["type"], ok["level"]) == ("deployment", "alias-assigned", "info")
    assert ok["message"] == "alias assigned: shop.example.com, www.shop.example.com"
    assert ok["timestamp"] == ms(1754300100000)
    assert failed["level"] == "error"
    assert "beta.shop.example.com" in failed["message"]
    assert "certificate not issued yet" in failed["message"]


def test_stream_keep_alives_and_bad_lines_are_rejected_records() -> None:
    result = load_report(STREAM)
    assert [f.format for f in result.files] == ["build-events-ndjson"]
    accounted(result)
    report = result.files[0]
    assert (report.lines, report.rows, report.rejected) == (8, 4, 4)  # the blank line is no record
    assert list(result.events["origin_line"]) == [1, 3, 6, 9]
    rejected = result.rejected.set_index("origin_line")
    assert rejected.loc[2, "reason"] == KEEP_ALIVE == rejected.loc[7, "reason"]
    assert rejected.loc[7, "raw"] == "{}"
    assert rejected.loc[5, "reason"].startswith("malformed JSON")
    assert "not a time" in rejected.loc[8, "reason"]
    events = result.events.set_index("origin_line")
    assert (events.loc[3, "message"], events.loc[3, "level"]) == ("npm ERR! code ERESOLVE",
                                                                  "error")
    assert events.loc[6, "timestamp"] == ms(1754299003000)  # wrapped: payload date
    assert events.loc[9, "message"] == "deployment state: READY"
    assert events.loc[9, "level"] == "info"


def test_record_of_the_wrong_shape_is_rejected_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    good = {"created": 1754299000100, "date": 1754299000100, "deploymentId": "dpl_x",
            "id": "e1", "serial": "1", "text": "ok", "type": "stdout"}
    path.write_text(json.dumps([good, {**good, "info": "not an object"}, "a string", 42]))
    result = load_report(path)
    accounted(result)
    assert len(result.events) == 1 and len(result.rejected) == 3
    assert "info" in result.rejected["reason"].iloc[0]


def test_inspect_logs_text() -> None:
    result = load_report(INSPECT)
    assert [f.format for f in result.files] == ["vercel-inspect-logs"]
    accounted(result)
    events = result.events.set_index("origin_line")
    assert set(events["source"]) == {"build"}
    assert events.loc[1, "timestamp"] == pd.Timestamp("2025-08-04T09:16:40.100Z")
    assert events.loc[1, "message"].startswith("Running build in")  # dim ANSI removed
    assert events.loc[5, "level"] == "warning"  # npm WARN, uncoloured
    assert events.loc[6, "level"] == events.loc[7, "level"] == "error"  # red
    assert events.loc[7, "message"] == "at src/orders.ts:12:7"  # one row per printed line
    assert events.loc[9, "level"] == "error"  # "exited with 1", uncoloured
    assert events.loc[10, "level"] == "info"
    assert list(result.rejected["origin_line"]) == [8]
    assert result.rejected["reason"].iloc[0] == "no leading ISO-8601 timestamp"


def test_inspect_sniffing_leaves_runtime_logs_text_alone(tmp_path: Path) -> None:
    # legacy `vercel logs` shares the layout, and may start with build lines: runtime
    # request lines in the head keep it the runtime format
    assert detect(DATA / "cli_legacy.txt").name == "vercel-logs-text"
    plain = tmp_path / "plain.txt"
    plain.write_text("2025-08-04T09:16:40.100Z  hello\n2025-08-04T09:16:41.100Z  world\n")
    assert detect(plain).name == "vercel-logs-text"  # no build marker: not build output
    assert detect(INSPECT).name == "vercel-inspect-logs"


def test_other_json_formats_are_not_taken_for_build_events() -> None:
    assert detect(DATA / "drain_delivery.json").name == "drain-json"
    assert detect(DATA / "drain_current.ndjson").name == "drain-ndjson"
    assert detect(DATA / "deployments_v6.json").name == "vercel-deployments"
    assert detect(DATA / "cli_runtime_logs.ndjson").name == "runtime-logs"


def test_gzipped_stream_and_state_only_array(tmp_path: Path) -> None:
    packed = tmp_path / "events.gz"
    packed.write_bytes(gzip.compress(STREAM.read_bytes()))
    assert len(load_report(packed).events) == 4
    states = tmp_path / "states.json"
    states.write_text(json.dumps([
        {"created": 1754299013100 + i, "date": 1754299013100 + i, "deploymentId": "dpl_s",
         "id": f"e{i}", "serial": str(i), "type": "deployment-state",
         "info": {"type": "deployment", "name": "dpl_s", "readyState": state}}
        for i, state in enumerate(["BUILDING", "READY"])]))
    result = load_report(states)
    assert result.files[0].format == "build-events"
    assert list(result.events["message"]) == ["deployment state: BUILDING",
                                              "deployment state: READY"]


@pytest.mark.parametrize("fixture", [ARRAY, STREAM, INSPECT], ids=lambda p: p.name)
def test_truncated_files_load_what_is_there(tmp_path: Path, fixture: Path) -> None:
    data = fixture.read_bytes()
    for cut in range(7, len(data), max(1, len(data) // 9)):
        path = tmp_path / f"cut-{cut}{fixture.suffix}"
        path.write_bytes(data[:cut])
        result = load_report(path, format=detect(fixture).name)
        accounted(result)
        assert len(result.events) + len(result.rejected) >= 1


def test_cli_load_json_reports_each_file() -> None:
    proc = subprocess.run([sys.executable, "-m", "irkit", "load", str(ARRAY), str(STREAM),
                           str(INSPECT), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [f["format"] for f in summary["files"]] == [
        "build-events", "build-events-ndjson", "vercel-inspect-logs"]
    assert (summary["rows"], summary["rejected"]) == (11 + 4 + 9, 0 + 4 + 1)
