"""Small views the templates show: findings values as tables, the security timeline.

The templates only display; turning a ``findings.json`` value (a list of objects, a mapping, a
list of strings) into a table, or the ``security`` findings into ``{time, kind, text}`` entries
for :func:`irkit.plots.event_timeline`, is done here so that every template does it the same way
and it is unit-tested.  Values stay raw: display helpers escape them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def findings_table(value: Any, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A findings value as a DataFrame: list of objects → rows, mapping → key/value rows."""
    if value is None:
        frame = pd.DataFrame()
    elif isinstance(value, Mapping):
        frame = pd.DataFrame({"key": list(value), "value": list(value.values())})
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        frame = pd.json_normalize(value, max_level=1)
    elif isinstance(value, list):
        frame = pd.DataFrame({"value": value})
    else:
        frame = pd.DataFrame({"value": [value]})
    if columns is not None:
        frame = frame.reindex(columns=[c for c in columns if c in frame.columns] or columns)
    return _times_as_utc(frame)


#: Findings columns that hold ISO times (shown as UTC times, not as raw strings).
TIME_COLUMNS = {"time", "created", "ready", "live_at", "first_seen", "last_seen", "minute",
                "collected_at", "original_mtime", "onset", "recovery"}


def _times_as_utc(frame: pd.DataFrame) -> pd.DataFrame:
    for name in frame.columns:
        if name in TIME_COLUMNS and not pd.api.types.is_datetime64_any_dtype(frame[name]):
            converted = pd.to_datetime(frame[name], utc=True, errors="coerce", format="ISO8601")
            if converted.notna().sum() == frame[name].notna().sum():  # only if all parse
                frame = frame.assign(**{name: converted})
    return frame


def security_timeline(security: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Security-relevant moments from the ``security`` findings, in time order."""
    entries: list[dict[str, Any]] = []
    for ip in security.get("suspicious_ips") or []:
        reasons = ", ".join(ip.get("reasons") or [])
        if ip.get("first_seen"):
            entries.append({"time": ip["first_seen"], "kind": "suspicious client",
                            "text": f"{ip.get('ip')} first seen ({reasons}; "
                                    f"{ip.get('requests')} requests)"})
        if ip.get("last_seen") and ip.get("last_seen") != ip.get("first_seen"):
            entries.append({"time": ip["last_seen"], "kind": "suspicious client",
                            "text": f"{ip.get('ip')} last seen"})
    for probe in security.get("scanner_paths") or []:
        if probe.get("first_seen"):
            entries.append({"time": probe["first_seen"], "kind": "scanner path",
                            "text": f"{probe.get('target')} probed "
                                    f"({probe.get('requests')} requests, "
                                    f"{probe.get('clients')} clients)"})
    auth = security.get("auth_failures") or {}
    for minute in auth.get("burst_minutes") or []:
        entries.append({"time": minute, "kind": "auth-failure burst",
                        "text": "failed logins above the site's baseline"})
    return sorted(entries, key=lambda e: pd.Timestamp(e["time"]))
