"""Making attacker-controlled log text harmless where it is shown or exported.

Log content is written by whoever sends requests.  Every place a log value reaches a report
(HTML tables, plotly labels and hover text, Markdown) or an exported CSV goes through one of
these functions, so that nothing from a log can run as script or as a spreadsheet formula.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~"})


def html_text(value: Any) -> str:
    """Escape a value for HTML text and attributes (also used for plotly labels/hover text)."""
    if value is None or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


def markdown_text(value: Any) -> str:
    """Escape a value for Markdown so it renders as literal text, never as markup or HTML."""
    if value is None or value is pd.NA:
        return ""
    text = " ".join(str(value).split())  # no line breaks: they would end a table row
    return html.escape(text, quote=True).translate(_MD_SPECIAL)


def csv_cell(value: Any) -> Any:
    """Neutralise a CSV cell that a spreadsheet would run as a formula (prefix with ``'``)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas in a spreadsheet."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if pd.api.types.is_string_dtype(col) or col.dtype == object:
            out[name] = col.map(csv_cell, na_action="ignore")
    return out
