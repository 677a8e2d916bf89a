"""The explorer widget reacts to its controls (driven from Python, no frontend needed)."""

from __future__ import annotations

import pandas as pd
import pytest
from viz_fixtures import ONSET, make_deployments, make_events

import irkit
from irkit import widgets

pytestmark = pytest.mark.xdist_group("viz-widgets")


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return make_events(6_000, seed=3)


@pytest.fixture()
def explorer(events: pd.DataFrame) -> widgets.Explorer:
    return irkit.explore(events, make_deployments(), static=True)


def _rate_trace(ex: widgets.Explorer):
    return next(t for t in ex.figures["error_rate"].data if t.name == "error rate %")


def test_initial_state_shows_everything(explorer: widgets.Explorer,
                                        events: pd.DataFrame) -> None:
    assert len(explorer.filtered) == len(events)
    errors = int((events["level"] == "error").sum())
    assert explorer.pattern_table["count"].sum() == errors
    assert f"{len(events):,}</b> of {len(events):,} events" in explorer.summary_html()
    assert set(explorer.figures) == {"error_rate", "latency"}


def test_status_control_filters_table_and_figures(explorer: widgets.Explorer) -> None:
    before_rate = list(_rate_trace(explorer).y)
    explorer.controls["status"].value = "2xx"  # as a user would: the observer recomputes
    assert set(explorer.filtered["status_code"].unique()) == {200}
    assert explorer.pattern_table.empty  # no error lines among 2xx requests
    after_rate = [v for v in _rate_trace(explorer).y if v == v]  # drop NaN buckets
    assert after_rate and max(after_rate) == 0 and before_rate != list(_rate_trace(explorer).y)
    explorer.controls["status"].value = "5xx"
    assert set(explorer.filtered["status_code"].unique()) == {500}
    assert explorer.pattern_table["count"].sum() == len(explorer.filtered)


def test_time_route_region_level_deployment(explorer: widgets.Explorer,
                                            events: pd.DataFrame) -> None:
    end = ONSET + pd.Timedelta("20min")
    explorer.set(time=(ONSET, end), route="/api/a", region="fra1")
    sel = explorer.filtered
    assert len(sel) > 0
    assert sel["timestamp"].min() >= ONSET and sel["timestamp"].max() < end
    assert set(sel["route"]) == {"/api/a"} and set(sel["region"]) == {"fra1"}
    expected = events[(events["timestamp"] >= ONSET) & (events["timestamp"] < end)
                      & (events["route"] == "/api/a") & (events["region"] == "fra1")]
    assert len(sel) == len(expected)
    x = pd.DatetimeIndex(_rate_trace(explorer).x)
    assert x.min() >= ONSET.tz_localize(None) and x.max() < end.tz_localize(None)

    explorer.set(level=["info"])
    assert set(explorer.filtered["level"]) == {"info"}
    explorer.set(level=["info", "error"], time=explorer.controls["time"].options[0][1:]
                 + explorer.controls["time"].options[-1][1:], route=widgets.ALL,
                 region=widgets.ALL, deployment="dpl_good")
    assert set(explorer.filtered["deployment_id"]) == {"dpl_good"}
    assert explorer.filtered["timestamp"].max() < ONSET


def test_controls_offer_escaped_friendly_deployment_labels(explorer: widgets.Explorer) -> None:
    labels = [label for label, _ in explorer.controls["deployment"].options]
    assert any("1234567 feat: new checkout" in label for label in labels)
    assert all("<img" not in label for label in labels)
    assert "<img" not in explorer._table.value  # pattern table HTML is escaped


def test_unknown_control_is_an_error(explorer: widgets.Explorer) -> None:
    with pytest.raises(ValueError, match="unknown explorer controls"):
        explorer.set(colour="red")


def test_static_fallback_outside_a_kernel(events: pd.DataFrame,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IRKIT_STATIC", raising=False)
    ex = irkit.explore(events.head(500))
    assert ex.static  # pytest is no live frontend
