"""Lambda REPORT lines → duration_ms on their request, never an error."""

from __future__ import annotations

import pandas as pd

from irkit import schema
from irkit.sources.lambda_report import apply_reports, is_bookkeeping, parse_report


def frame(rows: list[dict]) -> pd.DataFrame:
    return schema.conform(pd.DataFrame(rows))


def test_parse_report_variants() -> None:
    tabs = ("REPORT RequestId: 6f1c2d3e-aaaa\tDuration: 118.42 ms\tBilled Duration: 119 ms\t"
            "Memory Size: 1024 MB\tMax Memory Used: 87 MB\tInit Duration: 201.33 ms")
    assert parse_report(tabs) == (118.42, "6f1c2d3e-aaaa")
    spaces = tabs.replace("\t", " ")
    assert parse_report(spaces) == (118.42, "6f1c2d3e-aaaa")
    assert parse_report("Duration: 7 ms\tBilled Duration: 8 ms") == (7.0, None)
    assert parse_report("request took Duration: 5 ms") is None  # no Billed Duration: not REPORT
    assert parse_report("TypeError: x") is None


def test_bookkeeping_detection() -> None:
    assert is_bookkeeping("START RequestId: a Version: $LATEST\\nEND RequestId: a\\n"
                          "REPORT RequestId: a\tDuration: 1.0 ms\tBilled Duration: 2 ms")
    assert not is_bookkeeping("START RequestId: a\nboom: database down\nEND RequestId: a")


def test_durations_join_on_request_and_aws_ids_and_keep_existing_values() -> None:
    events = frame([
        {"request_id": "r1", "level": "error", "message": "boom"},
        {"request_id": "r1", "level": "error", "message":
            "START RequestId: aws-1\\nEND RequestId: aws-1\\nREPORT RequestId: aws-1\t"
            "Duration: 55.5 ms\tBilled Duration: 56 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 60 MB"},
        {"request_id": "aws-2", "level": "info", "message": "hello"},
        {"request_id": pd.NA, "level": "info", "message":
            "REPORT RequestId: aws-2 Duration: 9 ms Billed Duration: 9 ms"},
        {"request_id": "r3", "level": "info", "message": "no report", "duration_ms": 3.0},
        {"request_id": "r4", "level": "error", "message":
            "user output\nREPORT RequestId: aws-4\tDuration: 1 ms\tBilled Duration: 1 ms"},
    ])
    out = apply_reports(events)
    assert list(out["duration_ms"]) == [55.5, 55.5, 9.0, 9.0, 3.0, 1.0]
    # pure runtime bookkeeping is info; a message that also has user output keeps its level
    assert list(out["level"]) == ["error", "info", "info", "info", "info", "error"]
    assert events["duration_ms"].isna().sum() == 5  # input untouched
    schema.validate(out)
