"""`vercel logs` output of the three CLI generations and the runtime-logs API stream."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

import irkit
from irkit import schema
from irkit.errors import InputFormatError
from irkit.sources import load_report

DATA = Path(__file__).parent / "data" / "formats"


def formats_of(result) -> list[str]:
    return [report.format for report in result.files]


def test_runtime_logs_stream_and_delimiter_row() -> None:
    result = load_report(DATA / "cli_runtime_logs.ndjson")
    assert formats_of(result) == ["runtime-logs"]
    events = result.events
    schema.validate(events)
    assert len(events) == 4 and len(result.rejected) == 0
    error = events.iloc[1]
    assert error["timestamp"] == pd.Timestamp(1754300000456, unit="ms", tz="UTC")
    assert error["level"] == "error" and error["source"] == "serverless"
    assert "\n    at TCPConnectWrap" in error["message"]
    assert (error["status_code"], error["method"], error["host"]) == (504, "POST",
                                                                      "shop.example.com")
    assert events.iloc[0]["query"] == "expand=items"
    assert events.iloc[0]["route"] == "/api/orders/[id]"
    assert pd.isna(events.iloc[2]["status_code"])  # responseStatusCode 0 = no status
    delimiter = events.iloc[3]
    assert (delimiter["source"], delimiter["level"]) == ("delimiter", "warning")
    assert "limit" in delimiter["message"]


def test_request_logs_one_row_per_log_line() -> None:
    result = load_report(DATA / "cli_request_logs.ndjson")
    assert formats_of(result) == ["request-logs"]
    events = result.events
    schema.validate(events)
    assert result.files[0].lines == 2 and len(events) == 3
    assert list(events["origin_line"]) == [1, 1, 2]
    assert list(events["level"]) == ["info", "error", "info"]
    assert events.iloc[0]["request_id"] == events.iloc[1]["request_id"] == (
        "fra1::iad1::q7w8e-1754300000010-a1b2c3d4e5f6")
    assert pd.isna(events.iloc[2]["message"])  # a request without log lines is still a row
    assert events.iloc[2]["cache"] == "HIT" and events.iloc[2]["status_code"] == 200


def test_request_logs_api_response_with_iso_times() -> None:
    result = load_report(DATA / "cli_request_logs_api.json")
    assert formats_of(result) == ["request-logs-api"]
    events = result.events
    assert list(events["level"]) == ["warning", "error"]
    assert (events["timestamp"] == pd.Timestamp("2025-08-04T09:33:20.010Z")).all()
    assert events.iloc[0]["trace_id"] == "4f1e9a0b2c3d4e5f60718293a4b5c6d7"
    assert events.iloc[0]["source"] == "serverless"
    assert events.iloc[0]["path"] == "/api/orders/991"


def test_legacy_text_output(tmp_path: Path) -> None:
    result = load_report(DATA / "cli_legacy.txt")
    assert formats_of(result) == ["vercel-logs-text"]
    events = result.events.set_index("origin_line")
    schema.validate(result.events)
    assert events.loc[1, "timestamp"] == pd.Timestamp("2024-03-01T09:30:00.123Z")
    request = events.loc[3]
    assert (request["method"], request["path"], request["client_ip"]) == (
        "GET", "/api/orders/991", "198.51.100.23")
    assert request["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    trace = events.loc[5]
    assert trace["message"].count("\n") == 2 and trace["level"] == "error"
    assert 6 not in events.index and 7 not in events.index  # joined into line 5
    assert events.loc[8, "duration_ms"] == 118.42 and events.loc[8, "level"] == "info"
    response = events.loc[9]
    assert (response["status_code"], response["bytes"], response["level"]) == (500, 87, "error")
    assert events.loc[11, "level"] == "error" and "\x1b" not in events.loc[11, "message"]
    assert list(result.rejected["origin_line"]) == [10]
    packed = tmp_path / "legacy.txt.gz"
    packed.write_bytes(gzip.compress((DATA / "cli_legacy.txt").read_bytes()))
    assert len(irkit.load(packed)) == len(result.events)


def test_human_layout_is_refused_with_a_clear_message() -> None:
    with pytest.raises(InputFormatError, match="--json"):
        irkit.load(DATA / "cli_human_runtime.txt")


def test_mixed_inputs_route_to_their_tables() -> None:
    paths = [DATA / "cli_runtime_logs.ndjson", DATA / "drain_current.ndjson",
             DATA / "cli_legacy.txt"]
    events = irkit.load(paths)
    assert len(events) == 4 + 5 + 8
    assert events.attrs["irkit"]["rejected"] == 1
    assert [f["format"] for f in events.attrs["irkit"]["files"]] == [
        "runtime-logs", "drain-ndjson", "vercel-logs-text"]
    schema.validate(events)
