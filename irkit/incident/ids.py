"""Incident ids, severities and run ids: the names that become folders in the archive.

An incident id is the playbook's ``incident-YYYY-MM-DD-NNN`` with a real calendar date.  Because
ids become directory names, validation is the first line of defence that keeps anything a user
passes (``../x``, absolute paths, odd unicode) from writing outside the archive.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from irkit.errors import IrkitError

_ID_RE = re.compile(r"incident-(\d{4})-(\d{2})-(\d{2})-(\d{3})", re.ASCII)
_SEV_RE = re.compile(r"sev-?([1-4])", re.IGNORECASE)
_RUN_RE = re.compile(r"\d{8}T\d{6}\d{6}Z-[0-9a-f]{6}", re.ASCII)


@dataclass(frozen=True)
class Severity:
    """A playbook severity level and the response time it promises."""

    name: str
    description: str
    response: timedelta
    response_text: str
    channel: str


#: The playbook's severity table (response time = time to acknowledge).
SEVERITIES: dict[str, Severity] = {
    "SEV-1": Severity("SEV-1", "Complete service outage or critical security breach",
                      timedelta(minutes=5), "Immediate (< 5 min)", "PagerDuty + Slack #incidents"),
    "SEV-2": Severity("SEV-2", "Major functionality impaired",
                      timedelta(minutes=15), "15 minutes", "PagerDuty + Slack #incidents"),
    "SEV-3": Severity("SEV-3", "Minor functionality impaired",
                      timedelta(hours=1), "1 hour", "Slack #incidents + email"),
    "SEV-4": Severity("SEV-4", "Low impact issues",
                      timedelta(days=1), "Next business day", "Slack #incidents + email"),
}


def validate_incident_id(value: str) -> str:
    """Return ``value`` if it is ``incident-YYYY-MM-DD-NNN`` with a real date, else raise.

    The whole string must match (no path separators, no surrounding whitespace): the id is used
    verbatim as a folder name.
    """
    text = str(value)
    match = _ID_RE.fullmatch(text)
    if match is None:
        raise IrkitError(
            f"incident id {text!r}: expected incident-YYYY-MM-DD-NNN (e.g. incident-2025-01-31-001)"
        )
    year, month, day, _ = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        raise IrkitError(f"incident id {text!r}: {year}-{month}-{day} is not a real date") from None
    if match.group(4) == "000":
        raise IrkitError(f"incident id {text!r}: the number NNN starts at 001")
    return text


def validate_severity(value: str) -> str:
    """Normalise ``SEV-2``/``sev2``/``Sev-2`` to ``SEV-2``; anything else is a usage error."""
    match = _SEV_RE.fullmatch(str(value).strip())
    if match is None:
        raise IrkitError(f"severity {value!r}: expected one of {', '.join(SEVERITIES)}")
    return f"SEV-{match.group(1)}"


def incident_date(incident_id: str) -> date:
    """The calendar date encoded in a (valid) incident id."""
    year, month, day, _ = _ID_RE.fullmatch(validate_incident_id(incident_id)).groups()  # type: ignore[union-attr]
    return date(int(year), int(month), int(day))


def next_incident_id(archive: Path, day: date | None = None) -> str:
    """The first ``incident-<day>-NNN`` with no folder in ``archive`` yet (for ``irkit demo``)."""
    day = day or datetime.now(UTC).date()
    prefix = f"incident-{day:%Y-%m-%d}-"
    taken = {p.name for p in archive.glob(prefix + "*")} if archive.is_dir() else set()
    for n in range(1, 1000):
        candidate = f"{prefix}{n:03d}"
        if candidate not in taken:
            return candidate
    raise IrkitError(f"archive {archive}: no free incident number left for {day:%Y-%m-%d}")


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by creation time and cannot collide: ``<UTC time>Z-<6 hex>``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}"


def is_run_id(name: str) -> bool:
    """Whether a folder name is a committed run (temporary and failed runs are not)."""
    return _RUN_RE.fullmatch(name) is not None
