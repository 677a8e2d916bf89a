"""Impact counts requests once, failures as users saw them, per bucket and for a window."""

from __future__ import annotations

import pandas as pd
from analytics_synth import make

from irkit import schema
from irkit.analysis import impact


def test_window_totals_match_the_generated_requests() -> None:
    inc = make(seed=0, per_minute=50, minutes=90, onset_min=40, recovery_min=70)
    out = impact.impact_findings(inc.events)
    assert out["requests"] == inc.truth["requests"]       # 3 log rows per failed request, 1 count
    assert out["failed_requests"] == inc.truth["failed"]
    assert abs(out["error_rate"] - inc.truth["failed"] / inc.truth["requests"]) < 1e-6
    assert out["affected_routes"] == 5 and out["affected_regions"] == 3
    assert out["routes"][0]["failed_requests"] >= out["routes"][-1]["failed_requests"]
    during = impact.impact_findings(inc.events, start=inc.truth["onset"],
                                    end=inc.truth["recovery"])
    assert during["error_rate"] > 5 * out["error_rate"] / 2
    assert during["requests"] < out["requests"]


def test_crashes_count_and_4xx_do_not() -> None:
    ev = schema.conform(pd.DataFrame({
        "timestamp": pd.to_datetime(["2025-01-01T00:00:00Z", "2025-01-01T00:00:10Z",
                                     "2025-01-01T00:01:00Z", "2025-01-01T00:01:30Z"]),
        "level": ["error", "info", "warning", "error"], "source": "edge",
        "status_code": [None, 200, 404, 502], "crashed": [True, False, False, False],
        "route": ["/a", "/a", "/b", "/c"], "region": ["iad1", "iad1", "fra1", "fra1"],
        "client_ip": ["1.1.1.1", "2.2.2.2", "1.1.1.1", "3.3.3.3"],
        "request_id": ["r1", "r2", "r3", "r4"],
    }))
    out = impact.impact_findings(ev)
    assert (out["requests"], out["failed_requests"], out["client_ips"]) == (4, 2, 3)
    assert out["affected_client_ips"] == 2
    assert {r["route"] for r in out["routes"]} == {"/a", "/c"}
    series = impact.impact_series(ev, "1min")
    assert list(series["requests"]) == [2, 2]
    assert list(series["failed_requests"]) == [1, 1]
    assert list(series["affected_routes"]) == [1, 1]


def test_series_is_gap_free() -> None:
    ev = schema.conform(pd.DataFrame({
        "timestamp": pd.to_datetime(["2025-01-01T00:00:00Z", "2025-01-01T00:05:00Z"]),
        "level": "info", "source": "edge", "status_code": [200, 500],
        "request_id": ["a", "b"], "client_ip": ["1.1.1.1", "1.1.1.1"],
    }))
    series = impact.impact_series(ev, "1min")
    assert len(series) == 6 and series["requests"].sum() == 2
    assert series["error_rate"].isna().sum() == 4     # no traffic is not a 0 % error rate


def test_empty_events() -> None:
    out = impact.impact_findings(schema.empty())
    assert out["requests"] == 0 and out["error_rate"] is None and out["routes"] == []
