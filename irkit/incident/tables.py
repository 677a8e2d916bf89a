"""A run's tables on disk: written once from the evidence, read by every template.

The evidence is loaded once (``irkit.load_report``) and stored as Parquet so that three
templates running in parallel each read columnar files instead of re-parsing raw logs.  The only
column Parquet cannot hold as is, ``metrics.labels`` (a dict per row), is stored as JSON text.

:func:`load_inputs` is the first call of every template: it reads the tables, ``findings.json``,
the scribe's notes and the evidence inventory, and when no paths are given (a template opened by
hand in JupyterLab) it prepares the bundled demo incident instead.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from irkit import schema
from irkit.errors import IrkitError

TABLE_NAMES = ("events", "deployments", "metrics", "rejected")
#: Size of the demo a template prepares for itself when opened by hand (quick to build).
DEMO_EVENTS = 30_000


def json_default(value: Any) -> Any:
    """JSON for the values analysis results carry (timestamps, numpy numbers, NA)."""
    if value is pd.NaT or value is pd.NA or value is None:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if hasattr(value, "item"):  # numpy scalar
        item = value.item()
        return None if isinstance(item, float) and math.isnan(item) else item
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def clean_json(value: Any) -> Any:
    """Replace NaN/inf floats by None recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def dumps(data: Any) -> str:
    """Stable, readable JSON for archived files."""
    return json.dumps(clean_json(json.loads(json.dumps(data, default=json_default))),
                      indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_table(frame: pd.DataFrame, path: Path, table: str) -> Path:
    """Write one canonical table to Parquet (metrics labels as JSON text)."""
    out = frame.copy(deep=False)
    out.attrs = {}  # attrs hold load-time paths; they are not part of the table
    if table == "metrics" and "labels" in out.columns:
        out["labels"] = pd.array(
            [json.dumps(v, sort_keys=True) if isinstance(v, dict) else None for v in out["labels"]],
            dtype=schema.STRING)
    out.to_parquet(path, index=False)
    return path


def read_table(path: str | os.PathLike[str] | None, table: str) -> pd.DataFrame:
    """Read a table written by :func:`write_table`; a missing path gives the empty table."""
    if path is None or not Path(path).exists():
        return schema.empty(table)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise IrkitError(
            f"{path}: unreadable {table} table ({type(exc).__name__}: {exc})") from None
    if table == "metrics" and "labels" in frame.columns:
        frame["labels"] = [json.loads(v) if isinstance(v, str) else {} for v in frame["labels"]]
    return schema.conform(frame, table)


@dataclass
class Inputs:
    """Everything a template shows, read from one run (or the demo)."""

    incident_id: str
    severity: str
    events: pd.DataFrame
    deployments: pd.DataFrame
    metrics: pd.DataFrame
    rejected: pd.DataFrame
    findings: dict[str, Any]
    notes: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    paths: dict[str, str] = field(default_factory=dict)


def _read_json(path: str | os.PathLike[str] | None, default: Any) -> Any:
    if path is None or not Path(path).exists():
        return default
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IrkitError(f"{path}: unreadable JSON ({exc})") from None


def read_notes(path: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """The scribe's entries from a ``notes.jsonl`` file (bad lines are skipped, not fatal)."""
    if path is None or not Path(path).exists():
        return []
    notes = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "time" in entry and "text" in entry:
            notes.append(entry)
    return notes


def _timestamp(value: Any) -> pd.Timestamp | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load_inputs(*, incident_id: str | None = None, severity: str | None = None,
                window_start: Any = None, window_end: Any = None,
                events_path: str | None = None, deployments_path: str | None = None,
                metrics_path: str | None = None, rejected_path: str | None = None,
                findings_path: str | None = None, notes_path: str | None = None,
                evidence_manifest_path: str | None = None, redact: bool = False) -> Inputs:
    """Read a run's tables and findings for a template (the demo incident when paths are None)."""
    if events_path is None:
        demo = demo_paths()
        events_path, deployments_path = demo["events_path"], demo["deployments_path"]
        metrics_path, rejected_path = demo["metrics_path"], demo["rejected_path"]
        findings_path = demo["findings_path"]
        evidence_manifest_path = evidence_manifest_path or demo["evidence_manifest_path"]
    findings = _read_json(findings_path, {})
    events = read_table(events_path, "events")
    deployments = read_table(deployments_path, "deployments")
    rejected = read_table(rejected_path, "rejected")
    notes = read_notes(notes_path)
    evidence = _read_json(evidence_manifest_path, {}).get("files", [])
    if redact:  # reports meant for sharing: pseudonymise IPs, e-mails, user ids everywhere
        from irkit.redact import redact_frame, redact_value

        events, deployments, rejected = (redact_frame(f) for f in (events, deployments, rejected))
        findings, notes, evidence = (redact_value(v) for v in (findings, notes, evidence))
    window = findings.get("window") or {}
    return Inputs(
        incident_id=incident_id or findings.get("incident_id") or "incident-demo",
        severity=severity or findings.get("severity") or "SEV-2",
        events=events,
        deployments=deployments,
        metrics=read_table(metrics_path, "metrics"),
        rejected=rejected,
        findings=findings,
        notes=notes,
        evidence=evidence,
        window_start=_timestamp(window_start or window.get("start")),
        window_end=_timestamp(window_end or window.get("end")),
        paths={"events": str(events_path), "findings": str(findings_path)},
    )


def demo_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "irkit" / "demo-inputs"


def demo_paths() -> dict[str, str]:
    """Tables + findings of the demo incident, generated once into the user's cache folder.

    This is what a template uses when opened by hand in JupyterLab without parameters.
    """
    from irkit.incident.ingest import ingest_evidence

    out = demo_cache_dir()
    findings = out / "findings.json"
    if not findings.exists():
        from irkit.demo import generate

        out.mkdir(parents=True, exist_ok=True)
        incident = generate(out / "raw", seed=0, events=DEMO_EVENTS)
        ingest_evidence(
            {"logs": list(incident.logs), "deployments": [incident.deployments],
             "metrics": [incident.metrics], "traces": [incident.traces]},
            out, incident_id="incident-demo", severity="SEV-2")
    return {
        "events_path": str(out / "tables" / "events.parquet"),
        "deployments_path": str(out / "tables" / "deployments.parquet"),
        "metrics_path": str(out / "tables" / "metrics.parquet"),
        "rejected_path": str(out / "tables" / "rejected.parquet"),
        "findings_path": str(findings),
        "evidence_manifest_path": str(out / "evidence" / "evidence.json"),
    }
