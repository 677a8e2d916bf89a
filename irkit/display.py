"""Display helpers for templates and notebooks: tables, Markdown and figures that are safe to show.

Everything a template shows ends up in an HTML report that a responder opens in a browser, and
most of what it shows came from log lines that an attacker could write.  These helpers are the
one place where values become HTML or Markdown, so that every log value is escaped (via
:mod:`irkit.safety`) and formatted the same way in every report:

* :func:`show_table` / :func:`table_html` — a formatted, HTML-escaped table (times in UTC,
  thousands separators, long text cut, NA shown as a dash).
* :func:`show_markdown` / :func:`markdown` — a trusted Markdown template with escaped values.
* :func:`show_figure` — a plotly figure rendered with the ``notebook`` renderer, the only one
  whose output survives nbconvert to HTML offline (see ``docs/field-notes.md``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from irkit.safety import html_text, markdown_text

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

#: Shown for missing values, so an empty cell is never mistaken for an empty string.
MISSING = "—"

_TABLE_CSS = (
    "<style>"
    "table.irkit-table{border-collapse:collapse;font-size:12px;margin:0.4em 0}"
    "table.irkit-table th,table.irkit-table td{border:1px solid #ddd;padding:2px 6px;"
    "text-align:left;vertical-align:top;white-space:pre-wrap;word-break:break-word;"
    "max-width:60em}"
    "table.irkit-table th{background:#f4f4f4}"
    "table.irkit-table td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "table.irkit-table caption{caption-side:top;text-align:left;font-weight:bold}"
    ".irkit-note{font-size:11px;color:#666}"
    "</style>"
)

#: plotly's HTML output loads MathJax from a CDN for every figure; reports must be offline.
_MATHJAX_CDN = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>",
                          re.IGNORECASE)

Formatter = Callable[[Any], str]


def format_value(value: Any, *, max_chars: int = 200) -> str:
    """Turn one cell into display text (not yet escaped).

    Times are shown in UTC with the zone spelled out, because responders in different zones read
    the same report; numbers get thousands separators; containers are joined; text longer than
    ``max_chars`` is cut with an ellipsis so one huge stack trace cannot swamp a table.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, float | np.floating) and math.isnan(value):
        return MISSING
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        fmt = "%Y-%m-%d %H:%M:%S.%f" if ts.microsecond else "%Y-%m-%d %H:%M:%S"
        text = ts.strftime(fmt)
        return (text[:-3] if ts.microsecond else text) + " UTC"
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return str(pd.Timedelta(value))
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v.is_integer() and abs(v) < 1e15:
            return f"{v:,.0f}"
        return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}={format_value(v, max_chars=max_chars)}" for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        text = ", ".join(format_value(v, max_chars=max_chars) for v in items)
    else:
        text = str(value)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def table_html(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = 50,
    max_chars: int = 200,
    columns: list[str] | None = None,
    formats: Mapping[str, Formatter] | None = None,
    index: bool = False,
) -> str:
    """The HTML of :func:`show_table`: every header, cell and caption escaped.

    Built by hand rather than with ``DataFrame.to_html`` so that escaping goes through
    :func:`irkit.safety.html_text` (quotes included) and formatting is per cell, whatever the
    column dtype.
    """
    frame = df if columns is None else df[list(columns)]
    if index:
        frame = frame.reset_index()
    formats = dict(formats or {})
    total = len(frame)
    shown = frame.head(max_rows) if max_rows is not None and max_rows >= 0 else frame
    numeric = {name: _is_numeric(shown[name]) for name in shown.columns}

    parts = [_TABLE_CSS, '<table class="irkit-table">']
    if caption:
        parts.append(f"<caption>{html_text(caption)}</caption>")
    parts.append("<thead><tr>")
    parts.extend(f"<th>{html_text(name)}</th>" for name in shown.columns)
    parts.append("</tr></thead><tbody>")
    for row in shown.itertuples(index=False, name=None):
        parts.append("<tr>")
        for name, value in zip(shown.columns, row, strict=True):
            fmt = formats.get(name)
            text = fmt(value) if fmt is not None else format_value(value, max_chars=max_chars)
            cls = ' class="num"' if numeric[name] else ""
            parts.append(f"<td{cls}>{html_text(text)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if len(shown) < total:
        parts.append(f'<div class="irkit-note">showing {len(shown):,} of {total:,} rows</div>')
    elif total == 0:
        parts.append('<div class="irkit-note">no rows</div>')
    return "".join(parts)


def show_table(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    max_rows: int = 50,
    max_chars: int = 200,
    columns: list[str] | None = None,
    formats: Mapping[str, Formatter] | None = None,
    index: bool = False,
) -> None:
    """Display ``df`` as an escaped, formatted HTML table (see :func:`table_html`).

    Templates call this instead of letting a DataFrame render itself, because pandas' own HTML
    repr does not escape cell text and would let a log line inject markup into the report.
    """
    from IPython.display import HTML, display

    display(HTML(table_html(df, caption=caption, max_rows=max_rows, max_chars=max_chars,
                            columns=columns, formats=formats, index=index)))


def markdown(text: str, /, **values: Any) -> str:
    """Fill the trusted Markdown template ``text`` with escaped ``values`` (``str.format`` style).

    Only the template is Markdown; each value is formatted like a table cell and escaped with
    :func:`irkit.safety.markdown_text`, so a value can neither add markup nor run as HTML.
    """
    escaped = {name: markdown_text(format_value(value, max_chars=500))
               for name, value in values.items()}
    return text.format(**escaped)


def show_markdown(text: str, /, **values: Any) -> None:
    """Display :func:`markdown` ``(text, **values)`` as a Markdown output."""
    from IPython.display import Markdown, display

    display(Markdown(markdown(text, **values)))


_plotlyjs_shown = False


def use_notebook_renderer() -> None:
    """Make ``fig.show()`` use plotly's ``notebook`` renderer (plotly.js embedded once).

    The default ``plotly_mimetype`` renderer produces nothing nbconvert can show, and
    ``notebook_connected`` needs a CDN; ``notebook`` embeds plotly.js in the first output so the
    HTML report works offline.  :func:`show_figure` does not need this (it embeds plotly.js
    itself without loading plotly's renderer registry, which imports nbformat's slow
    validator); call it only to make a bare ``fig.show()`` report-safe.
    """
    import plotly.io as pio

    if pio.renderers.default != "notebook":
        pio.renderers.default = "notebook"


def plotlyjs_html() -> str:
    """plotly.js as an inline script, as the ``notebook`` renderer embeds it (no CDN)."""
    from plotly.offline import get_plotlyjs

    return ("<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
            f"<script>{get_plotlyjs()}</script>")


def figure_html(fig: go.Figure, *, height: int | None = None) -> str:
    """The figure as an HTML fragment that draws with an already-loaded plotly.js.

    Equivalent to the ``notebook`` renderer's output without its per-figure MathJax CDN tag.
    """
    import plotly.io as pio

    height = height or fig.layout.height or 525
    html = pio.to_html(fig, include_plotlyjs=False, include_mathjax=False, full_html=False,
                       default_width="100%", default_height=height, validate=False)
    return _MATHJAX_CDN.sub("", html)


def is_static_context() -> bool:
    """True when no live frontend will render the output (papermill, nbclient, plain Python).

    ``IRKIT_STATIC=1``/``0`` forces the answer.  Otherwise: outside an IPython kernel → static;
    inside one, live only when a Jupyter server or an editor started the kernel
    (``JPY_SESSION_NAME`` is set by jupyter_server, ``VSCODE_PID`` by VS Code) — a kernel run
    headless by papermill/nbclient has neither.
    """
    forced = os.environ.get("IRKIT_STATIC")
    if forced is not None and forced.strip() != "":
        return forced.strip().lower() not in ("0", "false", "no")
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return True
    return not ("JPY_SESSION_NAME" in os.environ or "VSCODE_PID" in os.environ)


def show_figure(fig: go.Figure) -> None:
    """Display a plotly figure so that it survives nbconvert to a self-contained HTML report.

    Static context (papermill/nbclient, see :func:`is_static_context`): the figure is a
    ``text/html`` output — the one mimetype nbconvert's HTML export renders — and the first
    call in the kernel also outputs plotly.js itself (about 4.6 MB, once per notebook), like
    the ``notebook`` renderer; nothing is loaded from a CDN.  Live JupyterLab: the plotly
    mimetype is added, which the lab extension draws without a script in the page.
    """
    global _plotlyjs_shown
    from IPython.display import HTML, display

    html = figure_html(fig)
    if is_static_context():
        if not _plotlyjs_shown:
            display(HTML(plotlyjs_html()))
            _plotlyjs_shown = True
        display(HTML(html))
        return
    bundle = {"application/vnd.plotly.v1+json": {**json.loads(fig.to_json()), "config": {}},
              "text/html": html}
    display(bundle, raw=True)
