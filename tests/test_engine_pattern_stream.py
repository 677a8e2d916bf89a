"""Streaming pattern mining in the engines: per-chunk partials give ``patterns()``' table.

Pass 1 observes each chunk's distinct masked shapes, the grouper is fitted once, pass 2
labels each chunk and reduces it to per-pattern partial aggregates, which combine into the
table ``patterns()`` gives for the whole frame — in memory, on the local engine and on a real
``LocalCluster`` whose workers do the labelling.  What the client holds is bounded by the
shapes and patterns, not by the number of lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_support import engine_demo

from irkit import schema
from irkit.analysis import pattern_partials
from irkit.analysis.grouping import StreamingGrouper
from irkit.analysis.patterns import label, patterns
from irkit.engine import get_engine, local, reduce

pytestmark = pytest.mark.xdist_group("engine-dask")

_DICTS = ("levels", "status_codes", "routes", "deployments")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return engine_demo(tmp_path_factory.mktemp("pattern-stream"))


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal frames, and the breakdown dicts in the same (value_counts) order too."""
    pd.testing.assert_frame_equal(got, expected)
    for col in _DICTS:
        assert [list(d.items()) for d in got[col]] == [list(d.items()) for d in expected[col]]


def _value_counts(series: pd.Series) -> list[tuple[object, int]]:
    return [(k.item() if hasattr(k, "item") else k, int(v))
            for k, v in series.dropna().value_counts().items()]


def assert_rows_match_lines(table: pd.DataFrame, labelled: pd.DataFrame) -> None:
    """An independent oracle: each row recomputed from its pattern's lines in load order."""
    assert table["count"].sum() == len(labelled)
    for row in table.to_dict("records"):
        grp = labelled[(labelled["pattern_id"] == row["pattern_id"]).to_numpy(bool)]
        assert row["count"] == len(grp)
        assert row["template"] == grp["template"].iloc[0]
        assert (row["first_seen"], row["last_seen"]) == (grp["timestamp"].min(),
                                                         grp["timestamp"].max())
        assert row["examples"] == list(dict.fromkeys(grp["message"].dropna()))[:3]
        for col, src in pattern_partials.BREAKDOWNS.items():
            assert list(row[col].items()) == _value_counts(grp[src]), col


def _split_table(events: pd.DataFrame, chunks: list[np.ndarray],
                 deployments: pd.DataFrame | None, levels) -> pd.DataFrame:
    """The two passes over ``chunks`` (row positions of ``events``), combined in reverse."""
    grouper = StreamingGrouper()
    for idx in chunks:
        part = events.iloc[idx]
        chosen = part if levels is None else part[part["level"].isin(levels).fillna(False)]
        grouper.observe(chosen["message"].dropna().astype(str).tolist())
    grouper.fit()
    partials = []
    for idx in reversed(chunks):
        part = events.iloc[idx]
        labelled = label(part, levels=levels, grouper=grouper)
        partials.append(pattern_partials.from_lines(labelled, labelled.index.to_numpy(),
                                                    part["deployment_id"].dropna().unique()))
    return pattern_partials.table(pattern_partials.combine(partials), deployments)


@pytest.mark.parametrize("levels", [schema.ERROR_LEVELS, None], ids=["errors", "all-levels"])
def test_chunked_partials_equal_patterns_on_the_demo(demo, levels):
    inc, _, loaded = demo
    events = loaded.events.reset_index(drop=True)
    expected = patterns(events, deployments=loaded.deployments, levels=levels)
    assert len(expected) >= 4 and expected["new_since_deployment"].notna().any()
    assert_rows_match_lines(expected, label(events, levels=levels))
    n = len(events)
    hours = events["timestamp"].dt.floor("1h")
    rng = np.random.default_rng(0)
    splits = {
        "hour": [np.flatnonzero((hours == h).to_numpy()) for h in hours.unique()],
        "rows-997": [np.arange(i, min(i + 997, n)) for i in range(0, n, 997)],
        # non-contiguous chunks, rows out of order inside each: only ``ord`` gives the order
        "shuffled-5": np.array_split(rng.permutation(n), 5),
    }
    for chunks in splits.values():
        got = _split_table(events, chunks, loaded.deployments, levels)
        assert_same_table(got, expected)
    if levels is not None:
        new = expected.loc[expected["new_since_deployment"].notna(), "new_since_deployment"]
        assert inc.truth["bad_deployment_id"] in set(new)


