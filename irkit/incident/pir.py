"""The post-incident review as Markdown, in the playbook's PIR template.

Filled from ``findings.json`` (onset, recovery, suspect deployment, impact, data timeline) and
the scribe's notes (alert, IC, root cause, mitigation, resolution, lessons, action items).  What
the data cannot know is left as a clearly marked ``TO BE WRITTEN`` placeholder for a human.
Every value that came from logs or notes is escaped with :func:`irkit.safety.markdown_text`,
so a crafted log line cannot add links, HTML or table rows to the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from irkit.incident.ids import SEVERITIES
from irkit.incident.status import impact_text
from irkit.safety import markdown_text

TODO = "**✍ TO BE WRITTEN** —"
#: The playbook asks for the PIR within 48 hours of resolution.
PIR_DUE = timedelta(hours=48)
RECOVERY_KINDS = {"recovery", "resolved", "resolution"}


def _ts(value: Any) -> pd.Timestamp | None:
    if value in (None, "") or value is pd.NaT:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _when(ts: pd.Timestamp | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts is not None else "unknown"


def _duration(delta: pd.Timedelta | None) -> str:
    if delta is None:
        return "unknown"
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min {secs:02d} s" if minutes else f"{sign}{secs} s"


def _first(notes: Iterable[dict[str, Any]], *kinds: str) -> dict[str, Any] | None:
    for note in notes:
        if note.get("kind") in kinds:
            return note
    return None


@dataclass
class KeyTimes:
    """The moments the PIR and the response-time figures are built from."""

    onset: pd.Timestamp | None
    recovery: pd.Timestamp | None
    alert: pd.Timestamp | None
    acknowledged: pd.Timestamp | None
    mitigated: pd.Timestamp | None
    resolved: pd.Timestamp | None


def key_times(findings: dict[str, Any], notes: list[dict[str, Any]]) -> KeyTimes:
    """Onset/recovery from the data; alert/ack/mitigation/resolution from the notes."""
    notes = sorted(notes, key=lambda n: str(n.get("time")))
    timeline = findings.get("timeline") or []
    recovery = findings.get("error_recovery") or findings.get("recovery")
    if recovery is None:
        entry = next((t for t in timeline if str(t.get("kind", "")).lower() in RECOVERY_KINDS),
                     None)
        recovery = entry.get("time") if entry else None
    alert = _first(notes, "alert")
    ack = _first(notes, "ic", "open") or (notes[0] if notes else None)
    mitigation = _first(notes, "mitigation")
    resolved = _first(notes, "resolved")
    return KeyTimes(
        onset=_ts(findings.get("error_onset")),
        recovery=_ts(recovery),
        alert=_ts(alert["time"]) if alert else None,
        acknowledged=_ts(ack["time"]) if ack else None,
        mitigated=_ts(mitigation["time"]) if mitigation else _ts(recovery),
        resolved=_ts(resolved["time"]) if resolved else None,
    )


def response_times(findings: dict[str, Any], notes: list[dict[str, Any]],
                   severity: str | None) -> list[dict[str, Any]]:
    """Response-time figures against the playbook's SLA for ``severity``."""
    times = key_times(findings, notes)
    sla = SEVERITIES.get(severity or "")
    start = times.alert or times.onset

    def span(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timedelta | None:
        return (b - a) if a is not None and b is not None else None

    ack = span(start, times.acknowledged)
    rows = [
        {"measure": "Time to acknowledge (" + ("alert" if times.alert else "error onset, no "
                                                "alert noted") + " → IC / irkit open)",
         "value": _duration(ack),
         "target": sla.response_text if sla else "n/a",
         "met": None if ack is None or sla is None else ack <= pd.Timedelta(sla.response)},
        {"measure": "Time to detect (error onset → alert)",
         "value": _duration(span(times.onset, times.alert)), "target": "—", "met": None},
        {"measure": "Time to mitigate (onset → mitigation/recovery)",
         "value": _duration(span(times.onset, times.mitigated)), "target": "—", "met": None},
        {"measure": "Duration (onset → resolved/recovery)",
         "value": _duration(span(times.onset, times.resolved or times.recovery)),
         "target": "—", "met": None},
    ]
    end = times.resolved or times.recovery
    rows.append({"measure": "PIR due (resolution + 48 h)",
                 "value": _when(end + PIR_DUE) if end is not None else "after resolution",
                 "target": "within 48 hours", "met": None})
    return rows


def merged_timeline(findings: dict[str, Any], notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data timeline (findings) and scribe entries in one chronological list."""
    from irkit.incident.notes import KINDS

    rows = []
    for entry in findings.get("timeline") or []:
        rows.append({"time": _ts(entry.get("time")), "source": "data",
                     "kind": str(entry.get("kind", "")), "text": str(entry.get("text", ""))})
    for note in notes:
        label = KINDS.get(str(note.get("kind")), str(note.get("kind")))
        rows.append({"time": _ts(note.get("time")), "source": f"scribe ({note.get('author')})",
                     "kind": label, "text": str(note.get("text", ""))})
    far = pd.Timestamp.max.tz_localize("UTC")
    return sorted(rows, key=lambda r: r["time"] if r["time"] is not None else far)


def _section(notes: list[dict[str, Any]], kinds: set[str], todo: str) -> str:
    picked = [n for n in notes if n.get("kind") in kinds]
    if not picked:
        return f"{TODO} {todo}"
    return "\n".join(f"- {markdown_text(n['text'])} _({markdown_text(n.get('author'))}, "
                     f"{markdown_text(n.get('time'))})_" for n in picked)


def pir_markdown(findings: dict[str, Any], notes: list[dict[str, Any]],
                 state: dict[str, Any] | None = None) -> str:
    """The PIR document (playbook template) for one incident run."""
    state = state or {}
    notes = sorted(notes, key=lambda n: str(n.get("time")))
    incident_id = findings.get("incident_id") or state.get("incident_id") or "[INCIDENT-ID]"
    severity = findings.get("severity") or state.get("severity") or "[SEV-1/2/3/4]"
    times = key_times(findings, notes)
    window = findings.get("window") or {}
    start = times.onset or _ts(window.get("start"))
    end = times.resolved or times.recovery
    duration = _duration(end - start) if start is not None and end is not None else \
        "ongoing or unknown (no recovery in the data, no `resolved` note)"
    md = markdown_text

    out = [f"# Incident Post-Mortem: {md(incident_id)}", "",
           "## Summary",
           f"- **Date/Time**: {_when(start)}" + (" (error onset from the data)" if times.onset
                                                 else " (start of the evidence window)"),
           f"- **Duration**: {duration}",
           f"- **Severity**: {md(severity)}",
           f"- **Impact**: {md(impact_text(findings))}", "",
           "## Timeline"]
    milestones = [
        ("Alert received", times.alert, "alert"),
        ("IC assigned", _ts((_first(notes, 'ic') or {}).get("time")), "ic"),
        ("Error onset (data)", times.onset, None),
        ("Root cause identified", _ts((_first(notes, 'root-cause') or {}).get("time")),
         "root-cause"),
        ("Mitigation deployed", _ts((_first(notes, 'mitigation') or {}).get("time")),
         "mitigation"),
        ("Errors recovered (data)", times.recovery, None),
        ("Incident resolved", times.resolved, "resolved"),
    ]
    # Known milestones in time order (the scribe's words after them), then what is missing.
    for label, ts, kind in sorted((m for m in milestones if m[1] is not None),
                                  key=lambda m: m[1]):
        text = (_first(notes, kind) or {}).get("text") if kind else None
        out.append(f"- {_when(ts)}: {label}" + (f" — {md(text)}" if text else ""))
    out += [f"- [TIME]: {label} — {TODO} `irkit note --kind {kind}`"
            for label, ts, kind in milestones if ts is None and kind]
    out += ["", "### Full timeline (data and scribe)", ""]
    entries = merged_timeline(findings, notes)
    if entries:
        out += ["| time (UTC) | source | what | detail |", "|---|---|---|---|"]
        out += [f"| {_when(e['time'])} | {md(e['source'])} | {md(e['kind'])} | {md(e['text'])} |"
                for e in entries]
    else:
        out.append("No timeline entries.")

    suspects = findings.get("suspect_deployments") or []
    out += ["", "## Root Cause"]
    out.append(_section(notes, {"root-cause"},
                        "detailed explanation of what caused the incident "
                        "(`irkit note --kind root-cause`)."))
    if suspects:
        top = suspects[0]
        out += ["", f"Evidence from the data: the most suspect deployment is "
                f"**{md(top.get('deployment_id'))}** (created {md(top.get('created'))}, score "
                f"{md(top.get('score'))}): {md(top.get('reason'))}."]
    patterns = findings.get("top_patterns") or []
    new = [p for p in patterns if p.get("new_since_deployment")]
    if new:
        out.append(f"New error pattern since that deployment: {md(new[0].get('template'))} "
                   f"({md(new[0].get('count'))} occurrences).")

    out += ["", "## Resolution",
            _section(notes, {"mitigation", "resolution", "resolved"},
                     "how the incident was resolved (`irkit note --kind resolution`)."),
            "", "## Lessons Learned",
            "- What went well", _indent(_section(notes, {"went-well"}, "what went well.")),
            "- What didn't go well", _indent(_section(notes, {"went-badly"},
                                                       "what didn't go well.")),
            "- Where we got lucky", _indent(_section(notes, {"lucky"}, "where we got lucky.")),
            "", "## Action Items"]
    items = [n for n in notes if n.get("kind") == "action-item"]
    if items:
        out += [f"{i}. {md(n['text'])}" for i, n in enumerate(items, 1)]
    else:
        out += [f"1. [Owner] - [Action] - [Due Date] — {TODO} "
                "`irkit note --kind action-item \"Owner - Action - Due date\"`"]

    out += ["", "## Response times against the playbook SLA", "",
            "| measure | value | target | met |", "|---|---|---|---|"]
    for row in response_times(findings, notes, severity if severity in SEVERITIES else None):
        met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
        out.append(f"| {row['measure']} | {md(row['value'])} | {md(row['target'])} | {met} |")
    out += ["", f"_Generated by irkit {md(findings.get('irkit_version'))} from the evidence of "
                f"{md(incident_id)}; sections marked TO BE WRITTEN need a human._", ""]
    return "\n".join(out)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def write_pir(path: Path, findings: dict[str, Any], notes: list[dict[str, Any]],
              state: dict[str, Any] | None = None) -> Path:
    """Write :func:`pir_markdown` to ``path``."""
    path.write_text(pir_markdown(findings, notes, state), encoding="utf-8")
    return path
