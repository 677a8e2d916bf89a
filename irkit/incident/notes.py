"""``irkit note``: the scribe's timestamped timeline, kept next to the incident's runs.

Entries are appended as JSON lines to ``<archive>/<incident_id>/notes.jsonl`` under the
incident lock (several responders may note at once).  Each entry has a ``kind`` so that the
status update and the PIR can pick out actions, next steps, the root cause, lessons and action
items without anyone re-typing them.  Each ``irkit open`` copies the file into the run's
evidence, so a run records the timeline as it was.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from irkit.errors import IrkitError
from irkit.incident import archive as arc
from irkit.incident.tables import read_notes

#: kind -> how it reads in a timeline (the PIR/playbook wording where there is one).
KINDS: dict[str, str] = {
    "note": "Note",
    "alert": "Alert received",
    "ic": "IC assigned",
    "open": "Incident opened",
    "action": "Action taken",
    "next": "Next step",
    "eta": "ETA",
    "status": "Status changed",
    "root-cause": "Root cause identified",
    "mitigation": "Mitigation deployed",
    "resolved": "Incident resolved",
    "resolution": "Resolution",
    "went-well": "Lesson: what went well",
    "went-badly": "Lesson: what didn't go well",
    "lucky": "Lesson: where we got lucky",
    "action-item": "Action item",
}
MAX_NOTE_CHARS = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Strip control characters (terminal escapes) from text that will be printed or archived."""
    return _CONTROL.sub("", str(text)).strip()


def notes_path(root: Path, incident_id: str) -> Path:
    return arc.incident_dir(root, incident_id) / "notes.jsonl"


def default_author() -> str:
    """``$USER`` (what the playbook's scribe is logged in as), else the login name."""
    author = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not author:
        try:
            author = getpass.getuser()
        except (OSError, KeyError):
            author = "unknown"
    return author


def parse_time(value: str | None) -> datetime:
    """A note's time: now, or an ISO time given by the scribe (naive means UTC)."""
    if value is None:
        return datetime.now(UTC)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise IrkitError(f"--at {value!r}: expected an ISO time like 2025-01-31T14:05Z") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def add_note(root: Path, incident_id: str, text: str, *, author: str | None = None,
             kind: str = "note", at: str | None = None) -> dict[str, Any]:
    """Append one entry to the incident timeline and return it."""
    if kind not in KINDS:
        raise IrkitError(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
    body = clean_text(text)
    if not body:
        raise IrkitError("note text: empty")
    if len(body) > MAX_NOTE_CHARS:
        raise IrkitError(f"note text: {len(body)} characters, at most {MAX_NOTE_CHARS}")
    entry = {
        "time": parse_time(at).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "author": clean_text(author or default_author())[:100] or "unknown",
        "kind": kind,
        "text": body,
    }
    path = notes_path(root, incident_id)
    with arc.incident_lock(root, incident_id), open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def incident_notes(root: Path, incident_id: str) -> list[dict[str, Any]]:
    """The incident's entries, in time order."""
    notes = read_notes(notes_path(root, incident_id))
    return sorted(notes, key=lambda n: str(n.get("time")))
