"""findings.json: SPEC's stable keys, plain JSON values, numbers that agree with the analyses."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from analytics_synth import demo_case, make, ts

from irkit import schema
from irkit.analysis.findings import compute_findings, jsonable

SPEC_KEYS = {"incident_id", "severity", "generated_at", "irkit_version", "window", "events",
             "error_onset", "suspect_deployments", "top_patterns", "latency_ms", "impact",
             "security", "timeline"}


def iso(value) -> pd.Timestamp:
    assert value.endswith("Z")
    return pd.Timestamp(value)


def test_synthetic_incident_findings() -> None:
    inc = make(seed=0, per_minute=80, minutes=120, onset_min=60, recovery_min=90)
    notes = [{"time": "2025-03-01T11:05:00Z", "author": "sam", "text": "paged\non-call"}]
    out = compute_findings(incident_id="incident-2025-03-01-001", severity="SEV-2",
                           events=inc.events, deployments=inc.deployments, metrics=None,
                           rejected_count=3, notes=notes)
    assert set(out) >= SPEC_KEYS
    text = json.dumps(out, allow_nan=False)           # plain JSON, no NaN
    assert json.loads(text) == out
    assert out["events"] == {"total": len(inc.events), "errors": int(
        inc.events["level"].eq("error").sum()), "rejected": 3, "requests": inc.truth["requests"]}
    assert abs(iso(out["error_onset"]) - inc.truth["onset"]) <= pd.Timedelta(minutes=2)
    assert out["suspect_deployments"][0]["deployment_id"] == "dpl_bad"
    assert set(out["suspect_deployments"][0]) >= {"deployment_id", "created", "score", "reason"}
    top = out["top_patterns"][0]
    assert set(top) >= {"pattern_id", "template", "count", "first_seen", "last_seen",
                        "new_since_deployment"}
    new = [p for p in out["top_patterns"] if p["template"].startswith("TypeError")]
    assert new and new[0]["new_since_deployment"] == "dpl_bad"
    assert set(out["latency_ms"]) >= {"p50", "p95", "p99", "source", "before_onset",
                                      "after_onset", "routes"}
    assert out["impact"]["requests"] == inc.truth["requests"]
    assert set(out["security"]) >= {"suspicious_ips", "scanner_paths"}
    times = [iso(e["time"]) for e in out["timeline"]]
    assert times == sorted(times)
    kinds = {e["kind"] for e in out["timeline"]}
    assert {"deployment", "onset", "recovery", "new-pattern", "note"} <= kinds
    note = next(e for e in out["timeline"] if e["kind"] == "note")
    assert note["text"] == "sam: paged on-call"      # one line


def test_window_limits_the_events() -> None:
    inc = make(seed=1, per_minute=40, minutes=120, onset_min=None)
    window = {"start": "2025-03-01T10:30:00Z", "end": "2025-03-01T11:00:00Z"}
    out = compute_findings(incident_id="incident-2025-03-01-002", severity="SEV-4",
                           events=inc.events, deployments=inc.deployments, metrics=None,
                           rejected_count=0, window=window)
    assert out["window"] == {"start": "2025-03-01T10:30:00.000Z",
                             "end": "2025-03-01T11:00:00.000Z"}
    assert 0 < out["events"]["total"] < len(inc.events) / 3
    assert out["error_onset"] is None and out["suspect_deployments"] == []


def test_empty_evidence_still_gives_every_key() -> None:
    out = compute_findings(incident_id="incident-2025-03-01-003", severity="SEV-3",
                           events=schema.empty(), deployments=schema.empty("deployments"),
                           metrics=schema.empty("metrics"), rejected_count=0)
    assert set(out) >= SPEC_KEYS
    assert out["error_onset"] is None and out["latency_ms"]["p50"] is None
    json.dumps(out, allow_nan=False)


def test_jsonable_values() -> None:
    import numpy as np
    value = {"a": np.int64(3), "b": float("nan"), "c": pd.NA, "d": [np.float32(1.5)],
             "e": pd.Timestamp("2025-01-01T00:00:00Z"), "f": np.bool_(True)}
    assert jsonable(value) == {"a": 3, "b": None, "c": None, "d": [1.5],
                               "e": "2025-01-01T00:00:00.000Z", "f": True}


@pytest.mark.xdist_group("analytics-demo")
def test_demo_findings_default(tmp_path_factory) -> None:
    case = demo_case(tmp_path_factory.getbasetemp(), "default", 0)
    truth = case["truth"]
    out = compute_findings(incident_id="incident-2026-03-10-001", severity="SEV-2",
                           events=case["events"], deployments=case["deployments"],
                           metrics=case["metrics"], rejected_count=0)
    json.dumps(out, allow_nan=False)
    assert abs(iso(out["error_onset"]) - ts(truth["onset"])) <= pd.Timedelta(minutes=2)
    assert out["suspect_deployments"][0]["deployment_id"] == truth["bad_deployment_id"]
    flagged = {s["ip"] for s in out["security"]["suspicious_ips"]}
    assert set(truth["scanner_ips"]) <= flagged
    assert any(e["kind"] == "security" for e in out["timeline"])


def test_timeline_orders_kinds_and_flattens_log_text() -> None:
    from irkit.analysis.timeline import build_timeline

    deps = schema.conform(pd.DataFrame({
        "deployment_id": ["dpl_1"], "created": [pd.Timestamp("2025-01-01T10:00:00Z")],
        "ready": [pd.Timestamp("2025-01-01T10:01:00Z")], "commit_sha": ["0123456789abcdef"],
        "commit_message": ["fix: <script>x</script>\nsecond line"], "target": ["production"],
    }), "deployments")
    security = {"suspicious_ips": [{"ip": "203.0.113.9", "requests": 40,
                                    "reasons": ["scanner_ua"],
                                    "first_seen": "2025-01-01T10:01:00Z"}]}
    out = build_timeline(None, deps, onset=pd.Timestamp("2025-01-01T10:01:00Z"),
                         security=security, onset_method="latency", iso_times=True)
    assert [e["kind"] for e in out] == ["deployment", "deployment-ready", "onset", "security"]
    assert out[0]["text"] == ("deployment dpl_1 (0123456: fix: <script>x</script> second line) "
                              "created to production")       # raw, one line; escaped on display
    assert out[2]["text"].startswith("latency onset")
    assert out[0]["time"] == "2025-01-01T10:00:00.000Z"
