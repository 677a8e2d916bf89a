"""Suspect deployments: the bad one first, rollbacks and innocent deploys not blamed."""

from __future__ import annotations

import pytest
from analytics_synth import DEMO_CASES, demo_case, make

from irkit import schema
from irkit.analysis import onset, suspects


def ranked(inc, **kw):
    found = onset.find_onset(inc.events)
    return suspects.rank_deployments(inc.events, inc.deployments, onset=found.onset, **kw)


@pytest.mark.parametrize(("seed", "per_minute"), [(0, 150), (1, 150), (2, 4)])
def test_bad_deployment_ranks_first_and_rollback_is_not_blamed(seed: int,
                                                               per_minute: float) -> None:
    inc = make(seed=seed, per_minute=per_minute)
    table = ranked(inc)
    assert table["deployment_id"].iloc[0] == "dpl_bad"
    assert "dpl_rollback" not in set(table["deployment_id"])
    assert 0 < table["score"].iloc[0] <= 1
    reason = table["reason"].iloc[0]
    assert "error rate" in reason and "→" in reason and "new error pattern" in reason
    full = ranked(inc, include_all=True)
    assert list(full["score"]) == sorted(full["score"], reverse=True)
    rollback = full[full["deployment_id"] == "dpl_rollback"].iloc[0]
    assert rollback["score"] < 0.05 and rollback["error_rate_after"] < rollback["error_rate_before"]


def test_nothing_blamed_when_errors_come_from_outside() -> None:
    inc = make(seed=3, bad_deploy=False)  # a healthy deploy an hour before the onset
    assert ranked(inc).empty
    assert not ranked(inc, include_all=True).empty


def test_nothing_blamed_without_an_incident() -> None:
    assert ranked(make(seed=4, onset_min=None)).empty


def test_latency_creep_blames_its_deployment() -> None:
    inc = make(seed=5, creep=True, recovery_min=None, base_error=0.0)
    table = ranked(inc)
    assert list(table["deployment_id"]) == ["dpl_bad"]
    assert "p95" in table["reason"].iloc[0]


def test_deployments_seen_only_in_events_are_ranked() -> None:
    inc = make(seed=6)
    table = suspects.rank_deployments(inc.events, None, onset=None)
    assert table["deployment_id"].iloc[0] == "dpl_bad"


def test_empty_inputs() -> None:
    assert suspects.rank_deployments(schema.empty(), schema.empty("deployments")).empty
    inc = make(seed=0, minutes=30, onset_min=None, healthy_deploy_min=None)
    assert suspects.rank_deployments(inc.events, schema.empty("deployments")).empty


@pytest.mark.xdist_group("analytics-demo")
@pytest.mark.parametrize(("scenario", "seed"), DEMO_CASES)
def test_demo_suspects_match_truth(tmp_path_factory, scenario: str, seed: int) -> None:
    case = demo_case(tmp_path_factory.getbasetemp(), scenario, seed)
    found = onset.find_onset(case["events"])
    table = suspects.rank_deployments(case["events"], case["deployments"], onset=found.onset)
    bad = case["truth"]["bad_deployment_id"]
    if bad is None:
        assert table.empty, table[["deployment_id", "score", "reason"]]
    else:
        assert table["deployment_id"].iloc[0] == bad
        rollback = case["truth"].get("rollback_deployment_id")
        assert rollback not in set(table["deployment_id"])
