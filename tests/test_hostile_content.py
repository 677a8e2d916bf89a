"""Hostile log content never runs as script in a report and never runs as a spreadsheet formula.

Two layers: unit tests on every helper that turns log values into HTML, Markdown, plotly labels
or CSV; and browser tests that open what those helpers produce — and the real reports of an
``irkit open --redact`` run on a drain file with a payload in every field — in headless Chromium
with the network blocked, asserting the canary global stays undefined and no dialog opens.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from irkit.safety import FORMULA_PREFIXES, csv_cell, html_text, markdown_text, write_csv
from irkit.schema import STRING

sys.path.insert(0, str(Path(__file__).parent))
import hostile

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Raw markup a payload would need to run: these tags must never appear unescaped.
DANGEROUS_TAG = re.compile(
    r"<\s*/?\s*(script|img|svg|iframe|body|details|input|math|mglyph|mtext|a|object|animate"
    r"|textarea|style|title|scr)\b",
    re.IGNORECASE,
)
INVISIBLE = "\u202e\u200b\u200d\ufeff\u2066\u2069"


class _Tags(HTMLParser):
    """Collects every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(markup: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags


def render_markdown(text: str) -> list[str]:
    """The Markdown renderers reports go through: mistune (nbconvert) and markdown-it."""
    import mistune
    from markdown_it import MarkdownIt

    return [mistune.html(text), MarkdownIt("commonmark").enable("table").render(text)]


def strings_in(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from strings_in(value)


# --- unit layer: the helpers --------------------------------------------------------------------


@pytest.mark.parametrize("payload", hostile.HOSTILE)
def test_html_text_never_emits_markup(payload: str) -> None:
    out = html_text(payload)
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out
    assert not any(c in out for c in INVISIBLE)
    if not any(c in payload for c in INVISIBLE):
        assert html.unescape(out) == payload  # escaped, not mangled


@pytest.mark.parametrize("payload", hostile.HOSTILE)
def test_markdown_text_renders_as_literal_text(payload: str) -> None:
    for rendered in render_markdown(f"value: {markdown_text(payload)}"):
        assert tags_of(rendered) == [("p", [])], rendered  # one paragraph, no attributes
        assert not DANGEROUS_TAG.search(rendered)


def test_markdown_table_cells_stay_in_their_cell() -> None:
    rows = "\n".join(f"| {i} | {markdown_text(p)} |" for i, p in enumerate(hostile.HOSTILE))
    for rendered in render_markdown(f"| n | value |\n|---|---|\n{rows}\n"):
        tags = tags_of(rendered)
        assert {tag for tag, _ in tags} <= {"table", "thead", "tbody", "tr", "th", "td"}
        assert sum(tag == "tr" for tag, _ in tags) == len(hostile.HOSTILE) + 1
        assert all(not attrs or attrs == [("style", "text-align:left")] for _, attrs in tags)


@pytest.mark.parametrize("payload", hostile.FORMULA_PAYLOADS)
def test_csv_cell_neutralises_formulas(payload: str) -> None:
    assert not csv_cell(payload).startswith(FORMULA_PREFIXES)
    assert csv_cell(payload).endswith(payload)  # the value itself is kept for the reader


def test_bare_cr_inside_a_cell_cannot_start_a_new_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"message": ["ok\r=cmd|' /C calc'!A0", "a\n@SUM(1)"]})
    # pandas' default writer leaves a bare CR unquoted: a reader ends the row there and the
    # payload becomes the first cell of a new row
    naive = list(csv.reader(io.StringIO(frame.to_csv(index=False), newline="")))
    assert any(row and row[0].startswith(FORMULA_PREFIXES) for row in naive)
    data = write_csv(frame, tmp_path / "cr.csv").read_bytes().decode()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert [r[0] for r in rows[1:]] == list(frame["message"])  # each payload inside its cell
    assert not any(cell.startswith(FORMULA_PREFIXES) for row in rows for cell in row)


def test_csv_safe_frame_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "text": pd.array(list(hostile.HOSTILE), dtype=STRING),
        "objects": pd.Series(list(hostile.HOSTILE), dtype=object),
        "number": range(len(hostile.HOSTILE)),
    })
    frame.loc[0, "number"] = -5  # a real negative number is not text and stays a number
    data = write_csv(frame, tmp_path / "out.csv").read_text(encoding="utf-8")
    assert len(list(csv.reader(io.StringIO(data, newline="")))) == len(frame) + 1  # no row split
    cells = [cell for row in csv.reader(io.StringIO(data, newline="")) for cell in row]
    text_cells = [c for c in cells if not re.fullmatch(r"-?\d+", c)]
    assert text_cells and not any(c.startswith(FORMULA_PREFIXES) for c in text_cells)
    assert "-5" in cells


@pytest.fixture(scope="module")
def hostile_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sources = pytest.importorskip("irkit.sources")
    folder = tmp_path_factory.mktemp("hostile")
    drain = hostile.write_hostile_drain(folder / "drain.ndjson")
    deps = hostile.write_hostile_deployments(folder / "deployments.json")
    loaded = sources.load_report([drain, deps])
    assert len(loaded.events) > 1000
    return {"events": loaded.events, "deployments": loaded.deployments,
            "rejected": loaded.rejected, "drain": drain, "deployments_path": deps}


