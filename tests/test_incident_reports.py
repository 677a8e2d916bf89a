"""Executing and rendering a (small) template: offline HTML, hidden code, failures kept.

These use a tiny notebook rather than the real templates so they are fast and independent of the
analysis modules; the real templates are exercised end to end in ``test_incident_run.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from irkit.incident.reports import (
    PLOTLY_MARKER,
    ReportInfo,
    embed_plotly_once,
    render_html,
    strip_external_scripts,
)
from irkit.incident.runner import TemplateJob, execute_template

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def tiny_template(path: Path, *, fail: bool = False) -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = new_code_cell("label = 'default'\nsecret_looking_param = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        new_code_cell("import pandas as pd\nimport plotly.graph_objects as go\n"
                      "from irkit.display import show_figure, show_table\n"
                      f"evil = {EVIL!r}"),
        new_code_cell("show_table(pd.DataFrame({'message': [evil], 'n': [3]}))"),
        new_code_cell("fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[2, 1, 3], name=evil))\n"
                      "fig.update_layout(title='one', xaxis_title='time (UTC)')\n"
                      "show_figure(fig)"),
        new_code_cell("show_figure(go.Figure(go.Bar(x=['a'], y=[1])).update_layout(title='two'))"),
    ]
    if fail:
        nb.cells.append(new_code_cell("raise RuntimeError('boom in template')"))
        nb.cells.append(new_code_cell("print('after the failure')"))
    nbformat.write(nb, path)
    return path


def run_job(tmp_path: Path, *, fail: bool = False, show_code: bool = False):
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    (run / "reports").mkdir()
    job = TemplateJob(
        name="tiny", template=str(tiny_template(tmp_path / "tiny.ipynb", fail=fail)),
        notebook=str(run / "notebooks" / "tiny.ipynb"), report=str(run / "reports" / "tiny.html"),
        cwd=str(run / "notebooks"), parameters={"label": "from papermill"},
        info=ReportInfo(title="Tiny <b>report</b>", incident_id="incident-2025-01-31-001",
                        severity="SEV-2", window="a → b", generated_at="now", run_id="r",
                        version="0"),
        show_code=show_code)
    return run, execute_template(job)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory):
    return run_job(tmp_path_factory.mktemp("tiny"))


@pytest.mark.xdist_group("papermill-small")
def test_report_is_offline_escaped_and_hides_code(executed) -> None:
    run, result = executed
    assert result.ok, result.error
    html = (run / "reports" / "tiny.html").read_text()
    assert html.count(PLOTLY_MARKER) == 1  # plotly.js embedded exactly once
    assert html.count('class="plotly-graph-div"') == 2
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", html)
    assert "require.min.js" not in html and "MathJax.js" not in html
    assert EVIL not in html  # log text never becomes markup
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "incident-2025-01-31-001" in html and "Tiny &lt;b&gt;report&lt;/b&gt;" in html
    assert "from papermill" not in html  # injected-parameters cell dropped
    assert "show_table(" not in html  # code hidden by default
    assert result.report_bytes < 8 * 1024 * 1024
    nb = nbformat.read(run / "notebooks" / "tiny.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.xdist_group("papermill-small")
def test_show_code_keeps_code_but_not_parameters(executed, tmp_path: Path) -> None:
    run, _ = executed
    out = render_html(run / "notebooks" / "tiny.ipynb", tmp_path / "code.html",
                      ReportInfo("t", "incident-2025-01-31-001", "SEV-2", "w", "g", "r", "0"),
                      show_code=True)
    html = out.read_text()
    assert "show_table" in html
    assert "from papermill" not in html


@pytest.mark.xdist_group("papermill-small")
def test_failing_template_keeps_notebook_and_says_so(tmp_path: Path) -> None:
    run, result = run_job(tmp_path, fail=True)
    assert not result.ok
    assert "RuntimeError" in result.error and "boom in template" in result.error
    nb = nbformat.read(run / "notebooks" / "tiny.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].ename == "RuntimeError"
    html = (run / "reports" / "tiny.html").read_text()
    assert "This report is incomplete" in html and "boom in template" in html


def test_plotly_bundle_normalised_to_one_copy_in_head() -> None:
    from plotly.offline import get_plotlyjs

    bundle = f"<script>{get_plotlyjs()}</script>"
    page = (f"<html><head><title>t</title></head><body>{bundle}<div>x</div>{bundle}"
            "<script>Plotly.newPlot('a', [])</script></body></html>")
    out = embed_plotly_once(page)
    assert out.count(PLOTLY_MARKER) == 1
    assert out.index(PLOTLY_MARKER) < out.index("</head>") < out.index("Plotly.newPlot")
    assert PLOTLY_MARKER not in embed_plotly_once("<html><head></head><body>no figs</body></html>")


def test_strip_external_scripts() -> None:
    page = ('<script src="https://cdn.x/a.js"></script><script>var a=1</script>'
            '<link rel="stylesheet" href="//cdn.x/b.css"><script src="local.js"></script>')
    kept = '<script>var a=1</script><script src="local.js"></script>'
    assert strip_external_scripts(page) == kept


def flaky_python3_kernel(root: Path, deaths: int) -> Path:
    """A ``python3`` kernelspec (on ``JUPYTER_PATH``) whose first ``deaths`` starts exit
    before answering, the way a kernel dies when another process took its port; it counts
    its starts in the returned file."""
    import json
    import sys

    root.mkdir()
    starts = root / "starts"
    script = root / "flaky_kernel.py"
    script.write_text(
        "import os, sys\n"
        f"starts = {str(starts)!r}\n"
        "n = int(open(starts).read()) + 1 if os.path.exists(starts) else 1\n"
        "open(starts, 'w').write(str(n))\n"
        f"if n <= {deaths}:\n"
        "    sys.exit('zmq.error.ZMQError: Address already in use (simulated)')\n"
        "os.execv(sys.executable,\n"
        "         [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[1]])\n")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(script), "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    return starts


def run_with_flaky_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deaths: int):
    starts = flaky_python3_kernel(tmp_path / "jupyter", deaths)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    run, result = run_job(tmp_path)
    return run, result, int(starts.read_text())


@pytest.mark.xdist_group("papermill-small")
def test_kernel_that_dies_before_answering_is_started_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, result, starts = run_with_flaky_kernel(tmp_path, monkeypatch, deaths=1)
    assert result.ok, result.error
    assert starts == 2
    assert "plotly-graph-div" in (run / "reports" / "tiny.html").read_text()


@pytest.mark.xdist_group("papermill-small")
def test_kernel_that_never_answers_fails_the_template_after_three_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from irkit.incident.runner import KERNEL_START_ATTEMPTS

    run, result, starts = run_with_flaky_kernel(tmp_path, monkeypatch, deaths=99)
    assert not result.ok
    assert starts == KERNEL_START_ATTEMPTS
    assert "Kernel died before replying" in result.error
    assert f"started {KERNEL_START_ATTEMPTS} times" in result.error
    assert (run / "notebooks" / "tiny.ipynb").exists()
