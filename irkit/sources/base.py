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
import threading
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
    """Result of :func:`count_lines`: physical lines, whether the count is trustworthy, and
    the first blank (empty or whitespace-only) line, which a JSON parser skips silently."""

    lines: int
    complete: bool  # False when a gzip stream was truncated or unreadable
    first_blank: int | None = None


#: Bytes that may make up a blank line besides its newline (JSON whitespace).
_BLANK_BYTES = (32, 9, 13)
#: The scan looks at this many bytes at a time (within a mapped window), through one reused
#: mask: a window-sized temporary would fault in fresh pages on every window.
_STEP = 1 << 20


class LineScan:
    """Counts lines and finds the first blank one, window by window, for a reader to wait on.

    Why: the fast NDJSON path numbers records by position, which is right only while every
    line holds one record.  A malformed line makes the parser fail (the slow path takes over
    there), but a blank line is skipped *silently*, shifting every later record by one.  A
    streaming reader therefore asks :meth:`clean_through` before handing out rows: it waits
    until the scan has passed that many lines (the scan runs far ahead of any JSON parser)
    and learns whether they are all non-blank.  Plain files are read through memory-mapped
    windows (no copy out of the page cache, one window resident at a time); gzip streams
    through one reused buffer.  With ``find_blank=False`` it only counts (see
    :func:`count_lines`), and :meth:`clean_through` must not be asked.
    """

    def __init__(self, path: Path, window: int = 1 << 26, find_blank: bool = True) -> None:
        self.path = path
        self.window = window
        self.find_blank = find_blank
        self.lines = 0  # complete (newline-terminated) lines scanned so far
        self.first_blank: int | None = None
        self.complete = True
        self.done = False
        self._last = 10
        self._at_start = True  # the next byte starts a line
        self._in_blank = False  # the line being scanned is whitespace so far
        self._changed = threading.Condition()
        self._newline_mask = None  # reused for every step: no fresh pages to fault in

    # ---------------------------------------------------------------- scanning

    def run(self) -> LineCount:
        """Scan the whole file (call it on a thread to stream beside a parser)."""
        try:
            if is_gzip(self.path):
                self._scan_gzip()
            else:
                self._scan_mapped()
        finally:
            with self._changed:
                if self._in_blank and self._last != 10 and self.first_blank is None:
                    self.first_blank = self.lines + 1  # a whitespace-only last line
                self.done = True
                self._changed.notify_all()
        return self.result()

    def result(self) -> LineCount:
        return LineCount(self.lines + (self._last != 10), self.complete, self.first_blank)

    def _scan_mapped(self) -> None:
        import mmap

        import numpy as np

        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            for offset in range(0, size, self.window):  # a multiple of the page size
                with mmap.mmap(fh.fileno(), min(self.window, size - offset),
                               access=mmap.ACCESS_READ, offset=offset) as mapped:
                    data = np.frombuffer(mapped, dtype=np.uint8)
                    self._feed(data)
                    del data  # the map cannot close while a view of it lives

    def _scan_gzip(self, chunk: int = 1 << 24) -> None:
        import numpy as np

        buffer = bytearray(chunk)
        view = np.frombuffer(buffer, dtype=np.uint8)
        with open_binary(self.path) as fh:
            while True:
                try:
                    size = fh.readinto(buffer)
                except (EOFError, OSError, gzip.BadGzipFile):
                    self.complete = False
                    return
                if not size:
                    return
                self._feed(view[:size])

    def _feed(self, data) -> None:
        """Account for a window, a step of at most :data:`_STEP` bytes at a time."""
        for start in range(0, len(data), _STEP):
            self._feed_step(data[start:start + _STEP])

    def _feed_step(self, data) -> None:
        """Account for one step: its newlines, and any line in it that is blank."""
        import numpy as np

        if self._newline_mask is None:
            self._newline_mask = np.empty(_STEP, dtype=bool)
        mask = self._newline_mask[:len(data)]
        np.equal(data, 10, out=mask)
        blank = None
        if self.find_blank and self.first_blank is None:
            newlines = np.flatnonzero(mask)
            count = len(newlines)
            blank = self._first_blank_in(data, newlines)
        else:
            count = int(np.count_nonzero(mask))
        with self._changed:
            if blank is not None:
                self.first_blank = blank
            self.lines += count
            self._last = int(data[-1])
            self._changed.notify_all()

    def _first_blank_in(self, data, newlines) -> int | None:
        """Line number of the first blank line this window completes, if any."""
        import numpy as np

        n = len(data)
        starts = newlines + 1
        if self._at_start:
            starts = np.concatenate([[0], starts])
        starts = starts[starts < n]
        self._at_start = bool(data[-1] == 10)
        # a line is blank only if its first byte already is whitespace or a newline: cheap
        # to test for every line, and true for almost none in real logs
        first = data[starts]
        candidates = starts[np.isin(first, (10, *_BLANK_BYTES))]
        carried = self._in_blank  # the previous window ended inside a whitespace-only line
        self._in_blank = False
        positions = ([0] if carried else []) + [int(c) for c in candidates]
        for start in positions:
            end = start
            while end < n and data[end] in _BLANK_BYTES:
                end += 1
            if end == n:  # whitespace up to the window's end: decided in the next window
                self._in_blank = True
                return None
            if data[end] == 10:
                return self.lines + int(np.searchsorted(newlines, start)) + 1
        return None

    # ---------------------------------------------------------------- waiting

    def clean_through(self, lines: int) -> int | None:
        """Wait until the first ``lines`` lines are scanned; ``None`` if none of them is blank,
        else the number of the first blank line (``<= lines``)."""
        with self._changed:
            self._changed.wait_for(lambda: self.done or self.lines >= lines
                                   or (self.first_blank is not None
                                       and self.first_blank <= lines))
            if self.first_blank is not None and self.first_blank <= lines:
                return self.first_blank
            return None


def count_lines(path: Path) -> LineCount:
    """Count physical lines (a last line without a newline counts), as fast as the disk allows.

    Blank lines are not looked for (``first_blank`` stays ``None``): a whole-file check does not
    need them.  DuckDB's NDJSON reader raises on every non-blank line that is not exactly one
    JSON object and skips blank ones, so its record count equals this count exactly when no
    line is blank.  Counting alone costs less than half of a full :class:`LineScan`.
    """
    return LineScan(path, find_blank=False).run()


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