def test_edge_cases_combine_like_one_frame():
    """Silent error lines, missing times, tied counts and a deployment that only logged info."""
    t0 = pd.Timestamp("2026-01-01T10:00:00Z")
    rows = [{"timestamp": t0, "level": "info", "message": "boot", "deployment_id": "dpl_a"}]
    for i in range(8):
        rows.append({"timestamp": t0 + pd.Timedelta(seconds=10 * i), "level": "error",
                     "message": f"Error: connect ETIMEDOUT 10.2.3.{i}:5432",
                     "status_code": 502 if i % 4 in (0, 3) else 504, "route": f"/api/r{i % 2}",
                     "deployment_id": "dpl_b" if i % 3 else "dpl_c"})
    rows += [
        {"timestamp": t0 + pd.Timedelta(seconds=5), "level": "error", "message": None,
         "status_code": 500, "method": "GET", "path": "/api/x", "deployment_id": "dpl_c"},
        {"timestamp": None, "level": "fatal", "message": None, "crashed": True,
         "method": "POST", "route": "/api/y", "deployment_id": "dpl_d"},
        {"timestamp": None, "level": "error", "message": "Error: connect ETIMEDOUT 1.1.1.1:1",
         "deployment_id": "dpl_b"},
    ]
    events = schema.conform(pd.DataFrame(rows))
    deployments = pd.DataFrame({"deployment_id": ["dpl_a", "dpl_b"],
                                "created": [t0 - pd.Timedelta("1h"), t0]})
    expected = patterns(events, deployments=deployments)
    assert expected["template"].str.startswith("(no message)").sum() == 2
    assert expected.loc[0, "new_since_deployment"] == "dpl_b"
    # a 4–4 tie: the value seen first comes first, though 502 is also the one seen last
    assert list(expected.loc[0, "status_codes"]) == [502, 504]
    assert_rows_match_lines(expected, label(events))
    n = len(events)
    for chunks in ([np.arange(n)], [np.array([i]) for i in range(n)][::-1],
                   [np.arange(n)[::2], np.arange(n)[1::2]]):
        assert_same_table(_split_table(events, chunks, deployments, schema.ERROR_LEVELS),
                          expected)


def test_local_engine_streams_batches_to_the_same_table(demo, tmp_path, monkeypatch):
    _, paths, loaded = demo
    expected = patterns(loaded.events, deployments=loaded.deployments)
    engine = get_engine("local")
    engine.batch_rows = 1_000
    parts, _ = engine.load(paths, tmp_path / "events")
    monkeypatch.setattr(reduce, "PATTERN_BATCH_ROWS", 37)  # many batches per pass
    con = local.connect()
    try:
        local.events_view(con, parts)
        partial = reduce.stream_patterns(con, "ev")
        # the Dask split: one chunk per hour partition, observed and assigned separately
        hours = sorted({p.parent.name for p in parts.files()})
        views = []
        for i, hour in enumerate(hours):
            local.events_view(con, [str(p) for p in parts.files() if p.parent.name == hour],
                              name=f"h{i}")
            views.append(f"h{i}")
        grouper = reduce.fit_patterns([reduce.observe_patterns(con, v) for v in views])
        per_hour = pattern_partials.combine(reduce.assign_patterns(con, v, grouper)
                                            for v in views)
    finally:
        con.close()
    assert len(hours) >= 2
    assert partial.lines == int(loaded.events["level"].isin(schema.ERROR_LEVELS).sum())
    assert_same_table(pattern_partials.table(partial, loaded.deployments), expected)
    assert_same_table(pattern_partials.table(per_hour, loaded.deployments), expected)


