"""A run's tables on disk: written once from the evidence, read by every template.

The evidence is loaded once and stored as Parquet so that three templates running in parallel
each read columnar files instead of re-parsing raw logs.  Next to the canonical tables a run
keeps the engine's *reduced* tables (:data:`REDUCED_TABLES`, written by
:mod:`irkit.incident.reduced`): one row per request, one row per client request, the pattern
table and per-pattern minute counts.  Templates read those, so a kernel's memory grows with the
number of requests at most, never with the number of log lines.  Columns Parquet cannot hold as
is — ``metrics.labels`` (a dict per row), the pattern table's breakdowns (``{value: count}``)
and examples (a list) — are stored as JSON text.

:func:`load_inputs` is the first call of every template: it reads ``findings.json``, the small
tables, the scribe's notes and the evidence inventory, and hands out the large tables lazily
(the events table is read only if a cell asks for ``data.events``).  When no paths are given
(a template opened by hand in JupyterLab) it prepares the bundled demo incident instead.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from irkit import schema
from irkit.errors import IrkitError

TABLE_NAMES = ("events", "deployments", "metrics", "rejected")
#: The engine's reduced tables a run keeps in ``tables/`` (name -> file), see module doc.
REDUCED_TABLES = {"requests": "requests.parquet", "security_rows": "security_rows.parquet",
                  "patterns": "patterns.parquet", "pattern_counts": "pattern_counts.parquet",
                  "data_access": "security_data_access.parquet",
                  "auth_failures": "security_auth_failures.parquet"}
#: Reduced tables that are the security report's own tables, stored as computed.
SECURITY_TABLES = ("data_access", "auth_failures")
#: The engine's reductions that DuckDB writes straight into ``tables/`` (reduction -> table,
#: see :func:`irkit.incident.reduced.spool_paths`); they are read back with categorical strings.
SPOOLED = {"requests": "requests", "security": "security_rows"}
#: Pattern-table columns of ``{value: count}`` dicts, stored as JSON lists of pairs (a JSON
#: object would turn the status codes' integer keys into strings).
_PAIR_COLUMNS = ("levels", "status_codes", "routes", "deployments")
_LIST_COLUMNS = ("examples",)
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
    """Write one canonical or reduced table to Parquet (dict and list cells as JSON text)."""
    out = frame.copy(deep=False)
    out.attrs = {}  # attrs hold load-time paths; they are not part of the table
    if table == "metrics" and "labels" in out.columns:
        out["labels"] = _json_column(
            [json.dumps(v, sort_keys=True) if isinstance(v, dict) else None
             for v in out["labels"]])
    if table == "patterns":
        for name in _PAIR_COLUMNS:
            out[name] = _json_column([json.dumps(list(v.items()), default=json_default)
                                      for v in out[name]])
        for name in _LIST_COLUMNS:
            out[name] = _json_column([json.dumps(list(v), default=json_default)
                                      for v in out[name]])
    out.to_parquet(path, index=False)
    return path


def _json_column(values: list[str | None]) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype=schema.STRING)


def read_table(path: str | os.PathLike[str] | None, table: str) -> pd.DataFrame:
    """Read a table written by :func:`write_table`; a missing path gives the empty table.

    ``table`` is a canonical table name (``schema.TABLES``) or a reduced one
    (:data:`REDUCED_TABLES`); a missing reduced table is an error, not an empty table,
    because an empty request table would silently mean "no traffic".
    """
    if table in REDUCED_TABLES and (path is None or not Path(path).exists()):
        raise IrkitError(f"{path}: no {table} table (was the run written by an older irkit?)")
    if path is None or not Path(path).exists():
        return schema.empty(table)
    try:
        frame = _read_parquet(path, table)
    except Exception as exc:
        raise IrkitError(
            f"{path}: unreadable {table} table ({type(exc).__name__}: {exc})") from None
    if table in REDUCED_TABLES:
        try:
            return _reduced_dtypes(frame, table)
        except (KeyError, ValueError, TypeError) as exc:
            raise IrkitError(f"{path}: not a {table} table ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
    if table == "metrics" and "labels" in frame.columns:
        frame["labels"] = [json.loads(v) if isinstance(v, str) else {} for v in frame["labels"]]
    return schema.conform(frame, table)


def _read_parquet(path: str | os.PathLike[str], table: str) -> pd.DataFrame:
    """The request and client-request tables come back with categorical strings (10M rows
    of routes and IPs stored once each); every other table as pandas wrote it."""
    if table in SPOOLED.values():
        from irkit.engine.local import read_compact

        return read_compact(path)
    return pd.read_parquet(path)


def _reduced_dtypes(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A reduced table read back with the dtypes the engine produced it with."""
    if table in SECURITY_TABLES:
        return frame
    if table == "requests":
        from irkit.analysis.buckets import REQUEST_COLUMNS, _typed

        return _typed(frame[list(REQUEST_COLUMNS)])
    if table == "security_rows":
        from irkit.engine.reduce import SECURITY_COLUMNS

        return schema.astype_keeping_categories(
            frame[list(SECURITY_COLUMNS)], {c: schema.EVENT_COLUMNS[c] for c in SECURITY_COLUMNS})
    if table == "pattern_counts":
        return frame[["bucket", "pattern_id", "count"]].astype(
            {"bucket": schema.TIMESTAMP, "pattern_id": schema.STRING, "count": "int64"})
    from irkit.analysis.pattern_partials import PATTERN_COLUMNS

    out = frame[list(PATTERN_COLUMNS)].astype(
        {"pattern_id": schema.STRING, "template": schema.STRING, "count": "int64",
         "share": "float64", "first_seen": schema.TIMESTAMP, "last_seen": schema.TIMESTAMP,
         "new_since_deployment": schema.STRING})
    for name in _PAIR_COLUMNS:  # JSON keeps the key types: ints stay ints, strings strings
        out[name] = [dict(map(tuple, json.loads(v))) for v in out[name]]
    for name in _LIST_COLUMNS:
        out[name] = [json.loads(v) for v in out[name]]
    return out


