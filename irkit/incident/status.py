"""``irkit status``: the playbook's 30-minute STATUS UPDATE and the status-page text.

Everything is derived from the incident's state (status, severity), the scribe's notes
(actions taken, next steps, ETA) and the latest run's ``findings.json`` (impact), so the update
can be pasted into the incident channel without re-typing numbers.  Log-derived text (routes)
is stripped of control characters before it reaches a terminal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.incident.notes import add_note, clean_text, incident_notes

#: The playbook's internal statuses plus the status page's "identified" and "resolved".
STATUSES = ("investigating", "identified", "mitigating", "monitoring", "resolved")


def set_status(root: Path, incident_id: str, status: str, *, author: str | None = None) -> None:
    """Change the incident status (recorded in state and as a timeline entry)."""
    if status not in STATUSES:
        raise IrkitError(f"--set {status!r}: expected one of {', '.join(STATUSES)}")
    arc.update_state(root, incident_id, status=status)
    add_note(root, incident_id, f"Status: {status.capitalize()}", author=author,
             kind="resolved" if status == "resolved" else "status")


def _latest_findings(root: Path, incident_id: str) -> dict[str, Any]:
    runs = arc.list_runs(root, incident_id)
    if not runs:
        return {}
    try:
        return json.loads((runs[-1] / "findings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def impact_text(findings: dict[str, Any]) -> str:
    """One sentence of impact from findings (or a prompt to assess it)."""
    impact = findings.get("impact") or {}
    requests = impact.get("requests")
    if not requests:
        return "Not yet assessed (no run with request data)"
    failed = impact.get("failed_requests") or 0
    rate = impact.get("error_rate")
    rate_text = f"{rate:.1%}" if isinstance(rate, int | float) else "n/a"
    parts = [f"{failed:,} of {requests:,} requests failed ({rate_text})"]
    for key, label in (("client_ips", "clients"), ("regions", "regions"), ("routes", "routes")):
        value = impact.get(key)
        if isinstance(value, list):
            names = [_name(v, key) for v in value[:5]]
            shown = ", ".join(n for n in names if n)
            parts.append(f"{label}: {shown}{' …' if len(value) > 5 else ''}" if shown else "")
        elif isinstance(value, int | float):
            parts.append(f"{int(value):,} {label}")
    return "; ".join(p for p in parts if p)


def _name(value: Any, key: str) -> str:
    """The label of an impact entry: a plain value, or the ``route``/``region``/``ip`` field."""
    if isinstance(value, dict):
        for field in (key.rstrip("s"), "route", "region", "ip", "client_ip", "name"):
            if value.get(field):
                return clean_text(value[field])
        return ""
    return clean_text(value)


def affected_service(findings: dict[str, Any]) -> str:
    """What the status page names: the most affected routes, else the site."""
    routes = (findings.get("impact") or {}).get("routes")
    if isinstance(routes, list) and routes:
        names = [_name(r, "routes") for r in routes[:3]]
        return ", ".join(n for n in names if n) or "our service"
    return "our service"


def status_update(root: Path, incident_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The data of a status update: status, impact, actions, next steps, ETA, status-page text."""
    state = arc.read_state(root, incident_id)
    notes = incident_notes(root, incident_id)
    if not state and not notes:
        raise IrkitError(f"incident {incident_id}: unknown in {root} (no state, no notes)")
    findings = _latest_findings(root, incident_id)
    now = now or datetime.now(UTC)
    status = state.get("status", "investigating")
    actions = [n for n in notes if n.get("kind") in {"action", "mitigation", "open"}]
    nexts = [n for n in notes if n.get("kind") == "next"]
    etas = [n for n in notes if n.get("kind") == "eta"]
    return {
        "incident_id": incident_id,
        "time": now.strftime("%Y-%m-%d %H:%M UTC"),
        "status": status,
        "severity": state.get("severity"),
        "impact": impact_text(findings),
        "actions": [f"{n['time']} {clean_text(n['text'])}" for n in actions],
        "next_steps": [clean_text(n["text"]) for n in nexts[-3:]],
        "eta": clean_text(etas[-1]["text"]) if etas else "Unknown",
        "status_page": status_page_text(status, findings, now),
    }


def status_page_text(status: str, findings: dict[str, Any], now: datetime) -> str:
    """The playbook's status-page template for the current status."""
    service = affected_service(findings)
    posted = f"Posted at {now:%Y-%m-%d %H:%M} UTC"
    if status == "resolved":
        return (f"Resolved - The issue with {service} has been resolved.\n"
                "All systems are now operating normally. We apologize for any inconvenience.\n"
                + posted)
    if status in {"identified", "mitigating"}:
        impact = impact_text(findings)
        return (f"Identified - We have identified an issue with {service}.\n"
                f"{impact}. Our team is working on a resolution.\n" + posted)
    if status == "monitoring":
        return (f"Monitoring - A fix for the issue with {service} has been deployed.\n"
                "We are monitoring the results.\n" + posted)
    return (f"Investigating - We are currently investigating reports of errors affecting "
            f"{service}.\nOur team is actively working on identifying the root cause.\n" + posted)


def format_status(update: dict[str, Any]) -> str:
    """The STATUS UPDATE block (incident-channel text) followed by the status-page text."""
    def bullets(items: list[str], empty: str) -> str:
        return "".join(f"\n    - {i}" for i in items) if items else f" {empty}"

    lines = [
        f"STATUS UPDATE - {update['time']}  ({update['incident_id']}, "
        f"{update.get('severity') or 'severity unset'})",
        f"- Current Status: {update['status'].capitalize()}",
        f"- Impact: {update['impact']}",
        f"- Actions Taken:{bullets(update['actions'], 'None recorded (irkit note --kind action)')}",
        f"- Next Steps:{bullets(update['next_steps'], 'None recorded (irkit note --kind next)')}",
        f"- ETA: {update['eta']}",
        "",
        "Status page:",
        update["status_page"],
    ]
    return "\n".join(lines)
