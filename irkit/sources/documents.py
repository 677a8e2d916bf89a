"""Reading whole-file JSON documents: deployments, OTLP traces, JSON metrics, observability.

These inputs are one JSON document per file (an API response, an OTLP export), or — when a
collector appended several responses — one document per line.  :func:`read_documents` returns
the parsed documents with the line each started on, and turns everything it cannot parse into
rejected records with the raw text, so the loaders built on it never lose input and never raise
on bad bytes.

Decisions: gzip is detected by content; a UTF-8 BOM is dropped; invalid UTF-8 is replaced with
U+FFFD (same as the line loaders); a file that is not valid JSON as a whole is read as JSON Lines
only if its first line is a complete JSON value on its own — otherwise (a truncated pretty-printed
response, say) it is one rejected record holding the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from irkit.sources.base import Rejections
from irkit.sources.jsoninput import read_text

#: Longest raw text kept in one rejected record (the raw file itself is archived byte for byte).
MAX_RAW = 1_000_000


@dataclass
class Documents:
    """The JSON documents of one file and the input that could not be parsed."""

    items: list[tuple[int, object]]  # (1-based line the document starts on, parsed value)
    rejections: Rejections
    lines_mode: bool = False  # True when the file was read as one document per line
    notes: list[str] = field(default_factory=list)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_RAW else text[:MAX_RAW] + "…"


def _json_error(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def read_documents(path: Path, origin_file: str | None = None) -> Documents:
    """Parse ``path`` as one JSON document, or as JSON Lines; reject what does not parse."""
    origin = origin_file or str(path)
    rejections = Rejections(origin)
    text, complete = read_text(path)
    docs = Documents([], rejections)
    if not complete:
        docs.notes.append("gzip stream truncated")
    if not text.strip():
        return docs
    try:
        docs.items.append((1, orjson.loads(text)))
        return docs
    except orjson.JSONDecodeError as whole_error:
        lines = text.splitlines()
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        try:
            orjson.loads(lines[first])
        except orjson.JSONDecodeError:
            reason = f"invalid JSON document: {_json_error(whole_error)}"
            if not complete:
                reason += " (gzip stream truncated)"
            rejections.add(first + 1, reason, _clip(text))
            return docs
    docs.lines_mode = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            docs.items.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            rejections.add(number, f"invalid JSON line: {_json_error(exc)}", _clip(line))
    if not complete:
        rejections.add(len(lines) + 1, "gzip stream truncated: the rest is unreadable", None)
    return docs


def compact(value: object) -> str:
    """A record as compact JSON text, for the ``raw`` column of a rejection."""
    try:
        return _clip(orjson.dumps(value).decode())
    except (TypeError, orjson.JSONEncodeError):
        return _clip(repr(value))


_FIRST_VALUE = re.compile(r"\A\s*([\[{])")


def head_opens(head: str) -> str | None:
    """``"{"`` or ``"["`` when the head starts a JSON object or array, else ``None``."""
    match = _FIRST_VALUE.match(head)
    return match.group(1) if match else None


def iter_records(docs: Documents, extract: Callable[[object], list[object] | None],
                 shape: str) -> Iterator[tuple[int, object]]:
    """Flatten documents into ``(origin_line, record)`` with ``extract(document)``.

    ``extract`` returns the document's records, or ``None`` when the document does not have the
    expected ``shape`` (then the whole document is rejected, naming the shape).  In
    single-document mode the origin is the 1-based record index across the file; in JSON Lines
    mode it is the line the record's document is on.
    """
    index = 0
    for line, doc in docs.items:
        records = extract(doc)
        if records is None:
            docs.rejections.add(line, f"not {shape}", compact(doc))
            continue
        for record in records:
            index += 1
            yield (line if docs.lines_mode else index), record
