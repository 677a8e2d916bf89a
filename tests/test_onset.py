"""Onset and recovery against known truth: synthetic shapes and the demo generator's incidents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analytics_synth import DEMO_CASES, demo_case, make, ts

from irkit import schema
from irkit.analysis import buckets, onset

TOLERANCE = pd.Timedelta(minutes=2)


def close(found: pd.Timestamp | None, truth: pd.Timestamp | None) -> bool:
    if truth is None or found is None:
        return found is None and truth is None
    return abs(found - truth) <= TOLERANCE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sudden_spike_found_with_recovery(seed: int) -> None:
    inc = make(seed=seed, minutes=150, per_minute=120, onset_min=70 + seed * 3,
               recovery_min=110 + seed)
    found = onset.find_onset(inc.events)
    assert found.method == "error-rate"
    assert close(found.onset, inc.truth["onset"])
    assert close(found.recovery, inc.truth["recovery"])
    assert found.detail["incident_rate"] > 5 * found.detail["baseline_rate"]


@pytest.mark.parametrize("seed", [0, 4, 9])
def test_very_low_traffic_spike(seed: int) -> None:
    """Three requests a minute: a per-minute rate is mostly 0 or 33 %, counts still tell."""
    inc = make(seed=seed, per_minute=3, onset_min=90, recovery_min=130)
    found = onset.find_onset(inc.events)
    assert found.method == "error-rate"
    assert close(found.onset, inc.truth["onset"])


@pytest.mark.parametrize("seed", [0, 3])
def test_incident_free_series_yields_none(seed: int) -> None:
    inc = make(seed=seed, onset_min=None, base_error=0.02)
    found = onset.find_onset(inc.events)
    assert found.onset is None and found.recovery is None


def test_noisy_but_healthy_service_is_not_split() -> None:
    """Over-dispersed errors (the rate wanders minute to minute) must not look like an onset."""
    inc = make(seed=11, onset_min=None, base_error=0.0)
    rng = np.random.default_rng(11)
    ev = inc.events
    edge = (ev["source"] == "edge").to_numpy(bool)
    minute = ev["timestamp"].dt.floor("1min")
    wander = pd.Series(rng.gamma(2.0, 0.01, minute.nunique()), index=minute.unique())
    p = minute.map(wander).to_numpy("float64")
    fail = edge & (rng.random(len(ev)) < p)
    ev = ev.assign(status_code=ev["status_code"].mask(fail, 503),
                   level=ev["level"].mask(fail, "error"))
    found = onset.find_onset(schema.conform(ev))
    assert found.onset is None


def test_slow_latency_creep_found_by_its_knee() -> None:
    inc = make(seed=2, creep=True, onset_min=80, recovery_min=None, base_error=0.005,
               latency_after=(360.0, 900.0))
    found = onset.find_onset(inc.events)
    assert found.method == "latency"
    assert found.detail["shape"] == "ramp"
    assert close(found.onset, inc.truth["onset"])


def test_latency_step_without_errors() -> None:
    inc = make(seed=5, incident_error=0.005, onset_min=60, recovery_min=None,
               latency_after=(300.0, 700.0))
    found = onset.find_onset(inc.events)
    assert found.method == "latency"
    assert close(found.onset, inc.truth["onset"])


def test_small_latency_wobble_is_not_an_onset() -> None:
    inc = make(seed=6, incident_error=0.005, onset_min=60, recovery_min=None,
               latency_after=(126.0, 315.0))  # +5 %: below the 20 % minimum effect
    assert onset.find_onset(inc.events).onset is None


def test_empty_and_errorless_inputs() -> None:
    assert onset.find_onset(schema.empty()).onset is None
    inc = make(seed=1, base_error=0.0, onset_min=None)
    found = onset.find_onset(inc.events, latency=False)
    assert found.onset is None and found.method == "no errors"


def test_long_windows_are_coarsened_and_refined() -> None:
    """A day at 1-minute buckets (1,440 > MAX_SEGMENT_BUCKETS) still lands within 2 minutes."""
    inc = make(seed=3, minutes=1440, per_minute=8, onset_min=901, recovery_min=960)
    found = onset.find_onset(inc.events)
    assert close(found.onset, inc.truth["onset"])


def test_error_segments_cover_the_series() -> None:
    inc = make(seed=0)
    counts = buckets.counts(buckets.requests(inc.events), "1min")
    segs = onset.error_segments(counts)
    assert segs["requests"].sum() == counts["requests"].sum()
    assert segs["errors"].sum() == counts["errors"].sum()
    assert segs["start"].iloc[0] == counts.index[0]
    assert len(segs) >= 3


@pytest.mark.xdist_group("analytics-demo")
@pytest.mark.parametrize(("scenario", "seed"), DEMO_CASES)
def test_demo_onset_matches_truth(tmp_path_factory, scenario: str, seed: int) -> None:
    case = demo_case(tmp_path_factory.getbasetemp(), scenario, seed)
    found = onset.find_onset(case["events"])
    truth = case["truth"]
    assert close(found.onset, ts(truth["onset"])), (found, truth["onset"])
    if truth["onset"] is not None and found.method == "error-rate":
        assert close(found.recovery, ts(truth["recovery"])), (found, truth["recovery"])
