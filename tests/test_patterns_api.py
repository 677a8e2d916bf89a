"""The public pattern API: ids per message, the pattern table and the per-minute series."""

from __future__ import annotations

import pandas as pd

import irkit
from irkit import schema
from irkit.analysis.patterns import PATTERN_COLUMNS, pattern_series


def _events(rows: list[dict]) -> pd.DataFrame:
    return schema.conform(pd.DataFrame(rows))


def test_pattern_ids_same_order_and_grouping() -> None:
    msgs = [
        "Error: connect ETIMEDOUT 10.2.3.4:5432",
        "user alice logged in",
        "Error: connect ETIMEDOUT 10.9.8.7:6543",
    ]
    ids = irkit.pattern_ids(msgs)
    assert len(ids) == 3
    assert ids[0] == ids[2] != ids[1]


def test_patterns_table_columns_and_counts() -> None:
    t0 = pd.Timestamp("2026-01-01T10:00:00Z")
    rows = []
    for i in range(6):
        rows.append({"timestamp": t0 + pd.Timedelta(minutes=i), "level": "error",
                     "message": f"Error: connect ETIMEDOUT 10.2.3.{i}:5432",
                     "status_code": 504, "route": "/api/orders/[id]", "deployment_id": "dpl_a"})
    rows.append({"timestamp": t0, "level": "info", "message": "fine", "deployment_id": "dpl_a"})
    table = irkit.patterns(_events(rows))
    assert list(table.columns) == PATTERN_COLUMNS
    assert len(table) == 1
    row = table.iloc[0]
    assert row["count"] == 6
    assert row["share"] == 1.0
    assert row["template"] == "Error: connect ETIMEDOUT <*>"
    assert row["status_codes"] == {504: 6}
    assert row["deployments"] == {"dpl_a": 6}
    series = pattern_series(_events(rows))
    assert list(series.columns) == [row["pattern_id"]]
    assert int(series.sum().iloc[0]) == 6
    assert len(series) == 6
