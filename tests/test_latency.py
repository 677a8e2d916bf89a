"""Latency figures: one duration per request, before/after the onset within 10 % of truth."""

from __future__ import annotations

import pandas as pd
import pytest
from analytics_synth import DEMO_CASES, demo_case, make, ts

from irkit import schema
from irkit.analysis import latency, onset


def within(found: float | None, truth: float | None, rel: float = 0.10) -> bool:
    return found is not None and truth is not None and abs(found - truth) <= rel * truth


@pytest.mark.parametrize("seed", [0, 1])
def test_before_after_onset_match_truth(seed: int) -> None:
    inc = make(seed=seed, per_minute=100)
    t = inc.truth
    out = latency.latency_findings(inc.events, onset=t["onset"], recovery=t["recovery"])
    assert out["source"] == "lambda REPORT lines"
    for side in ("before", "after"):
        for q in ("p50", "p95"):
            assert within(out[f"{side}_onset"][q], t[f"latency_{side}_{q}"]), (side, q, out)
    assert out["p50"] <= out["p95"] <= out["p99"]


def test_one_duration_per_request() -> None:
    """A request with a REPORT line and a trace span counts once, with its longest duration."""
    ev = schema.conform(pd.DataFrame({
        "timestamp": pd.to_datetime(["2025-01-01T00:00:00Z"] * 3 + ["2025-01-01T00:00:01Z"]),
        "level": "info", "source": ["edge", "lambda", "trace", "edge"],
        "status_code": [200, None, None, 200], "request_id": ["a", "a", None, "b"],
        "trace_id": [None, None, "t1", None], "duration_ms": [None, 120.0, 80.0, 40.0],
    }))
    durs = latency.durations(ev)
    assert sorted(durs["duration_ms"]) == [40.0, 120.0]


def test_routes_most_degraded_first() -> None:
    inc = make(seed=2, per_minute=150, slow_route="/api/cart")
    t = inc.truth
    out = latency.latency_findings(inc.events, onset=t["onset"], recovery=t["recovery"])
    first = out["routes"][0]
    assert first["route"] == "/api/cart"
    assert first["after_onset"]["p95"] > 2 * first["before_onset"]["p95"]
    assert within(first["after_onset"]["p50"], t["latency_after_p50"])


def test_series_and_breakdowns() -> None:
    inc = make(seed=3, per_minute=60, minutes=60, onset_min=30, recovery_min=None)
    series = latency.latency_series(inc.events, "5min")
    assert len(series) == 12 and list(series.columns) == ["requests", "p50", "p95", "p99"]
    assert series["p50"].iloc[-1] > 2 * series["p50"].iloc[0]
    by_region = latency.latency_by(inc.events, "region")
    assert set(by_region.index) == {"iad1", "fra1", "sfo1"}
    grid = latency.latency_heatmap(inc.events, "10min")
    assert grid.shape == (5, 6)


def test_prometheus_histogram_interpolation() -> None:
    """Cumulative buckets: the window's increase, linear inside a bucket, seconds → ms."""
    def sample(t: str, counts: list[int]) -> list[dict]:
        return [{"timestamp": pd.Timestamp(t), "name": "http_request_duration_seconds_bucket",
                 "labels": {"route": "/", "le": le}, "value": float(c)}
                for le, c in zip(["0.1", "0.2", "0.4", "+Inf"], counts, strict=True)]
    metrics = schema.conform(pd.DataFrame(
        sample("2025-01-01T00:00:00Z", [0, 0, 0, 0])
        + sample("2025-01-01T00:10:00Z", [50, 90, 100, 100])), "metrics")
    out = latency.histogram_quantiles(metrics)
    assert out["p50"] == pytest.approx(100.0)          # rank 50 = top of the first bucket
    assert out["p95"] == pytest.approx(300.0)          # 5 of 10 into (0.2, 0.4]
    assert out["source"] == "prometheus histogram http_request_duration_seconds"
    findings = latency.latency_findings(schema.empty(), metrics=metrics)
    assert findings["p95"] == pytest.approx(300.0) and findings["source"].startswith("prom")


@pytest.mark.xdist_group("analytics-demo")
@pytest.mark.parametrize(("scenario", "seed"),
                         [c for c in DEMO_CASES if c[0] != "quiet"])
def test_demo_latency_matches_truth(tmp_path_factory, scenario: str, seed: int) -> None:
    case = demo_case(tmp_path_factory.getbasetemp(), scenario, seed)
    t = case["truth"]
    out = latency.latency_findings(case["events"], onset=ts(t["onset"]),
                                   recovery=ts(t["recovery"]))
    for side in ("before", "after"):
        for q in ("p50", "p95"):
            assert within(out[f"{side}_onset"][q], t[f"latency_{side}_{q}"]), (side, q, out)
    # and with the onset irkit finds itself
    found = onset.find_onset(case["events"])
    out = latency.latency_findings(case["events"], onset=found.onset, recovery=found.recovery)
    assert within(out["before_onset"]["p95"], t["latency_before_p95"])
    assert within(out["after_onset"]["p50"], t["latency_after_p50"])


def test_probe_timings_are_the_latency_source_when_nothing_else_has_durations() -> None:
    from irkit.analysis.latency import PROBE_SOURCE, latency_findings
    from irkit.capture.probe import ProbeResult, to_metrics

    base = pd.Timestamp("2026-03-10T13:00:00Z")
    results = [ProbeResult(seq=i, url="https://shop.example.com/",
                           started=(base + pd.Timedelta(seconds=10 * i)).isoformat(),
                           status=200, dns_ms=1.0, connect_ms=2.0, tls_ms=3.0,
                           first_byte_ms=5.0, total_ms=100.0 if i < 10 else 400.0)
               for i in range(20)]
    metrics = to_metrics(results)
    events = schema.empty("events")
    onset = base + pd.Timedelta(seconds=100)
    found = latency_findings(events, metrics=metrics, onset=onset)
    assert found["source"] == PROBE_SOURCE
    assert found["before_onset"]["p50"] == pytest.approx(100.0)
    assert found["after_onset"]["p50"] == pytest.approx(400.0)
