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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from irkit import schema

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
    """A loaded file: its canonical table, its rejected records and its report."""

    kind: Kind
    table: pd.DataFrame
    report: FileReport
    rejected: pd.DataFrame = field(default_factory=lambda: schema.empty("rejected"))


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_head(path: Path, size: int = HEAD_BYTES) -> str:
    """The first ``size`` bytes of a (possibly gzipped) file as text, BOM stripped."""
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as fh:
        try:
            raw = fh.read(size)
        except (OSError, EOFError):  # truncated gzip: sniff what we could read
            raw = b""
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")
