"""Executed notebooks to self-contained, offline HTML reports.

nbconvert's stock ``lab`` template links require.js, MathJax and (for widgets) a widget manager
from CDNs, and plotly adds a MathJax CDN tag per figure: opened offline such a report makes
network requests and may show blank plots.  The ``irkit_report`` template shipped next to this
module removes those blocks and adds a title block; :func:`strip_external_scripts` removes any
remaining ``<script src="http…">``.  plotly.js itself is embedded once, by the ``notebook``
renderer the templates use.  Code is hidden unless asked for, and the papermill
``injected-parameters`` cell is always dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "nbconvert_template"
TEMPLATE_NAME = "irkit_report"
#: Reports above this size are flagged (plotly.js alone is ~5 MB).
MAX_REPORT_BYTES = 8 * 1024 * 1024

_EXTERNAL_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.IGNORECASE)
_EXTERNAL_LINK = re.compile(
    r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE)
#: A string unique to the plotly.js bundle, to count how often it is embedded.
PLOTLY_MARKER = "* plotly.js v"
#: An inline copy of the plotly.js bundle (it starts with its licence comment).
_PLOTLY_BUNDLE = re.compile(r"<script[^>]*>\s*/\*\*\s*\* plotly\.js v.*?</script>", re.DOTALL)


@dataclass
class ReportInfo:
    """What the title block shows."""

    title: str
    incident_id: str
    severity: str
    window: str
    generated_at: str
    run_id: str
    version: str
    error: str | None = None

    def as_resources(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def strip_external_scripts(html: str) -> str:
    """Remove ``<script src>`` / ``<link href>`` tags that point at another host."""
    return _EXTERNAL_LINK.sub("", _EXTERNAL_SCRIPT.sub("", html))


def embed_plotly_once(html: str) -> str:
    """Make the page carry exactly one inline plotly.js, in ``<head>``, iff it draws figures.

    The ``notebook`` renderer embeds plotly.js when it is activated, which depends on how the
    template displays figures; normalising here guarantees offline figures and a single copy
    (~4.7 MB) whatever the notebook did.
    """
    html = _PLOTLY_BUNDLE.sub("", html)
    if "Plotly.newPlot" not in html:
        return html
    from plotly.offline import get_plotlyjs

    bundle = ("<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
              f"<script type=\"text/javascript\">{get_plotlyjs()}</script>\n")
    head_end = html.find("</head>")
    if head_end < 0:
        return bundle + html
    return html[:head_end] + bundle + html[head_end:]


def exporter(show_code: bool = False) -> Any:
    """An HTMLExporter configured for irkit reports."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"injected-parameters", "remove-cell"}
    config.TagRemovePreprocessor.remove_input_tags = {"hide-input", "parameters"}
    exp = HTMLExporter(config=config, template_name=TEMPLATE_NAME,
                       extra_template_basedirs=[str(TEMPLATE_DIR)])
    exp.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    exp.exclude_input = not show_code
    exp.exclude_input_prompt = True
    exp.exclude_output_prompt = True
    exp.embed_images = True
    return exp


def render_html(notebook: Path, out: Path, info: ReportInfo, *, show_code: bool = False) -> Path:
    """Render an executed notebook to ``out`` as a self-contained HTML report."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = f"{info.title} — {info.incident_id}"
    body, _ = exporter(show_code).from_notebook_node(
        nb, resources={"irkit": info.as_resources()})
    out.write_text(embed_plotly_once(strip_external_scripts(body)), encoding="utf-8")
    return out


def notebook_error(notebook: Path) -> str | None:
    """The first error output of an executed notebook, as one line (None if it ran cleanly)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index}: {output.get('ename')}: {output.get('evalue')}"[:500]
    return None
