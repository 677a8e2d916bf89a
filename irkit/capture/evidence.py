"""The collection folder: raw response files plus ``collection.json``, the log of what was asked.

The log is rewritten (atomically) after every call, so an interrupted or killed collection still
says what it holds and that it is incomplete.  Nothing here ever sees the token: files get response
bodies, the log gets URLs (the token travels in a header) and a few response headers, and every
text passes through the client's :class:`~irkit.capture.vercel_api.Redactor` anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irkit import __version__
from irkit.capture.vercel_api import ApiResponse, now_iso
from irkit.errors import IrkitError

LOG_NAME = "collection.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(value: str, limit: int = 100) -> str:
    """A file-name fragment from an API-supplied id: no separators, no leading dots.

    Ids come from responses, which a misbehaving proxy controls; they must never steer a write
    outside the collection folder.
    """
    cleaned = _UNSAFE.sub("_", value).lstrip(".")[:limit]
    return cleaned or "unnamed"


class CollectionLog:
    """Writes evidence files under ``out`` and keeps ``collection.json`` current."""

    def __init__(self, out: Path, params: dict[str, Any], redact: Callable[[str], str]) -> None:
        self.out = out
        self.redact = redact
        self.data: dict[str, Any] = {
            "tool": f"irkit {__version__}",
            "started": now_iso(),
            "finished": None,
            "state": "running",
            "complete": False,
            "partial_reasons": [],
            "skipped": [],
            "params": params,
            "calls": [],
            "files": [],
            "inputs": {"logs": [], "deployments": [], "metrics": []},
        }

    @classmethod
    def create(cls, out: Path, params: dict[str, Any],
               redact: Callable[[str], str]) -> CollectionLog:
        """Start a collection in ``out``, which must be new or empty (evidence is never mixed)."""
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise IrkitError(f"--out {out}: exists and is not an empty directory "
                             "(collections are never overwritten or mixed)")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IrkitError(f"--out {out}: cannot create ({exc.strerror or exc})") from None
        log = cls(out, params, redact)
        log.save()
        return log

    # -- writing ----------------------------------------------------------------------------------

    def path(self, relative: str) -> Path:
        target = (self.out / relative).resolve()
        if not target.is_relative_to(self.out.resolve()):
            raise IrkitError(f"{relative}: refusing to write outside {self.out}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, relative: str, content: bytes, *, input_kind: str | None = None) -> str:
        """Write ``content`` byte for byte; list it (and optionally as a loader input)."""
        target = self.path(relative)
        with open(target, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        self.add_file(relative, len(content), hashlib.sha256(content).hexdigest(), input_kind)
        return relative

    def add_file(self, relative: str, size: int, sha256: str, input_kind: str | None) -> None:
        self.data["files"].append({"path": relative, "bytes": size, "sha256": sha256})
        if input_kind:
            self.data["inputs"][input_kind].append(relative)

    def call(self, name: str, response: ApiResponse, *, file: str | None = None,
             outcome: str | None = None, note: str | None = None) -> None:
        """Record one API call (after retries) and persist the log."""
        entry = {"name": name, **response.log_entry(), "file": file,
                 "outcome": outcome or ("ok" if response.ok else "failed")}
        if note:
            entry["note"] = self.redact(note)
        self.data["calls"].append(entry)
        self.save()

    def partial(self, reason: str) -> None:
        """Something we wanted is missing: the collection will be marked incomplete."""
        self.data["partial_reasons"].append(self.redact(reason))
        self.save()

    def skip(self, what: str, reason: str) -> None:
        """Something optional is not available (plan, endpoint gone): noted, not partial."""
        self.data["skipped"].append({"what": what, "reason": self.redact(reason)})
        self.save()

    def finish(self, state: str = "finished") -> bool:
        """Close the log; returns whether the collection is complete."""
        complete = state == "finished" and not self.data["partial_reasons"]
        self.data.update(finished=now_iso(), state=state, complete=complete)
        self.save()
        return complete

    def save(self) -> None:
        text = self.redact(json.dumps(self.data, indent=2, ensure_ascii=False)) + "\n"
        target = self.out / LOG_NAME
        tmp = target.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)


def evidence_paths(out: Path) -> dict[str, list[Path]]:
    """The loader inputs of a finished collection, by kind (``logs``, ``deployments``, …).

    Raw deployment pages are kept as evidence but not listed: ``deployments.json`` holds the
    same deployments once each, so loading both would count them twice.  Build events are logs
    (``irkit.sources.build_events`` reads them); collections made before that listed them under
    ``build_events``, which is folded into ``logs`` here so they load too.
    """
    try:
        data = json.loads((out / LOG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IrkitError(f"{out / LOG_NAME}: not a readable collection log ({exc})") from None
    inputs = {kind: [out / p for p in paths] for kind, paths in data.get("inputs", {}).items()}
    inputs.setdefault("logs", []).extend(inputs.pop("build_events", []))
    return inputs
