"""The HTML reports in headless Chromium, with every network request blocked.

Uses Debian's ``/usr/bin/chromium`` through Playwright (never ``playwright install``).  A report
passes when it loads with no console error, makes no request other than its own file, and every
plotly figure has drawn its SVG.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from incident_support import demo_runs

pytestmark = [pytest.mark.xdist_group("e2e"), pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="irkit-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 900})
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def reports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    runs = demo_runs(tmp_path_factory)
    return [Path(r) for r in runs.first["reports"] + runs.second["reports"]
            if r.endswith(".html")]


@pytest.fixture(scope="module")
def report_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return reports(tmp_path_factory)


@pytest.mark.parametrize("index", range(6))
def test_report_renders_offline(browser, report_paths: list[Path], index: int) -> None:
    path = report_paths[index]
    url = path.resolve().as_uri()
    page = browser.new_page()
    console_errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))

    def route(r) -> None:
        if r.request.url == url:
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    figures = page.locator(".plotly-graph-div")
    n = figures.count()
    if n:
        page.wait_for_function(
            "n => document.querySelectorAll('.plotly-graph-div .main-svg').length >= n", arg=n,
            timeout=30_000)
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".filter(d => d.querySelector('.main-svg')).length")
    title = page.locator("#irkit-title").inner_text()
    page.close()
    assert not console_errors, console_errors
    assert not external, external
    assert drawn == n, f"{path.name}: {drawn} of {n} figures drawn"
    if path.name != "security_evidence.html" or "quiet" not in str(path):
        assert n >= 1 or path.name == "security_evidence.html"
    assert "incident-2025-01-31-001" in title and "SEV-2" in title
