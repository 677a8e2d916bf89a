"""Nothing lost: every non-blank input line is a row or a rejected record, whatever the bytes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irkit
from irkit import schema
from irkit.sources import cli_output, drains, load_report

DATA = Path(__file__).parent / "data" / "formats"
GOOD = (DATA / "drain_current.ndjson").read_bytes().splitlines()


def record(**changes: object) -> bytes:
    base = json.loads(GOOD[2])
    base.update(changes)
    return json.dumps(base).encode()


def nonblank_lines(data: bytes) -> list[int]:
    """Independent oracle: 1-based numbers of the lines that hold anything but whitespace."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return [i for i, piece in enumerate(pieces, 1)
            if piece.decode("utf-8", errors="replace").strip()]


def accounted(result) -> tuple[list[int], list[int]]:
    return (sorted(result.events["origin_line"].tolist()),
            sorted(result.rejected["origin_line"].tolist()))


def test_bad_input_corpus_line_by_line(tmp_path: Path) -> None:
    lines = [
        b"\xef\xbb\xbf" + GOOD[0],                                   # 1 BOM, loads
        GOOD[1] + b"\r",                                             # 2 CRLF, loads
        b'{"id": "1", "deploymentId": oops}',                        # 3 malformed → rejected
        record(message="caf\xc3\xa9 \xff\xfe bytes").replace(b"\\u00c3\\u00a9", b"")
        .replace(b"\\u00ff\\u00fe", b"\xff\xfe"),                     # 4 invalid UTF-8, loads
        record(timestamp="2025-08-04T09:33:21.500Z"),                # 5 ISO string time
        record(timestamp="1754300001500", statusCode="503"),         # 6 numeric strings
        record(statusCode="abc"),                                    # 7 → rejected
        record(id=1754300000123000456789000009),                     # 8 28-digit number id
        record(message="x" * 3_000_000),                             # 9 multi-megabyte line
        b"",                                                         # 10 blank: not a record
        b"42",                                                       # 11 not an object
        GOOD[2][:70],                                                # 12 truncated last line
    ]
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"\n".join(lines))
    result = load_report(path)
    rows, rejected = accounted(result)
    assert rows == [1, 2, 4, 5, 6, 8, 9]
    assert rejected == [3, 7, 11, 12]
    assert result.files[0].lines == 11 and result.files[0].rows + result.files[0].rejected == 11
    events = result.events.set_index("origin_line")
    schema.validate(result.events)
    assert "\ufffd" in events.loc[4, "message"]
    assert events.loc[5, "timestamp"] == pd.Timestamp("2025-08-04T09:33:21.500Z")
    assert events.loc[6, "timestamp"] == pd.Timestamp(1754300001500, unit="ms", tz="UTC")
    assert events.loc[6, "status_code"] == 503
    assert len(events.loc[9, "message"]) == 3_000_000
    reasons = result.rejected.set_index("origin_line")["reason"]
    assert "malformed JSON" in reasons[3] and "statusCode" in reasons[7]
    assert "not a JSON object" in reasons[11]
    assert result.rejected.set_index("origin_line").loc[12, "raw"] == GOOD[2][:70].decode()
    schema.validate(result.rejected, "rejected")


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    body = b"\n".join(GOOD * 40) + b"\n"
    packed = gzip.compress(body)
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    result = load_report(path)
    assert result.files[0].format == "drain-ndjson"
    assert len(result.events) > 0
    assert "gzip stream truncated" in " ".join(result.rejected["reason"])
    rows, _ = accounted(result)
    assert rows == sorted(set(rows))  # no line twice
    assert max(rows) < min(line for line, reason in zip(
        result.rejected["origin_line"], result.rejected["reason"], strict=True)
        if "gzip" in reason)


def test_damaged_json_array_is_salvaged_record_by_record(tmp_path: Path) -> None:
    records = [json.loads(line) for line in GOOD]
    text = json.dumps(records, indent=2)
    good_key = '"deploymentId": "dpl_7Hq2kLmN3pQrStUvWxYz0123"'
    broken = text.replace(good_key, '"deploymentId": dpl_', 1)
    path = tmp_path / "delivery.json"
    path.write_text(broken)
    result = load_report(path)
    assert result.files[0].format == "drain-json"
    assert len(result.events) == 4 and len(result.rejected) == 1
    assert sorted(result.events["origin_line"]) == [2, 3, 4, 5]


def test_corrupted_head_is_still_detected(tmp_path: Path) -> None:
    path = tmp_path / "spool.ndjson"
    path.write_bytes(b"\x00\x01garbage{{{\n" + b"\n".join(GOOD) + b"\n")
    events = irkit.load(path)
    assert len(events) == 5 and events.attrs["irkit"]["rejected"] == 1


CORRUPTION = st.lists(
    st.tuples(st.sampled_from(["flip", "cut", "insert", "newline", "truncate"]),
              st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=8)),
    min_size=1, max_size=6)


def corrupt(data: bytearray, ops) -> bytes:
    """Apply hypothesis-chosen byte/line damage: flips, cuts, inserts, newlines, truncation."""
    for op, position, blob in ops:
        at = position % (len(data) + 1)
        if op == "flip" and data:
            data[at % len(data)] ^= blob[0] or 0xFF
        elif op == "cut":
            del data[at:at + len(blob) * 10]
        elif op == "insert":
            data[at:at] = blob
        elif op == "newline":
            data[at:at] = b"\n"
        elif op == "truncate":
            del data[at:]
    return bytes(data)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=CORRUPTION)
def test_random_corruption_never_raises_never_loses_a_line(tmp_path: Path, ops) -> None:
    data = corrupt(bytearray(b"\n".join(GOOD * 2) + b"\n"), ops)
    expected = nonblank_lines(data)
    for line in data.split(b"\n"):
        try:
            if isinstance(orjson.loads(line), list):
                return  # an array line legitimately yields several records
        except orjson.JSONDecodeError:
            pass
    path = tmp_path / "fuzz.ndjson"
    path.write_bytes(data)
    loaded = drains.read_ndjson(path)
    rows = loaded.table["origin_line"].tolist()
    rejected = loaded.rejected["origin_line"].tolist()
    assert sorted(rows + rejected) == expected
    assert loaded.report.rows + loaded.report.rejected == len(expected) == loaded.report.lines
    schema.validate(loaded.table)


OTHER_FORMATS = {
    "drain_delivery.json": drains.read_json,
    "cli_runtime_logs.ndjson": cli_output.read_runtime,
    "cli_request_logs.ndjson": cli_output.read_request_ndjson,
    "cli_request_logs_api.json": cli_output.read_request_api,
    "cli_legacy.txt": cli_output.read_text,
}


@pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=CORRUPTION)
def test_other_log_formats_survive_corruption(tmp_path: Path, name: str, ops) -> None:
    data = corrupt(bytearray((DATA / name).read_bytes()), ops)
    path = tmp_path / name
    path.write_bytes(data)
    loaded = OTHER_FORMATS[name](path)
    schema.validate(loaded.table)
    schema.validate(loaded.rejected, "rejected")
    if name == "cli_runtime_logs.ndjson":  # one row per line: exact accounting
        lines = loaded.table["origin_line"].tolist() + loaded.rejected["origin_line"].tolist()
        assert sorted(lines) == nonblank_lines(data) or any(
            line.lstrip().startswith(b"[") for line in data.split(b"\n"))
