"""Scribe notes, the STATUS UPDATE block and the PIR document."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.incident.notes import add_note, incident_notes
from irkit.incident.pir import pir_markdown, response_times
from irkit.incident.status import format_status, set_status, status_update

ID = "incident-2025-01-31-001"

FINDINGS = {
    "incident_id": ID, "severity": "SEV-2", "irkit_version": "0.1.0",
    "window": {"start": "2025-01-31T09:00:00Z", "end": "2025-01-31T11:00:00Z"},
    "error_onset": "2025-01-31T09:40:00Z",
    "impact": {"requests": 10_000, "failed_requests": 1_200, "error_rate": 0.12,
               "client_ips": 340, "regions": ["iad1", "fra1"],
               "routes": [{"route": "/api/checkout", "failed": 900}]},
    "suspect_deployments": [{"deployment_id": "dpl_bad", "created": "2025-01-31T09:38:00Z",
                             "score": 0.93, "reason": "deployed 2 min before onset"}],
    "top_patterns": [{"pattern_id": "p1", "template": "TypeError <*> [evil](http://x)",
                      "count": 800, "new_since_deployment": True}],
    "timeline": [{"time": "2025-01-31T09:38:00Z", "kind": "deployment", "text": "dpl_bad ready"},
                 {"time": "2025-01-31T10:10:00Z", "kind": "recovery", "text": "errors back"}],
}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("USER", "scribe")
    return arc.archive_root(tmp_path)


def test_notes_are_appended_with_utc_time_and_author(root: Path) -> None:
    add_note(root, ID, "pager fired", kind="alert", at="2025-01-31T09:45")
    add_note(root, ID, "rolled back \x1b[31mred\x1b[0m", kind="action", author="alice")
    notes = incident_notes(root, ID)
    assert [n["kind"] for n in notes] == ["alert", "action"]
    assert notes[0]["time"] == "2025-01-31T09:45:00Z"
    assert notes[0]["author"] == "scribe"
    assert notes[1]["author"] == "alice"
    assert "\x1b" not in notes[1]["text"]


def test_concurrent_notes_are_all_kept(root: Path) -> None:
    threads = [threading.Thread(target=add_note, args=(root, ID, f"note {i}")) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (root / ID / "notes.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["text"] for x in lines) == sorted(f"note {i}" for i in range(20))


@pytest.mark.parametrize(("kwargs", "msg"), [({"kind": "bogus"}, "--kind"),
                                             ({"at": "yesterday-ish"}, "--at")])
def test_bad_note_options(root: Path, kwargs: dict, msg: str) -> None:
    with pytest.raises(IrkitError, match=msg):
        add_note(root, ID, "x", **kwargs)


def test_status_update_block(root: Path) -> None:
    arc.update_state(root, ID, severity="SEV-2")
    add_note(root, ID, "rolled back to dpl_good", kind="action")
    add_note(root, ID, "watch error rate for 30 min", kind="next")
    add_note(root, ID, "30 minutes", kind="eta")
    set_status(root, ID, "mitigating")
    text = format_status(status_update(root, ID))
    assert text.startswith("STATUS UPDATE - ")
    for expected in ("- Current Status: Mitigating", "rolled back to dpl_good",
                     "watch error rate for 30 min", "- ETA: 30 minutes", "Identified - "):
        assert expected in text
    set_status(root, ID, "resolved")
    assert "Resolved - The issue with our service has been resolved." in \
        format_status(status_update(root, ID))


def test_status_uses_latest_run_findings(root: Path) -> None:
    arc.update_state(root, ID, severity="SEV-2")
    run = arc.runs_dir(root, ID) / "20250131T100000000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "findings.json").write_text(json.dumps(FINDINGS))
    update = status_update(root, ID)
    assert "1,200 of 10,000 requests failed (12.0%)" in update["impact"]
    assert "/api/checkout" in update["status_page"]


def test_status_of_unknown_incident(root: Path) -> None:
    with pytest.raises(IrkitError, match="unknown"):
        status_update(root, ID)


def test_pir_follows_playbook_template_and_escapes(root: Path) -> None:
    add_note(root, ID, "pager fired", kind="alert", at="2025-01-31T09:45")
    add_note(root, ID, "IC: bob", kind="ic", at="2025-01-31T09:52")
    add_note(root, ID, "<script>alert(1)</script> null deref", kind="root-cause",
             at="2025-01-31T10:00")
    add_note(root, ID, "alice - add canary checks - 2025-02-07", kind="action-item")
    md = pir_markdown(FINDINGS, incident_notes(root, ID))
    for heading in ("# Incident Post-Mortem:", "## Summary", "- **Date/Time**:",
                    "- **Duration**:", "- **Severity**: SEV-2", "- **Impact**:",
                    "## Timeline", "## Root Cause", "## Resolution", "## Lessons Learned",
                    "- What went well", "- What didn't go well", "- Where we got lucky",
                    "## Action Items"):
        assert heading in md, heading
    assert "2025-01-31 09:45:00 UTC: Alert received" in md
    assert "Duration**: 30 min 00 s" in md  # onset 09:40 -> recovery 10:10
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "[evil](http://x)" not in md  # log-derived template escaped
    assert "TO BE WRITTEN" in md  # resolution / lessons still need a human
    assert "1. alice - add canary checks" in md


def test_response_times_against_sla() -> None:
    notes = [{"time": "2025-01-31T09:45:00Z", "kind": "alert", "text": "a"},
             {"time": "2025-01-31T09:52:00Z", "kind": "ic", "text": "b"}]
    rows = response_times(FINDINGS, notes, "SEV-2")
    assert rows[0]["value"] == "7 min 00 s" and rows[0]["met"] is True  # 15 min SLA
    assert response_times(FINDINGS, notes, "SEV-1")[0]["met"] is False  # 5 min SLA
    assert rows[1]["value"] == "5 min 00 s"  # onset 09:40 -> alert 09:45


def test_findings_table_and_security_timeline() -> None:
    from irkit.incident.sections import findings_table, security_timeline

    security = {
        "suspicious_ips": [{"ip": "185.220.101.47", "requests": 54, "reasons": ["scanner_ua"],
                            "first_seen": "2025-01-31T09:22:01Z",
                            "last_seen": "2025-01-31T09:30:00Z"}],
        "scanner_paths": [{"target": "/.env", "requests": 10, "clients": 1,
                           "first_seen": "2025-01-31T09:22:02Z"}],
        "auth_failures": {"burst_minutes": ["2025-01-31T09:25:00Z"]},
    }
    timeline = security_timeline(security)
    assert [e["kind"] for e in timeline] == ["suspicious client", "scanner path",
                                             "auth-failure burst", "suspicious client"]
    table = findings_table(timeline)
    assert str(table["time"].dtype).startswith("datetime64") and table["time"].dt.tz is not None
    assert findings_table({"deny": 4}).to_dict("list") == {"key": ["deny"], "value": [4]}
    assert findings_table(None).empty
    mixed = findings_table([{"time": "not a time"}])
    assert mixed["time"].tolist() == ["not a time"]  # left alone unless every value parses


def test_pir_timeline_is_in_time_order_with_the_scribes_words(root: Path) -> None:
    from irkit.demo import scribe_notes

    truth = {"onset": FINDINGS["error_onset"], "recovery": "2025-01-31T10:30:00Z",
             "bad_deployment_id": "dpl_bad", "rollback_deployment_id": "dpl_good"}
    for entry in scribe_notes(truth):
        add_note(root, ID, entry["text"], author="demo-scribe", kind=entry["kind"],
                 at=entry["at"])
    md = pir_markdown(FINDINGS, incident_notes(root, ID))
    section = md.split("## Timeline", 1)[1].split("###", 1)[0]
    stamps = re.findall(r"^- (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", section, flags=re.M)
    assert len(stamps) >= 5 and stamps == sorted(stamps)
    assert "rolled back to the previous build (dpl\\_good)" in section
    assert "TO BE WRITTEN" not in section  # every milestone was noted
    assert scribe_notes({"onset": None, "recovery": None}) == []
