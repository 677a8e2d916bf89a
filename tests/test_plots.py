"""Figures (irkit.plots) and display helpers (irkit.display): values, markers, escaping, size."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from viz_fixtures import HOSTILE, ONSET, T0, make_deployments, make_events

from irkit import display, plots, schema

pytestmark = pytest.mark.xdist_group("viz-plots")

TIME_FIGURES = (plots.error_rate, plots.status_mix, plots.latency_bands, plots.latency_heatmap)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return make_events(20_000)


@pytest.fixture(scope="module")
def deployments() -> pd.DataFrame:
    return make_deployments()


def _all_text(fig: go.Figure) -> str:
    """Everything of the figure that reaches the browser, as JSON text."""
    return fig.to_json()


def _shape_xs(fig: go.Figure, color: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(s.x0) for s in fig.layout.shapes
            if s.type == "line" and s.line.color == color]


# ---------------------------------------------------------------------------- exact values


def _tiny() -> pd.DataFrame:
    """Bucket 10:00 → 4 requests, 1 failed; 10:01 → nothing; 10:02 → 2 requests, both failed."""
    times = [T0 + pd.Timedelta(seconds=s) for s in (1, 10, 20, 50, 125, 130)]
    return schema.conform({
        "timestamp": times,
        "level": ["info", "info", "error", "info", "error", "error"],
        "status_code": [200, 200, 500, 404, 503, 500],
        "request_id": [f"r{i}" for i in range(6)],
        "duration_ms": [10.0, 20.0, 30.0, 40.0, 1000.0, 3000.0],
        "route": ["/a"] * 6,
    })


def test_error_rate_values_per_bucket_in_utc() -> None:
    fig = plots.error_rate(_tiny(), freq="1min")
    rate = next(t for t in fig.data if t.name == "error rate %")
    x = pd.DatetimeIndex(rate.x)
    assert x.tz is None  # naive UTC: plotly.js would drop an offset
    assert list(x) == [pd.Timestamp("2024-05-01 10:00"), pd.Timestamp("2024-05-01 10:01"),
                       pd.Timestamp("2024-05-01 10:02")]
    assert rate.y[0] == pytest.approx(25.0)
    assert np.isnan(rate.y[1])  # no traffic: no rate, not 0 %
    assert rate.y[2] == pytest.approx(100.0)
    errors = next(t for t in fig.data if t.name == "error requests")
    assert list(errors.y) == [1, 0, 2]
    assert "UTC" in fig.layout.xaxis2.title.text


def test_status_mix_classes() -> None:
    fig = plots.status_mix(_tiny(), freq="1min")
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name == {"2xx": [2, 0, 0], "4xx": [1, 0, 0], "5xx": [1, 0, 2]}
    assert "UTC" in fig.layout.xaxis.title.text


def test_latency_bands_match_numpy_quantiles(events: pd.DataFrame) -> None:
    fig = plots.latency_bands(events, freq="10min")
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"p50", "p95", "p99"}
    start = T0 + pd.Timedelta("70min")
    in_bucket = events[(events["timestamp"] >= start)
                       & (events["timestamp"] < start + pd.Timedelta("10min"))]
    x = list(pd.DatetimeIndex(traces["p95"].x))
    i = x.index(start.tz_localize(None))
    expected = np.quantile(in_bucket["duration_ms"].to_numpy(float), 0.95)
    assert traces["p95"].y[i] == pytest.approx(expected, abs=0.01)
    assert "lambda REPORT lines" in fig.layout.title.text  # the source is named


def test_latency_before_after_visible_in_histogram(events: pd.DataFrame) -> None:
    fig = plots.duration_histogram(events, onset=ONSET)
    assert fig.layout.xaxis.type == "log"
    before, after = fig.data
    for trace in (before, after):
        assert sum(trace.y[:-1]) == pytest.approx(100.0, abs=0.05)  # shares of that group

    def median_x(trace: go.Scatter) -> float:
        cumulative = np.cumsum(trace.y[:-1])
        return float(trace.x[int(np.searchsorted(cumulative, 50.0))])

    # durations were generated ×3 after the onset
    assert 2.0 < median_x(after) / median_x(before) < 4.5


def test_heatmap_routes_escaped_and_limited(events: pd.DataFrame) -> None:
    fig = plots.latency_heatmap(events, top_routes=3)
    heat = fig.data[0]
    assert len(heat.y) == 3
    text = _all_text(fig)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text or "/<script>" not in heat.y
    assert all("<" not in label for label in heat.y)


# ---------------------------------------------------------------------------- markers


@pytest.mark.parametrize("figure", TIME_FIGURES, ids=lambda f: f.__name__)
def test_deployment_and_onset_markers(figure, events: pd.DataFrame,
                                      deployments: pd.DataFrame) -> None:
    onset = SimpleNamespace(onset=ONSET, recovery=ONSET + pd.Timedelta("30min"))
    fig = figure(events, deployments, onset)
    deploy_xs = _shape_xs(fig, plots._DEPLOY_COLOR)
    # dpl_old is days before the data: not drawn; the others at their *ready* time, naive UTC
    assert deploy_xs == [pd.Timestamp("2024-05-01 10:10"), pd.Timestamp("2024-05-01 10:59")]
    assert _shape_xs(fig, plots._ONSET_COLOR) == [pd.Timestamp("2024-05-01 11:00")]
    assert _shape_xs(fig, plots._RECOVERY_COLOR) == [pd.Timestamp("2024-05-01 11:30")]
    labels = [a.text for a in fig.layout.annotations]
    assert any(label.startswith("1234567 feat: new checkout") for label in labels)
    assert not any("second line" in label for label in labels)  # first line only
    text = _all_text(fig)
    assert HOSTILE not in text and "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_markers_accept_plain_timestamp_and_no_deployments(events: pd.DataFrame) -> None:
    fig = plots.error_rate(events, None, ONSET.isoformat())
    assert _shape_xs(fig, plots._ONSET_COLOR) == [pd.Timestamp("2024-05-01 11:00")]
    assert _shape_xs(fig, plots._DEPLOY_COLOR) == []
    assert _shape_xs(fig, plots._RECOVERY_COLOR) == []


def test_deployment_marker_limit() -> None:
    deps = schema.conform({
        "deployment_id": [f"dpl_{i}" for i in range(40)],
        "created": [T0 + pd.Timedelta(minutes=i) for i in range(40)],
        "commit_sha": [f"{i:07d}ffff" for i in range(40)],
    }, "deployments")
    fig = plots.add_deployment_markers(go.Figure(), deps, max_markers=5)
    xs = [pd.Timestamp(s.x0) for s in fig.layout.shapes]
    assert xs == [(T0 + pd.Timedelta(minutes=i)).tz_localize(None) for i in range(35, 40)]


# ---------------------------------------------------------------------------- size


def test_figure_size_bounded_as_events_grow() -> None:
    deps = make_deployments()

    def sizes(events: pd.DataFrame) -> dict[str, int]:
        out = {f.__name__: plots.figure_bytes(f(events, deps, ONSET)) for f in TIME_FIGURES}
        out["duration_histogram"] = plots.figure_bytes(plots.duration_histogram(events, ONSET))
        return out

    small = sizes(make_events(10_000, seed=1))
    big = sizes(make_events(200_000, seed=2))
    for name, s in small.items():
        assert big[name] < 1_000_000, name
        assert big[name] < 1.25 * s + 4_000, (name, s, big[name])


# ---------------------------------------------------------------------------- patterns, timeline


def test_pattern_sparklines_from_pattern_api(events: pd.DataFrame,
                                             deployments: pd.DataFrame) -> None:
    from irkit.analysis.patterns import pattern_series, patterns

    table = patterns(events, deployments=deployments)
    series = pattern_series(events, "1min")
    fig = plots.pattern_sparklines(table, series, deployments=deployments, onset=ONSET, top=5)
    assert len(fig.data) == min(5, len(table))
    first = fig.data[0]
    assert first.name == table["pattern_id"].iloc[0]
    assert sum(first.y) == table["count"].iloc[0]
    text = _all_text(fig)
    assert "<img" not in text
    assert _shape_xs(fig, plots._ONSET_COLOR) == [pd.Timestamp("2024-05-01 11:00")]


def test_event_timeline_rows_and_escaping() -> None:
    timeline = [
        {"time": "2024-05-01T10:59:00Z", "kind": "deployment", "text": "dpl_bad " + HOSTILE},
        {"time": "2024-05-01T11:00:00Z", "kind": "onset", "text": "errors start"},
        {"time": "2024-05-01T11:30:00.000Z", "kind": "recovery", "text": "back to normal"},
        {"time": "2024-05-01T11:05:00Z", "kind": "note", "text": "rolled back"},
    ]
    fig = plots.event_timeline(timeline)
    assert [t.name for t in fig.data] == ["deployment", "onset", "recovery", "note"]
    assert "<img" not in _all_text(fig)
    assert pd.DatetimeIndex(fig.data[2].x)[0] == pd.Timestamp("2024-05-01 11:30")


def test_empty_inputs_give_labelled_empty_figures() -> None:
    empty = schema.empty("events")
    for figure in (*TIME_FIGURES, plots.duration_histogram):
        fig = figure(empty)
        assert fig.layout.annotations and "no " in fig.layout.annotations[0].text
    assert plots.event_timeline([]).layout.annotations
    assert plots.pattern_sparklines(pd.DataFrame(), pd.DataFrame()).layout.annotations


# ---------------------------------------------------------------------------- display helpers


def test_table_html_escapes_everything() -> None:
    df = pd.DataFrame({
        "<th>": pd.array([HOSTILE, None, 'say "hi"'], dtype=schema.STRING),
        "count": [1234567, 2, 3],
        "first_seen": pd.to_datetime(["2024-05-01T10:00:00Z"] * 3, utc=True),
        "examples": [["<b>a</b>", "b"], [], ["c"]],
    })
    html = display.table_html(df, caption="<i>caption</i>", max_rows=2)
    assert "<img" not in html and "<b>a" not in html and "<th>&lt;th&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;i&gt;caption" in html
    assert "1,234,567" in html and "2024-05-01 10:00:00 UTC" in html
    assert display.MISSING in html
    assert "showing 2 of 3 rows" in html
    assert "say &quot;hi&quot;" not in html  # third row cut by max_rows


def test_format_value_cuts_long_text_and_converts_zones() -> None:
    assert display.format_value("x" * 500, max_chars=10) == "x" * 9 + "…"
    berlin = pd.Timestamp("2024-05-01T12:00:00+02:00")
    assert display.format_value(berlin) == "2024-05-01 10:00:00 UTC"
    assert display.format_value(0.1234) == "0.123"
    assert display.format_value(np.nan) == display.MISSING


def test_markdown_values_escaped_template_kept() -> None:
    text = display.markdown("**Onset** at {t}: {msg}", t=ONSET, msg=HOSTILE + " *x*")
    assert text.startswith("**Onset** at 2024-05-01 11:00:00 UTC: ")
    assert "<img" not in text and "\\*x\\*" in text


def test_figure_html_is_offline() -> None:
    fig = plots.error_rate(_tiny(), freq="1min")
    html = display.figure_html(fig)
    assert "Plotly.newPlot" in html
    assert "<script src=" not in html and "https://cdn" not in html
    assert "mathjax/" not in html.lower()
    payload = json.loads(fig.to_json())
    assert payload["layout"]["title"]["text"].startswith("Error rate")


def _record_display(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, dict]]:
    import IPython.display

    shown: list[tuple[object, dict]] = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, **kw: shown.append((obj, kw)))
    monkeypatch.setattr(display, "_plotlyjs_shown", False)
    return shown


def test_show_figure_static_embeds_plotlyjs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRKIT_STATIC", "1")
    shown = _record_display(monkeypatch)
    fig = plots.status_mix(_tiny(), freq="1min")
    display.show_figure(fig)
    display.show_figure(fig)
    htmls = [obj.data for obj, _ in shown]
    assert len(htmls) == 3  # plotly.js once, then the two figures
    assert "window.PlotlyConfig" in htmls[0] and len(htmls[0]) > 1_000_000
    assert all("Plotly.newPlot" in h and len(h) < 100_000 for h in htmls[1:])


def test_show_figure_live_adds_plotly_mimetype(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRKIT_STATIC", "0")
    shown = _record_display(monkeypatch)
    display.show_figure(plots.status_mix(_tiny(), freq="1min"))
    [(bundle, kw)] = shown
    assert kw == {"raw": True}
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["type"] == "bar"
    assert not display._plotlyjs_shown


def test_static_context_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IRKIT_STATIC", raising=False)
    assert display.is_static_context()  # plain pytest: no kernel, no frontend
    monkeypatch.setenv("IRKIT_STATIC", "0")
    assert not display.is_static_context()
