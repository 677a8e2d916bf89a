"""Reading JSON records out of files with provenance, never losing one.

NDJSON: one record per non-blank line (a line holding a JSON array contributes each element,
as ``irkit receive`` spools whole deliveries); JSON documents: the elements of a top-level array
(or of a named list inside an object), numbered 1.. in order.  A document that does not parse is
salvaged record by record, so one bad byte costs one record, not the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import orjson

from irkit.sources.base import BOM, iter_lines, open_binary
from irkit.sources.records import RawRejection

Record = tuple[int, object]

_RECORD_START = re.compile(r"[\[,]\s*\{|\n\s*\{")


def numbered_lines(path: Path) -> Iterator[tuple[int, str | RawRejection]]:
    """``(line, text)`` for every non-blank line; a cut gzip stream ends with one
    :meth:`RawRejection.truncated` at the first line that could not be read."""
    truncated: list[int] = []
    for line in iter_lines(path, truncated):
        yield line.number, line.text
    if truncated:
        yield truncated[0], RawRejection.truncated()


def ndjson_records(path: Path) -> Iterator[Record]:
    """``(line, object)`` for every non-blank line; malformed lines as :class:`RawRejection`."""
    for number, text in numbered_lines(path):
        if isinstance(text, RawRejection):
            yield number, text
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield number, RawRejection(f"malformed JSON ({exc})", text)
            continue
        if isinstance(value, list):
            for item in value:
                yield number, item
        else:
            yield number, value


def read_text(path: Path) -> tuple[str, bool]:
    """The whole file as text (gunzipped, BOM dropped, invalid UTF-8 replaced) and whether the
    gzip stream was complete."""
    chunks: list[bytes] = []
    complete = True
    with open_binary(path) as fh:
        while True:
            try:
                block = fh.read(1 << 24)
            except (EOFError, OSError):
                complete = False
                break
            if not block:
                break
            chunks.append(block)
    raw = b"".join(chunks)
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    return raw.decode("utf-8", errors="replace"), complete


def document_records(path: Path, list_keys: tuple[str, ...] = ()) -> Iterator[Record]:
    """Records of a JSON document: a top-level array's elements, or the list under one of
    ``list_keys`` of a top-level object, or the object itself.  Numbered from 1."""
    text, complete = read_text(path)
    last = 0
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        records: Iterator[Record] = salvage_records(text)
    else:
        if isinstance(value, dict):
            for key in list_keys:
                if isinstance(value.get(key), list):
                    value = value[key]
                    break
        records = enumerate(value if isinstance(value, list) else [value], start=1)
    for last, record in records:
        yield last, record
    if not complete:
        yield last + 1, RawRejection.truncated()


def salvage_records(text: str) -> Iterator[Record]:
    """Decode a damaged JSON array (or several concatenated) element by element.

    Between records, brackets, commas and whitespace are skipped; a record that does not decode
    is rejected up to the next place a record plausibly starts.
    """
    decoder = json.JSONDecoder()
    index = 0
    pos = 0
    end = len(text)
    while pos < end:
        while pos < end and text[pos] in " \t\r\n,[]":
            pos += 1
        if pos >= end:
            break
        index += 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            found = _RECORD_START.search(text, pos + 1)
            stop = found.start() + (0 if found.group().startswith("\n") else 1) if found else end
            stop = max(stop, pos + 1)
            yield index, RawRejection(f"malformed JSON record ({exc.msg})", text[pos:stop].strip())
            pos = stop
            continue
        yield index, value


def head_objects(head: str, limit: int = 5) -> list[dict]:
    """Up to ``limit`` JSON objects parsed from the complete non-blank lines of a file head.

    Sniffers use these to recognise NDJSON formats by their keys; lines that do not parse (a
    corrupt first line, the cut-off last line of the head) are skipped.
    """
    found: list[dict] = []
    lines = head.splitlines()
    if len(head) >= 60_000 and lines:
        lines = lines[:-1]  # probably cut off by the head size
    for text in lines:
        text = text.strip()
        if not text.startswith("{"):
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(value)
            if len(found) >= limit:
                break
    return found


def first_char(head: str) -> str:
    """The first non-whitespace character of a file head ('' if none)."""
    stripped = head.lstrip()
    return stripped[:1]
