"""What every input family's loader returns, and the small reading helpers they share.

A loader module (``drains``, ``cli_output``, ``deployments``, ``traces``, ``metrics`` …) exposes

* ``sniff(head: str) -> bool`` — given the first bytes of a file (gunzipped, decoded as UTF-8
  with replacement, BOM stripped), say whether this module reads it.  Detection is by content,
  never by file name.
* ``read(path: Path) -> Loaded`` — read the whole file into one canonical table plus the
  rejected records, so that ``report.rows + report.rejected`` accounts for every input record.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from irkit import schema

if TYPE_CHECKING:
    from irkit.sources.lambda_report import ReportLines

Kind = Literal["events", "deployments", "metrics"]

#: How much of a file the sniffers see.
HEAD_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class FileReport:
    """One line of ``irkit load --json``'s ``files`` list."""

    path: str
    format: str
    lines: int
    rows: int
    rejected: int

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "format": self.format, "lines": self.lines,
                "rows": self.rows, "rejected": self.rejected}


@dataclass
class Loaded:
    """A loaded file: its canonical table, its rejected records and its report.

    ``reports``: where the table's Lambda REPORT lines are, when the loader already found them
    (the JSON loaders do, inside their query); ``None`` means "not looked for yet".
    """

    kind: Kind
    table: pd.DataFrame
    report: FileReport
    rejected: pd.DataFrame = field(default_factory=lambda: schema.empty("rejected"))
    reports: ReportLines | None = None


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_head(path: Path, size: int = HEAD_BYTES) -> str:
    """The first ``size`` bytes of a (possibly gzipped) file as text, BOM stripped.

    A truncated or damaged gzip stream yields whatever decompressed before the damage, so a
    cut-off delivery is still recognised (and then loaded up to the cut).
    """
    if is_gzip(path):
        raw = _gunzip_prefix(path, size)
    else:
        with open(path, "rb") as fh:
            raw = fh.read(size)
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


def _gunzip_prefix(path: Path, size: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=31)
    out = bytearray()
    with open(path, "rb") as fh:
        while len(out) < size and not decompressor.eof:
            chunk = decompressor.unconsumed_tail + fh.read(1 << 16)
            if not chunk:
                break
            try:
                out += decompressor.decompress(chunk, size - len(out))
            except zlib.error:
                break
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Line reading shared by every line-oriented loader.
#
# Decisions (documented in the README's loading section):
# * a UTF-8 BOM at the start of a file is dropped; CRLF line ends are accepted;
# * invalid UTF-8 bytes are replaced with U+FFFD and the line is loaded (the evidence stays
#   readable and the row count stays honest; the raw file is archived byte for byte anyway);
# * blank or whitespace-only lines are not records: they are counted nowhere;
# * a truncated gzip stream yields the lines read so far, then one rejected record saying so.
# --------------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    """One physical input line (1-based ``number``), decoded, without its line end."""

    number: int
    text: str


def open_binary(path: Path):
    """Open ``path`` for binary reading, transparently gunzipping gzip content."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def iter_lines(path: Path, truncated: list[int] | None = None):
    """Yield every non-blank :class:`Line` of ``path`` (gzip or plain, any line ends).

    If the gzip stream is truncated, iteration stops after the last complete data and the
    1-based number of the first line that could not be read is appended to ``truncated``.
    """
    number = 0
    with open_binary(path) as fh:
        while True:
            try:
                raw = fh.readline()
            except (EOFError, OSError, gzip.BadGzipFile):
                if truncated is not None:
                    truncated.append(number + 1)
                return
            if not raw:
                return
            number += 1
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                yield Line(number, text)


@dataclass
class LineCount:
    """Result of :func:`count_lines`: physical lines and whether the count is trustworthy."""

    lines: int
    complete: bool  # False when a gzip stream was truncated or unreadable


def count_lines(path: Path, chunk: int = 1 << 24) -> LineCount:
    """Count physical lines (a last line without a newline counts) as fast as the disk allows.

    The fast NDJSON path compares this with the number of records its parser produced: when
    they agree, record *k* came from line *k*, so provenance needs no per-line work.  A plain
    file is counted through memory-mapped windows (no copy out of the page cache; each window
    is unmapped before the next, so resident memory stays at one window); gzip is streamed
    through one reused buffer.
    """
    import numpy as np

    if not is_gzip(path):
        return _count_mapped(path, chunk * 4)
    buffer = bytearray(chunk)
    view = np.frombuffer(buffer, dtype=np.uint8)
    lines = 0
    last = 10
    complete = True
    with open_binary(path) as fh:
        while True:
            try:
                size = fh.readinto(buffer)
            except (EOFError, OSError, gzip.BadGzipFile):
                complete = False
                break
            if not size:
                break
            lines += int(np.count_nonzero(view[:size] == 10))
            last = buffer[size - 1]
    return LineCount(lines + (last != 10), complete)


def _count_mapped(path: Path, window: int) -> LineCount:
    import mmap

    import numpy as np

    lines = 0
    last = 10
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        for offset in range(0, size, window):  # window is a multiple of the page size
            length = min(window, size - offset)
            with mmap.mmap(fh.fileno(), length, access=mmap.ACCESS_READ,
                           offset=offset) as mapped:
                data = np.frombuffer(mapped, dtype=np.uint8)
                lines += int(np.count_nonzero(data == 10))
                last = int(data[-1])
                del data  # the map cannot close while a view of it lives
    return LineCount(lines + (last != 10), True)


class Rejections:
    """Collects rejected records (file, line, reason, raw text) for one input file."""

    def __init__(self, origin_file: str) -> None:
        self.origin_file = origin_file
        self.lines: list[int] = []
        self.reasons: list[str] = []
        self.raws: list[str | None] = []

    def add(self, line: int, reason: str, raw: str | None) -> None:
        self.lines.append(line)
        self.reasons.append(reason)
        self.raws.append(raw if raw else None)

    def __len__(self) -> int:
        return len(self.lines)

    def frame(self) -> pd.DataFrame:
        """The canonical ``rejected`` table of everything collected so far."""
        return schema.conform({
            "origin_file": [self.origin_file] * len(self.lines),
            "origin_line": self.lines,
            "reason": self.reasons,
            "raw": self.raws,
        }, "rejected")
