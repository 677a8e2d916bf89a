"""Making attacker-controlled log text harmless where it is shown or exported.

Log content is written by whoever sends requests.  Every place a log value reaches a report
(HTML tables, plotly labels and hover text, Markdown) or an exported CSV goes through one of
these functions, so that nothing from a log can run as script or as a spreadsheet formula.
"""

from __future__ import annotations

import csv
import html
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported lazily: `irkit patterns --text` must start fast
    import pandas as pd

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Characters that form Markdown markup anywhere in a line (emphasis, code, links, tables,
#: strikethrough, math).  ``<`` and ``&`` are HTML-escaped before this, and with ``[`` ``]``
#: escaped no link or image can form, so ``( ) ! .`` need no escape inside a line.
_MD_INLINE = str.maketrans({c: "\\" + c for c in "\\`*_[]|~$"})
#: What makes a line a heading, list item, quote or rule when it starts the line.
_MD_LINE_START = re.compile(r"^(?:([#+=-])|(\d+)([.)])(?=\s|$))")

#: Invisible characters that change how text *looks* without being seen: bidirectional
#: overrides/embeddings/isolates (an RTL override makes ``invoice\u202egnp.exe`` read as
#: ``invoiceexe.png``), zero-width characters and the BOM.  Reports show them as visible
#: ``<U+202E>`` marks instead, so what a responder reads is what the log holds.
INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)
_VISIBLE = {ord(c): f"<U+{ord(c):04X}>" for c in INVISIBLE}


def _missing(value: Any) -> bool:
    return value is None or type(value).__name__ == "NAType"  # pd.NA, without importing pandas


def visible_text(value: str) -> str:
    """Replace invisible direction and zero-width characters by visible ``<U+XXXX>`` marks."""
    return value.translate(_VISIBLE)


def html_text(value: Any) -> str:
    """Escape a value for HTML text and attributes (also used for plotly labels/hover text)."""
    if _missing(value):
        return ""
    return html.escape(visible_text(str(value)), quote=True)


def markdown_text(value: Any) -> str:
    """Escape a value for Markdown so it renders as literal text, never as markup or HTML."""
    if _missing(value):
        return ""
    text = " ".join(visible_text(str(value)).split())  # no line breaks: they end a table row
    # quote=False: the entities for quotes (&#x27;) contain "#", which the Markdown escaping
    # below would break into literal text; quotes are not markup in Markdown text anyway.
    text = html.escape(text, quote=False).translate(_MD_INLINE)
    # a value may start a line (a list item, a paragraph): keep it from becoming one
    return _MD_LINE_START.sub(_escape_line_start, text, count=1)


def _escape_line_start(match: re.Match[str]) -> str:
    marker, digits, delimiter = match.groups()
    return "\\" + marker if marker else digits + "\\" + delimiter


def csv_cell(value: Any) -> Any:
    """Neutralise a CSV cell that a spreadsheet would run as a formula (prefix with ``'``)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas in a spreadsheet."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            out[name] = col.map(csv_cell, na_action="ignore")
    return out


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write ``frame`` as a CSV that is safe to open in a spreadsheet.

    Cells go through :func:`csv_safe`, and every text cell is quoted: a bare CR inside an
    unquoted cell ends the row for Excel, and whatever follows (``=cmd|...``) would start a new,
    un-neutralised cell.  Extra keyword arguments go to :meth:`pandas.DataFrame.to_csv`.
    """
    target = Path(path)
    options: dict[str, Any] = {"index": False, "lineterminator": "\n",
                               "quoting": csv.QUOTE_NONNUMERIC}
    options.update(kwargs)
    csv_safe(frame).to_csv(target, **options)
    return target