@dataclass
class Inputs:
    """Everything a template shows, read from one run (or the demo).

    The small tables are read at once; the large ones are properties read on first use and
    kept: ``events`` (every log line — templates should not need it), the security report's
    ``data_access`` and ``auth_failures`` tables, and the engine's
    reductions ``requests`` (one row per request, declared with
    :func:`irkit.analysis.buckets.as_requests`, so onset and the figures take it in place of
    events), ``security_rows`` (one row per client request: what
    :mod:`irkit.analysis.security` reduces events to), ``pattern_table`` (the whole pattern
    table, most frequent first) and ``pattern_series`` (per-minute counts per pattern, for
    sparklines).  A run written before the reduced tables existed gets them computed from
    its events, with the same results.
    """

    incident_id: str
    severity: str
    deployments: pd.DataFrame
    metrics: pd.DataFrame
    rejected: pd.DataFrame
    findings: dict[str, Any]
    notes: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    paths: dict[str, str] = field(default_factory=dict)
    #: name -> how to read it; each runs at most once (see the properties)
    loaders: dict[str, Callable[[], Any]] = field(default_factory=dict, repr=False)
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def _get(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self.loaders[name]()
        return self._loaded[name]

    @property
    def events(self) -> pd.DataFrame:
        """The whole events table (read now, on first use: it can be gigabytes)."""
        return self._get("events")

    @property
    def requests(self) -> pd.DataFrame:
        """One row per request (``buckets.REQUEST_COLUMNS``), declared a request table."""
        return self._get("requests")

    @property
    def security_rows(self) -> pd.DataFrame:
        """One row per client request: what ``security.data_access``/``auth_failures`` take."""
        return self._get("security_rows")

    @property
    def data_access(self) -> pd.DataFrame:
        """What the suspicious clients obtained (:func:`irkit.analysis.security.data_access`)."""
        return self._get("data_access")

    @property
    def auth_failures(self) -> pd.DataFrame:
        """Failed logins per client (:func:`irkit.analysis.security.auth_failures`)."""
        return self._get("auth_failures")

    @property
    def pattern_table(self) -> pd.DataFrame:
        """The pattern table (``patterns()``' columns), most frequent pattern first."""
        return self._get("pattern_table")

    @property
    def pattern_series(self) -> pd.DataFrame:
        """``pattern_series()``' per-minute counts (one column per pattern id)."""
        return self._get("pattern_series")

    def loaded(self) -> list[str]:
        """Which large tables have been read so far (tests check events stay unread)."""
        return sorted(self._loaded)


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
    """Read a run's findings and small tables for a template (the demo when paths are None).

    The reduced tables are found next to ``events_path`` (``tables/requests.parquet`` …), so
    the templates' agreed parameters stay the same; none of the large tables is read here.
    """
    if events_path is None:
        demo = demo_paths()
        events_path, deployments_path = demo["events_path"], demo["deployments_path"]
        metrics_path, rejected_path = demo["metrics_path"], demo["rejected_path"]
        findings_path = demo["findings_path"]
        evidence_manifest_path = evidence_manifest_path or demo["evidence_manifest_path"]
    findings = _read_json(findings_path, {})
    deployments = read_table(deployments_path, "deployments")
    rejected = read_table(rejected_path, "rejected")
    notes = read_notes(notes_path)
    evidence = _read_json(evidence_manifest_path, {}).get("files", [])
    shown: Callable[[pd.DataFrame], pd.DataFrame] = _as_stored
    if redact:  # reports meant for sharing: pseudonymise IPs, e-mails, user ids everywhere
        from irkit.redact import redact_frame, redact_value

        shown = redact_frame
        deployments, rejected = shown(deployments), shown(rejected)
        findings, notes, evidence = (redact_value(v) for v in (findings, notes, evidence))
    window = findings.get("window") or {}
    tables = Path(events_path).parent
    data = Inputs(
        incident_id=incident_id or findings.get("incident_id") or "incident-demo",
        severity=severity or findings.get("severity") or "SEV-2",
        deployments=deployments,
        metrics=read_table(metrics_path, "metrics"),
        rejected=rejected,
        findings=findings,
        notes=notes,
        evidence=evidence,
        window_start=_timestamp(window_start or window.get("start")),
        window_end=_timestamp(window_end or window.get("end")),
        paths={"events": str(events_path), "findings": str(findings_path),
               **{name: str(tables / file) for name, file in REDUCED_TABLES.items()}},
    )
    data.loaders = _loaders(data, tables, str(events_path), shown)
    return data


def _as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _loaders(data: Inputs, tables: Path, events_path: str,
             shown: Callable[[pd.DataFrame], pd.DataFrame]) -> dict[str, Callable[[], Any]]:
    """How each large table is read: its reduced file when the run has one, else from events
    (a run written before the reduced tables existed), redacted like every displayed table."""
    from irkit.analysis import buckets, security
    from irkit.analysis import patterns as pat

    def reduced(name: str) -> pd.DataFrame | None:
        path = tables / REDUCED_TABLES[name]
        return shown(read_table(path, name)) if path.exists() else None

    def requests() -> pd.DataFrame:
        found = reduced("requests")
        return buckets.as_requests(buckets.requests(data.events) if found is None else found)

    def security_rows() -> pd.DataFrame:
        found = reduced("security_rows")
        return data.events if found is None else found  # security merges events the same way

    def pattern_table() -> pd.DataFrame:
        found = reduced("patterns")
        return pat.patterns(data.events, deployments=data.deployments) if found is None else found

    def pattern_series() -> pd.DataFrame:
        found = reduced("pattern_counts")
        return pat.pattern_series(data.events) if found is None else pat.series_from_counts(found)

    def data_access() -> pd.DataFrame:
        found = reduced("data_access")
        if found is not None:
            return found
        suspicious = (data.findings.get("security") or {}).get("suspicious_ips") or []
        return security.data_access(data.security_rows, [s["ip"] for s in suspicious])

    def auth_failures() -> pd.DataFrame:
        found = reduced("auth_failures")
        return security.auth_failures(data.security_rows) if found is None else found

    return {"events": lambda: shown(read_table(events_path, "events")), "requests": requests,
            "security_rows": security_rows, "pattern_table": pattern_table,
            "data_access": data_access, "auth_failures": auth_failures,
            "pattern_series": pattern_series}


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