def test_payloads_reach_every_field(hostile_tables: dict[str, Any]) -> None:
    """The corpus really is in the canonical columns (else the report tests prove nothing)."""
    events = hostile_tables["events"]
    canary_cols = {name for name in events.columns
                   if events[name].astype(str).str.lower().str.contains("__pwned").any()}
    for col in ("message", "path", "user_agent", "referer", "client_ip", "host", "method",
                "request_id", "deployment_id", "waf_action", "ja4", "route"):
        assert col in canary_cols, col


def test_table_html_escapes_every_cell(hostile_tables: dict[str, Any]) -> None:
    display = pytest.importorskip("irkit.display")
    events = hostile_tables["events"]
    picked = events[events.astype(str).apply(lambda c: c.str.contains("pwned|cmd", regex=True))
                    .any(axis=1)]
    named = pd.DataFrame({p: ["x"] for p in hostile.SCRIPT_PAYLOADS[:5]})
    for frame, caption in ((picked, hostile.SCRIPT_PAYLOADS[0]), (named, None)):
        out = display.table_html(frame, caption=caption, max_rows=5000)
        body = out[out.index("</style>") + len("</style>"):]  # the helper's own stylesheet
        assert not DANGEROUS_TAG.search(body)
        for tag, attrs in tags_of(body):
            assert tag in {"table", "caption", "thead", "tbody", "tr", "th", "td", "div"}
            assert all(name == "class" for name, _ in attrs), (tag, attrs)


def _figures(tables: dict[str, Any]) -> list[Any]:
    plots = pytest.importorskip("irkit.plots")
    patterns_mod = pytest.importorskip("irkit.analysis.patterns")
    timeline_mod = pytest.importorskip("irkit.analysis.timeline")
    events, deps = tables["events"], tables["deployments"]
    onset = events["timestamp"].min() + pd.Timedelta(minutes=50)
    table = patterns_mod.patterns(events, deployments=deps)
    series = patterns_mod.pattern_series(events)
    timeline = timeline_mod.build_timeline(events, deps, onset=onset,
                                           notes=[{"time": onset, "text": p, "kind": p}
                                                  for p in hostile.HOSTILE[:8]])
    return [
        plots.error_rate(events, deps, onset),
        plots.status_mix(events, deps, onset),
        plots.latency_bands(events, deps, onset),
        plots.latency_heatmap(events, deps, onset),
        plots.duration_histogram(events, onset),
        plots.pattern_sparklines(table, series, deployments=deps, onset=onset),
        plots.event_timeline(timeline, deployments=deps, onset=onset),
    ]


def test_plot_labels_and_hover_text_are_escaped(hostile_tables: dict[str, Any]) -> None:
    figures = _figures(hostile_tables)
    found_payload_text = False
    for fig in figures:
        for text in strings_in(fig.to_plotly_json()):
            assert not DANGEROUS_TAG.search(text), text[:200]
            assert not any(c in text for c in INVISIBLE), text[:200]
            found_payload_text |= "__pwned" in text
    assert found_payload_text  # log text does reach the figures (escaped)


@pytest.fixture(scope="module")
def hostile_findings(hostile_tables: dict[str, Any]) -> dict[str, Any]:
    findings = pytest.importorskip("irkit.analysis.findings")
    return findings.compute_findings(
        incident_id="incident-2025-08-04-001", severity="SEV-2",
        events=hostile_tables["events"], deployments=hostile_tables["deployments"],
        metrics=None, rejected_count=0)


def _pir(findings: dict[str, Any]) -> str:
    pir = pytest.importorskip("irkit.incident.pir")
    notes = [{"time": "2025-08-04T10:00:00+00:00", "kind": kind, "text": p, "author": p}
             for kind, p in zip(["alert", "root-cause", "mitigation", "action-item", "lucky"] * 9,
                                hostile.HOSTILE, strict=False)]
    return pir.pir_markdown(findings, notes, {"severity": "SEV-2"})


def test_pir_markdown_contains_no_markup(hostile_findings: dict[str, Any]) -> None:
    text = _pir(hostile_findings)
    assert "pwned" in text  # the payloads are in the document, as text
    for rendered in render_markdown(text):
        assert not DANGEROUS_TAG.search(rendered)
        for tag, attrs in tags_of(rendered):
            assert tag in {"h1", "h2", "h3", "p", "ul", "ol", "li", "strong", "em", "code",
                           "table", "thead", "tbody", "tr", "th", "td", "hr", "br"}, tag
            assert all(name in {"style", "align"} for name, _ in attrs), (tag, attrs)


