"""The incident timeline: deployments, onset, recovery, new patterns, security events, notes.

One list of ``{time, kind, text}`` sorted by time, the scribe's view of the incident (playbook:
"maintain a timeline").  Texts quote log-derived values (commit messages, pattern templates)
raw but flattened to one line and shortened; whoever displays them escapes them
(:mod:`irkit.safety`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from irkit.analysis import buckets

#: Longest quoted text (commit message, template) in a timeline entry.
MAX_QUOTE = 80
#: Timeline entries for new patterns: at most this many (most frequent first).
MAX_PATTERNS = 5
#: Kinds, in the order entries at the same instant are listed.
KINDS = ("deployment", "deployment-ready", "onset", "new-pattern", "security", "recovery", "note")


def quote(text: object, limit: int = MAX_QUOTE) -> str:
    """One line, at most ``limit`` characters (log text can be long and multi-line)."""
    if text is None or text is pd.NA or (isinstance(text, float) and pd.isna(text)):
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _entry(time: object, kind: str, text: str) -> dict[str, Any] | None:
    ts = buckets.to_utc(time)
    if ts is None:
        return None
    return {"time": ts, "kind": kind, "text": text}


def _deployment_entries(deployments: pd.DataFrame | None) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    if deployments is None or len(deployments) == 0:
        return out
    for dep in deployments.to_dict("records"):
        sha = dep.get("commit_sha")
        short = str(sha)[:7] if sha is not None and sha is not pd.NA else "no commit"
        message = quote(dep.get("commit_message"))
        label = f"{dep.get('deployment_id')} ({short}{': ' + message if message else ''})"
        target = dep.get("target")
        where = f" to {target}" if isinstance(target, str) else ""
        out.append(_entry(dep.get("created"), "deployment", f"deployment {label} created{where}"))
        out.append(_entry(dep.get("ready"), "deployment-ready", f"deployment {label} ready"))
    return out


def _pattern_entries(patterns: pd.DataFrame | None) -> list[dict[str, Any] | None]:
    if patterns is None or len(patterns) == 0 or "new_since_deployment" not in patterns:
        return []
    new = patterns[patterns["new_since_deployment"].notna()]
    new = new.sort_values("count", ascending=False).head(MAX_PATTERNS)
    return [_entry(row["first_seen"], "new-pattern",
                   f"new error pattern ({int(row['count'])}×) after "
                   f"{row['new_since_deployment']}: {quote(row['template'])}")
            for row in new.to_dict("records")]


def _security_entries(security: Mapping[str, Any] | None) -> list[dict[str, Any] | None]:
    if not security:
        return []
    out: list[dict[str, Any] | None] = []
    for ip in security.get("suspicious_ips", [])[:10]:
        reasons = ", ".join(str(r) for r in ip.get("reasons", []))
        out.append(_entry(ip.get("first_seen"), "security",
                          f"first request from suspicious client {quote(ip.get('ip'), 45)} "
                          f"({reasons}; {ip.get('requests')} requests)"))
    return out


def _note_entries(notes: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    for note in notes or []:
        author = note.get("author")
        by = f"{quote(author, 40)}: " if author else ""
        out.append(_entry(note.get("time"), "note", by + quote(note.get("text"), 500)))
    return out


def build_timeline(events: pd.DataFrame | None, deployments: pd.DataFrame | None, *,
                   onset: object = None, recovery: object = None,
                   notes: Iterable[Mapping[str, Any]] | None = None,
                   patterns: pd.DataFrame | None = None,
                   security: Mapping[str, Any] | None = None,
                   onset_method: str = "error-rate",
                   iso_times: bool = False) -> list[dict[str, Any]]:
    """Every dated fact of the incident, sorted by time (then by ``KINDS`` order).

    ``patterns`` (pattern table) and ``security`` (:func:`security_findings` result) are used
    when given; ``events`` is accepted for symmetry with the other analyses and may be None.
    ``onset_method`` is :class:`~irkit.analysis.onset.Onset`'s ``method`` (error-rate or
    latency onset).  ``notes`` are scribe entries ``{time, author, text}``.  ``iso_times``
    gives findings.json's ISO strings instead of timestamps.
    """
    entries: list[dict[str, Any] | None] = [*_deployment_entries(deployments)]
    if onset is not None:
        text = ("latency onset: response times started rising above the baseline"
                if onset_method == "latency" else "error onset: errors rose above the baseline")
        entries.append(_entry(onset, "onset", text))
    if recovery is not None:
        entries.append(_entry(recovery, "recovery", "recovery: error rate back near baseline"))
    entries += _pattern_entries(patterns)
    entries += _security_entries(security)
    entries += _note_entries(notes)
    kept = [e for e in entries if e is not None]
    order = {k: i for i, k in enumerate(KINDS)}
    kept.sort(key=lambda e: (e["time"], order.get(e["kind"], len(KINDS))))
    if iso_times:
        for e in kept:
            e["time"] = buckets.iso(e["time"])
    return kept