def test_local_cluster_assigns_patterns_on_both_workers(demo, tmp_path):
    from distributed import LocalCluster, get_task_stream

    _, paths, loaded = demo
    expected = patterns(loaded.events, deployments=loaded.deployments)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        engine = get_engine("dask", scheduler=cluster.scheduler_address, batch_rows=1_000)
        try:
            parts, _ = engine.load(paths, tmp_path / "events")
            with get_task_stream(engine.client) as stream:
                red = engine.reduce(parts, None, None)
            workers = set(engine.client.scheduler_info()["workers"])
        finally:
            engine.close()
    ran = {}
    for task in stream.data:
        ran.setdefault(task["key"].split("-")[0], set()).add(task["worker"])
    assert ran["_reports_partial"] == workers and len(workers) == 2  # pass 1 on both workers
    assert ran["_partials"] == workers                                # pass 2 on both workers
    assert isinstance(red["patterns"], pattern_partials.PatternPartial)  # no lines came back
    assert_same_table(pattern_partials.table(red["patterns"], loaded.deployments), expected)
    con = local.connect()
    try:
        local.events_view(con, parts)
        on_local = pattern_partials.table(reduce.stream_patterns(con, "ev"), loaded.deployments)
    finally:
        con.close()
    assert_same_table(pattern_partials.table(red["patterns"], loaded.deployments), on_local)


def _error_lines(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shapes = [
        lambda: f"ECONNRESET upstream db-{rng.integers(1, 4)} after {rng.random():.3f}s",
        lambda: f"GET /api/items/{rng.integers(1, 10**6)} took {rng.integers(1, 900)} ms",
        lambda: f"HTTP 50{rng.integers(0, 5)} from payments id={rng.integers(0, 2**32):08x}",
        lambda: f"User {rng.choice(['alice', 'bob', 'carol', 'dave'])} failed login "
                f"from 10.0.{rng.integers(0, 9)}.{rng.integers(1, 254)}",
    ]
    t0 = pd.Timestamp("2026-01-01T10:00:00Z")
    return schema.conform(pd.DataFrame({
        "timestamp": [t0 + pd.Timedelta(milliseconds=int(m))
                      for m in np.sort(rng.integers(0, 3_600_000, n))],
        "level": "error",
        "message": [shapes[k]() for k in rng.integers(0, len(shapes), n)],
        "status_code": rng.choice([500, 502, 504], n),
        "route": rng.choice(["/api/a", "/api/b", "/api/c"], n),
        "deployment_id": rng.choice(["dpl_1", "dpl_2"], n),
    }))


def _client_state(events: pd.DataFrame) -> tuple[StreamingGrouper, pattern_partials.PatternPartial]:
    """The engine's two pattern passes over ``events`` (registered with a ``_seq`` column)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("v", events.assign(_seq=np.arange(len(events), dtype="int64")))
        grouper = reduce.fit_patterns([reduce.observe_patterns(con, "v")])
        return grouper, reduce.assign_patterns(con, "v", grouper)
    finally:
        con.close()


def test_client_state_is_bounded_by_shapes_not_lines(monkeypatch):
    monkeypatch.setattr(reduce, "PATTERN_BATCH_ROWS", 1_000)
    lines = _error_lines(2_000, seed=1)
    tenfold = pd.concat([lines] * 10, ignore_index=True)  # the same lines, 10× over
    small_grouper, small = _client_state(lines)
    big_grouper, big = _client_state(tenfold)
    assert big.lines == 10 * small.lines == 20_000
    assert len(big_grouper.shapes) == len(small_grouper.shapes) < 60
    assert len(big_grouper.miner.templates) == len(small_grouper.miner.templates)
    assert big.size() == small.size() < 200  # per pattern × value, never per line
    small_table = pattern_partials.table(small)
    big_table = pattern_partials.table(big)
    assert len(small_table) >= 4
    assert big_table["count"].tolist() == [10 * c for c in small_table["count"]]
    assert big_table["pattern_id"].tolist() == small_table["pattern_id"].tolist()
    assert_same_table(small_table, patterns(lines))