def test_security_findings_carry_payloads_only_as_data(hostile_tables: dict[str, Any]) -> None:
    from irkit.analysis.security import security_findings

    found = security_findings(hostile_tables["events"])
    flagged = {s["ip"]: s["reasons"] for s in found["suspicious_ips"]}
    assert "scanner_ua" in flagged["192.0.2.66"] and "bruteforce" in flagged["192.0.2.99"]
    json.dumps(found)


# --- browser layer ------------------------------------------------------------------------------


def open_in_chromium(pages: list[Path]) -> dict[str, dict[str, Any]]:
    """Load each page offline in headless Chromium, hover every plot; report canary and dialogs."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    results: dict[str, dict[str, Any]] = {}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            context = browser.new_context()
            blocked: list[str] = []

            def route(r: Any) -> None:
                if r.request.url.startswith(("file:", "data:", "about:", "blob:")):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            for path in pages:
                page = context.new_page()
                page.set_default_timeout(180_000)  # a shared, busy CI machine
                dialogs: list[str] = []
                page.on("dialog", lambda d, seen=dialogs: (seen.append(d.message), d.dismiss()))
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_timeout(300)
                plots = page.query_selector_all(".plotly-graph-div")
                for element in plots:  # hover labels render text too
                    box = element.bounding_box()
                    if not box:
                        continue
                    element.scroll_into_view_if_needed()
                    box = element.bounding_box() or box
                    for i in range(10):
                        page.mouse.move(box["x"] + box["width"] * (i + 0.5) / 10,
                                        box["y"] + box["height"] / 2)
                page.wait_for_timeout(200)
                results[path.name] = {
                    "canary": page.evaluate(f"typeof window.{hostile.CANARY}"),
                    "dialogs": list(dialogs), "plots": len(plots),
                }
                page.close()
            results["__blocked__"] = {"urls": blocked}
        finally:
            browser.close()
    return results


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_report_fragments_run_no_script_in_chromium(
    hostile_tables: dict[str, Any], hostile_findings: dict[str, Any], tmp_path: Path,
) -> None:
    import mistune
    import plotly.offline

    display = pytest.importorskip("irkit.display")
    parts = [f"<script>{plotly.offline.get_plotlyjs()}</script>"]
    events = hostile_tables["events"]
    every_field = events[events["origin_line"] > 600 + 2 * len(hostile.HOSTILE)]
    parts.append(display.table_html(every_field, max_rows=len(every_field)))
    parts.append(display.table_html(hostile_tables["deployments"]))
    parts.extend(display.figure_html(fig) for fig in _figures(hostile_tables))
    parts.append(mistune.html(_pir(hostile_findings)))
    parts.append(mistune.html(display.markdown("**{a}** {b}", a=hostile.HOSTILE[0],
                                                b=hostile.HOSTILE)))
    page = tmp_path / "fragments.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body>"
                    + "".join(parts) + "</body></html>", encoding="utf-8")
    result = open_in_chromium([page])
    assert result["fragments.html"]["plots"] == 7
    assert result["fragments.html"]["canary"] == "undefined"
    assert result["fragments.html"]["dialogs"] == []


@pytest.fixture(scope="module")
def redacted_run(hostile_tables: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``irkit open --redact`` run on the hostile evidence, shared by the e2e tests."""
    pytest.importorskip("irkit.incident.runner")
    archive = tmp_path_factory.mktemp("archive")
    env = {**os.environ, "IRKIT_ARCHIVE": str(archive)}
    cmd = [sys.executable, "-m", "irkit", "open", "incident-2025-08-04-001", "--severity",
           "SEV-2", "--logs", str(hostile_tables["drain"]), "--deployments",
           str(hostile_tables["deployments_path"]), "--archive", str(archive),
           "--redact", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(json.loads(done.stdout)["run_dir"])


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.xdist_group("e2e")
def test_irkit_open_reports_run_no_script_and_csvs_hold_no_formula(redacted_run: Path) -> None:
    """Every report of a run on hostile evidence, opened offline: no script, no dialog."""
    reports = sorted((redacted_run / "reports").glob("*.html"))
    assert {p.name for p in reports} >= {"investigation.html", "security_evidence.html",
                                         "pir.html"}
    seen = open_in_chromium(reports)
    assert seen.pop("__blocked__")["urls"] == []  # offline: nothing was even attempted
    for name, page in seen.items():
        assert page["canary"] == "undefined", name
        assert page["dialogs"] == [], name
    csvs = list(redacted_run.rglob("*.csv"))
    assert csvs
    for csv_path in csvs:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    assert not cell.startswith(FORMULA_PREFIXES), (csv_path.name, cell)


@pytest.mark.slow
@pytest.mark.xdist_group("e2e")
def test_irkit_open_redacted_reports_hold_no_ip_or_email(redacted_run: Path) -> None:
    manifest = json.loads((redacted_run / "manifest.json").read_text())
    assert manifest["params"]["redact"] is True  # the manifest records a redacted run
    leaks = []
    for path in [*(redacted_run / "reports").glob("*.html"),
                 *(redacted_run / "reports").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        leaks += [f"{path.name}: {secret}" for secret in (*hostile.IPS, *hostile.EMAILS)
                  if secret in text]
    assert leaks == []
